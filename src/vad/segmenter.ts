/**
 * Turns per-window speech probabilities into speech segments. Pure and synchronous: no clock, no model; each
 * window arrives with the time its audio ended, so the same code runs on live calls and on test sequences.
 *
 * Hand-written: the npm VAD wrappers bundle this logic with their own model runner and audio I/O, and none
 * gives streaming start/end events with onset and last-speech times.
 *
 * Per window, `speech` is a hysteresis verdict: out of speech a window is speech when p >= threshold; once in
 * speech it stays speech until p < negThreshold. A segment starts after `minSpeechMs` of continuous speech
 * windows and ends after `endSilenceMs` of continuous non-speech windows. Those durations are counted in
 * windows (audio time), not from the arrival times: audio that reaches us in a burst after a network stall is
 * still that much speech or silence. The arrival times only date the events.
 */

export interface SegmenterOptions {
  /** Probability at or above which a window counts as speech. */
  threshold: number;
  /** Inside speech, a window counts as silence only below this. Default: threshold - 0.15 (at least 0.01). */
  negThreshold?: number;
  /** Continuous speech needed to declare a start. 0: the first speech window starts a segment. */
  minSpeechMs: number;
  /** Continuous silence that ends a segment. */
  endSilenceMs: number;
  /** Duration of one window (Silero at 8 kHz: 32 ms). */
  windowMs: number;
  /**
   * How long the model keeps reporting speech after speech has stopped (its recurrent state decays over a
   * few windows). `lastSpeechMs` is moved this much earlier, never before the window after the onset. Default 0.
   */
  endHangoverMs?: number;
}

export type SegmentEvent =
  /** `onsetMs`: start of the first window of the run that became the segment; `atMs`: end of the deciding window. */
  | { kind: 'start'; onsetMs: number; atMs: number; onsetWindow: number }
  /**
   * `lastSpeechMs`: end of the last window with p >= threshold, less the hangover. `lastSpeechWindowEndMs` is
   * the same without the hangover correction (where audio must be kept to). `atMs`: end of the deciding window.
   */
  | { kind: 'end'; lastSpeechMs: number; lastSpeechWindowEndMs: number; atMs: number; lastSpeechWindow: number };

export interface SegmenterStep {
  /** This window's hysteresis verdict. */
  speech: boolean;
  /** At most one event per window, as a list for uniform handling. */
  events: SegmentEvent[];
}

export class SegmenterOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SegmenterOptionsError';
  }
}

export class SpeechSegmenter {
  readonly threshold: number;
  readonly negThreshold: number;
  private readonly options: Required<SegmenterOptions>;

  /** Index of the next window pushed. */
  private windowIndex = 0;
  private previousSpeech = false;
  private inSegment = false;
  /** Out of a segment: first window of the current speech run, or -1. */
  private runStartWindow = -1;
  private runStartMs = 0;
  /** In a segment: last window with p >= threshold, and when the current silence run began (-1: none). */
  private lastConfidentWindow = -1;
  private lastConfidentEndMs = 0;
  private segmentOnsetMs = 0;
  /** In a segment: first window of the current silence run, or -1. */
  private silenceStartWindow = -1;

  constructor(options: SegmenterOptions) {
    const negThreshold = options.negThreshold ?? Math.max(options.threshold - 0.15, 0.01);
    if (!(options.threshold > 0 && options.threshold <= 1)) throw new SegmenterOptionsError(`threshold must be in (0, 1], got ${options.threshold}`);
    if (!(negThreshold > 0 && negThreshold <= options.threshold)) {
      throw new SegmenterOptionsError(`negThreshold must be in (0, threshold=${options.threshold}], got ${negThreshold}`);
    }
    if (!(options.windowMs > 0)) throw new SegmenterOptionsError(`windowMs must be > 0, got ${options.windowMs}`);
    if (!(options.minSpeechMs >= 0) || !(options.endSilenceMs >= 0)) {
      throw new SegmenterOptionsError(`minSpeechMs and endSilenceMs must be >= 0, got ${options.minSpeechMs} and ${options.endSilenceMs}`);
    }
    this.threshold = options.threshold;
    this.negThreshold = negThreshold;
    this.options = { ...options, negThreshold, endHangoverMs: options.endHangoverMs ?? 0 };
  }

  get speaking(): boolean {
    return this.inSegment;
  }

  /** Window index at which a segment could still start (the current speech run's first window), or null. */
  get pendingOnsetWindow(): number | null {
    if (this.inSegment) return null;
    return this.runStartWindow >= 0 ? this.runStartWindow : null;
  }

  /** Feed the next window's probability; `endMs` is when the window's audio ended. Windows must be in order. */
  push(probability: number, endMs: number): SegmenterStep {
    const index = this.windowIndex++;
    const p = Number.isFinite(probability) ? probability : 0;
    const speech = p >= this.threshold || (this.previousSpeech && p >= this.negThreshold);
    this.previousSpeech = speech;
    const startMs = endMs - this.options.windowMs;
    const events: SegmentEvent[] = [];

    if (!this.inSegment) {
      if (!speech) {
        this.runStartWindow = -1;
        return { speech, events };
      }
      if (this.runStartWindow < 0) {
        this.runStartWindow = index;
        this.runStartMs = startMs;
      }
      if (p >= this.threshold) this.noteConfident(index, endMs);
      if (this.spanMs(this.runStartWindow, index) >= this.options.minSpeechMs) {
        this.inSegment = true;
        this.segmentOnsetMs = this.runStartMs;
        this.silenceStartWindow = -1;
        events.push({ kind: 'start', onsetMs: this.runStartMs, atMs: endMs, onsetWindow: this.runStartWindow });
        this.runStartWindow = -1;
      }
      return { speech, events };
    }

    if (speech) {
      this.silenceStartWindow = -1;
      if (p >= this.threshold) this.noteConfident(index, endMs);
      return { speech, events };
    }
    if (this.silenceStartWindow < 0) this.silenceStartWindow = index;
    if (this.spanMs(this.silenceStartWindow, index) >= this.options.endSilenceMs) {
      const earliest = this.segmentOnsetMs + this.options.windowMs;
      const lastSpeechMs = Math.max(earliest, this.lastConfidentEndMs - this.options.endHangoverMs);
      events.push({
        kind: 'end', lastSpeechMs, lastSpeechWindowEndMs: this.lastConfidentEndMs, atMs: endMs, lastSpeechWindow: this.lastConfidentWindow,
      });
      this.inSegment = false;
      this.silenceStartWindow = -1;
      this.lastConfidentWindow = -1;
    }
    return { speech, events };
  }

  /** Audio duration of windows first..last inclusive. */
  private spanMs(first: number, last: number): number {
    return (last - first + 1) * this.options.windowMs;
  }

  /** Forget everything (e.g. the stream was reset); window indices restart at 0. */
  reset(): void {
    this.windowIndex = 0;
    this.previousSpeech = false;
    this.inSegment = false;
    this.runStartWindow = -1;
    this.lastConfidentWindow = -1;
    this.silenceStartWindow = -1;
  }

  private noteConfident(index: number, endMs: number): void {
    this.lastConfidentWindow = index;
    this.lastConfidentEndMs = endMs;
  }
}
