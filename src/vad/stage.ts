/**
 * The VAD pipeline stage. Caller audio passes through untouched and at once; a copy is cut into model windows
 * (256 samples at 8 kHz), each handed to this call's VAD stream as soon as it is complete (a burst of audio
 * hands over several at once, scored together), and decided on in order as their scores come back. Each window yields
 * a `vad-activity` frame; the segmenter's decisions yield `speech-start` and `speech-end` (with the utterance
 * audio: pre-roll before the onset through the last speech plus a short tail).
 *
 * Times: a window's time is the arrival time (`at`) of the caller-audio frame that completed it, less the
 * duration of that frame's samples after the window's end, i.e. when the window's last sample arrived.
 */
import type { Config } from '../config/index.js';
import type { CallerAudioFrame, Direction, Frame } from '../pipeline/frames.js';
import { PIPELINE_SAMPLE_RATE } from '../pipeline/frames.js';
import { Stage } from '../pipeline/pipeline.js';
import { SpeechSegmenter, type SegmentEvent } from './segmenter.js';
import type { VadModel, VadStream } from './types.js';

/** The model failed on one window; the window was counted as silence and the call went on. */
export class VadInferenceError extends Error {
  constructor(readonly consecutiveFailures: number, options?: { cause?: unknown }) {
    const cause = options?.cause instanceof Error ? options.cause.message : String(options?.cause);
    super(`VAD inference failed (${consecutiveFailures} window(s) in a row, counted as silence): ${cause}`, options);
    this.name = 'VadInferenceError';
  }
}

export interface VadStageOptions {
  /** Shared model; the stage creates (and owns) one 8 kHz stream on it. */
  model: VadModel;
  config: Config['vad'];
  /** Inside speech, a window counts as silence only below this. Default threshold - 0.15. */
  negThreshold?: number;
  /** Audio kept after the last speech window in `speech-end.audio`. Default 64 ms. */
  tailMs?: number;
  /** Longest utterance audio kept; older audio is dropped from the front. Default 60 s. */
  maxUtteranceMs?: number;
  /** Per window: ms from the arrival of the frame that completed it to its decision. */
  onDecisionLatency?(ms: number): void;
  /** Monotonic clock for decision times (`at` of emitted frames). Default performance.now. */
  now?(): number;
}

interface PendingWindow {
  probability: Promise<number>;
  levelDb: number;
  /** When the window's last sample arrived (mapped time, see the header comment). */
  endAt: number;
  /** `at` of the frame that completed the window. */
  frameAt: number;
}

/** Consecutive failures reported: the first, then one in every this many, so a dead model cannot flood logs. */
const FAILURE_REPORT_EVERY = 100;

export class VadStage extends Stage {
  readonly name = 'vad';
  private readonly stream: VadStream;
  private readonly segmenter: SpeechSegmenter;
  private readonly windowSamples: number;
  private readonly windowMs: number;
  private readonly preRollSamples: number;
  private readonly tailSamples: number;
  private readonly now: () => number;
  private readonly onDecisionLatency: ((ms: number) => void) | undefined;

  /** The window being filled from incoming frames. */
  private readonly partial: Int16Array;
  private partialLength = 0;
  private readonly queue: PendingWindow[] = [];
  /** Float copy of the window being handed over (the stream copies it before probability() returns). */
  private readonly floatWindow: Float32Array;
  private readonly history: SampleHistory;
  /** Windows scored so far (window i covers samples [i*windowSamples, (i+1)*windowSamples)). */
  private windowsDone = 0;
  private draining: Promise<void> | null = null;
  private consecutiveFailures = 0;
  private onsetWindow = 0;
  private closed = false;

  constructor(options: VadStageOptions) {
    super();
    this.stream = options.model.createStream(PIPELINE_SAMPLE_RATE);
    this.windowSamples = this.stream.windowSamples;
    this.windowMs = (this.windowSamples * 1000) / PIPELINE_SAMPLE_RATE;
    this.segmenter = new SpeechSegmenter({
      threshold: options.config.threshold,
      ...(options.negThreshold !== undefined ? { negThreshold: options.negThreshold } : {}),
      minSpeechMs: options.config.minSpeechMs,
      endSilenceMs: options.config.endSilenceMs,
      windowMs: this.windowMs,
      endHangoverMs: options.model.endHangoverMs ?? 0,
    });
    this.preRollSamples = msToSamples(options.config.preRollMs);
    this.tailSamples = msToSamples(options.tailMs ?? 64);
    this.history = new SampleHistory(msToSamples(options.maxUtteranceMs ?? 60_000));
    this.partial = new Int16Array(this.windowSamples);
    this.floatWindow = new Float32Array(this.windowSamples);
    this.now = options.now ?? (() => performance.now());
    this.onDecisionLatency = options.onDecisionLatency;
  }

  override process(frame: Frame, direction: Direction): void {
    this.pass(frame, direction);
    if (direction === 'down' && frame.type === 'caller-audio' && !this.closed) this.accept(frame);
  }

  /** Resolves when every window received so far has been scored (tests, orderly shutdown). */
  whenIdle(): Promise<void> {
    return this.draining ?? Promise.resolve();
  }

  override async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    await this.whenIdle();
    this.stream.reset();
    this.segmenter.reset();
  }

  private accept(frame: CallerAudioFrame): void {
    const samples = frame.samples;
    this.history.append(samples);
    let offset = 0;
    while (offset < samples.length) {
      const take = Math.min(this.windowSamples - this.partialLength, samples.length - offset);
      this.partial.set(samples.subarray(offset, offset + take), this.partialLength);
      this.partialLength += take;
      offset += take;
      if (this.partialLength < this.windowSamples) break;
      const window = this.floatWindow;
      for (let i = 0; i < this.windowSamples; i++) window[i] = this.partial[i]! / 32768;
      this.partialLength = 0;
      const samplesAfterWindow = samples.length - offset;
      const probability = this.stream.probability(window);
      probability.catch(() => undefined); // handled in drain(), which may reach it only later
      this.queue.push({
        probability, levelDb: windowLevelDb(window),
        endAt: frame.at - (samplesAfterWindow * 1000) / PIPELINE_SAMPLE_RATE, frameAt: frame.at,
      });
    }
    if (this.queue.length > 0 && !this.draining) this.draining = this.drain();
  }

  /** Decides on handed-over windows in order as their scores arrive; never drops one. */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.closed) {
        const window = this.queue.shift()!;
        let probability = 0;
        try {
          probability = await window.probability;
          this.consecutiveFailures = 0;
        } catch (err) {
          this.consecutiveFailures++;
          if (this.consecutiveFailures === 1 || this.consecutiveFailures % FAILURE_REPORT_EVERY === 0) {
            this.links.error(new VadInferenceError(this.consecutiveFailures, { cause: err }));
          }
        }
        if (this.closed) break;
        try {
          this.decide(probability, window.levelDb, window);
        } catch (err) {
          this.links.error(err);
        }
      }
    } finally {
      this.draining = null;
    }
  }

  private decide(probability: number, levelDb: number, window: PendingWindow): void {
    const step = this.segmenter.push(probability, window.endAt);
    this.windowsDone++;
    const decidedAt = this.now();
    this.onDecisionLatency?.(decidedAt - window.frameAt);
    this.links.down({ type: 'vad-activity', speech: step.speech, probability, levelDb, windowMs: this.windowMs, at: decidedAt });
    for (const event of step.events) this.emit(event, decidedAt);
    if (!this.segmenter.speaking) {
      // Out of speech only the pre-roll before a possible onset is needed.
      const onsetWindow = this.segmenter.pendingOnsetWindow ?? this.windowsDone;
      this.history.dropBefore(onsetWindow * this.windowSamples - this.preRollSamples);
    }
  }

  private emit(event: SegmentEvent, decidedAt: number): void {
    if (event.kind === 'start') {
      this.onsetWindow = event.onsetWindow;
      this.links.down({ type: 'speech-start', at: decidedAt, onsetAt: event.onsetMs });
      return;
    }
    const from = this.onsetWindow * this.windowSamples - this.preRollSamples;
    const to = (event.lastSpeechWindow + 1) * this.windowSamples + this.tailSamples;
    const audio = this.history.slice(from, to);
    this.links.down({
      type: 'speech-end', at: decidedAt, lastSpeechAt: event.lastSpeechMs, audio,
      durationMs: (audio.length * 1000) / PIPELINE_SAMPLE_RATE,
    });
  }
}

function msToSamples(ms: number): number {
  return Math.round((ms * PIPELINE_SAMPLE_RATE) / 1000);
}

/** The call's recent audio by absolute sample index, bounded to `maxSamples`. */
class SampleHistory {
  private buffer = new Int16Array(PIPELINE_SAMPLE_RATE * 2);
  /** buffer[head] holds absolute sample `start`; valid data is buffer[head, head + length). */
  private head = 0;
  private length = 0;
  private start = 0;

  constructor(private readonly maxSamples: number) {}

  append(samples: Int16Array): void {
    if (this.head + this.length + samples.length > this.buffer.length) {
      this.buffer.copyWithin(0, this.head, this.head + this.length);
      this.head = 0;
      if (this.length + samples.length > this.buffer.length) {
        const grown = new Int16Array(Math.max(this.buffer.length * 2, this.length + samples.length));
        grown.set(this.buffer.subarray(0, this.length));
        this.buffer = grown;
      }
    }
    this.buffer.set(samples, this.head + this.length);
    this.length += samples.length;
    if (this.length > this.maxSamples) this.dropBefore(this.start + this.length - this.maxSamples);
  }

  /** Forget samples before absolute index `sample`. */
  dropBefore(sample: number): void {
    const drop = Math.min(this.length, sample - this.start);
    if (drop <= 0) return;
    this.head += drop;
    this.length -= drop;
    this.start += drop;
  }

  /** A copy of absolute samples [from, to), clamped to what is held. */
  slice(from: number, to: number): Int16Array {
    const begin = Math.max(from, this.start) - this.start;
    const end = Math.min(to, this.start + this.length) - this.start;
    if (end <= begin) return new Int16Array(0);
    return this.buffer.slice(this.head + begin, this.head + end);
  }
}

/** RMS level of a window in dBFS (floored at -100), for turn-taking's energy gate. */
export function windowLevelDb(samples: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]! * samples[i]!;
  const rms = Math.sqrt(sum / Math.max(samples.length, 1));
  return rms > 1e-5 ? 20 * Math.log10(rms) : -100;
}
