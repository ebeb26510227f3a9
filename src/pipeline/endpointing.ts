/**
 * Endpointing: decides when the caller's turn is over, from what the dialog asked (the `expectation` frame)
 * and what the caller has said so far. Sits between ASR and the dialog.
 *
 * In `expectation` mode the VAD closes a speech segment after a short silence (`segmentSilenceMs`) and ASR
 * gives a final per segment. This stage keeps those finals as one turn and releases it to the dialog only
 * once the silence since the caller's last word is long enough for the answer as it stands:
 *   complete (a yes, a full date of birth, ten digits) -> `completeSilenceMs` (short: released at once),
 *   incomplete (a date without its year, "...and")    -> `incompleteSilenceMs`,
 *   free text (a message)                             -> `freeTextSilenceMs` (people pause mid-sentence),
 *   no usable words / no question on the table        -> `defaultSilenceMs` (the fixed rule of `fixed` mode).
 * If the caller speaks again before that, the next segment's words join the same turn: the dialog sees one
 * utterance ("january fifteenth nineteen eighty five"). `maxTurnMs` caps any turn. The VoiceXML
 * completetimeout/incompletetimeout idea, driven by the dialog's own grammar (see dialog/expectations).
 *
 * In `fixed` mode the VAD's own end of speech (640 ms by default) ends the turn and frames pass through.
 */
import type { Config } from '../config/index.js';
import type { AnswerExpectation } from '../dialog/types.js';
import type { Direction, Frame, TranscriptFrame } from './frames.js';
import { Stage } from './pipeline.js';

export type EndpointingConfig = Config['endpointing'];

export interface EndpointingStageOptions {
  config: EndpointingConfig;
  /** The fixed rule: the silence that ends a turn with no usable words (the VAD's end-of-speech silence). */
  defaultSilenceMs: number;
  now?: () => number;
  /** Called as each turn is handed to the dialog, with what decided it (metrics and tests). */
  onTurnReleased?(decision: TurnDecision): void;
}

export interface TurnDecision {
  /** What the words amounted to when the turn was released. */
  verdict: 'complete' | 'incomplete' | 'free-text' | 'no-answer' | 'max-turn' | 'flushed';
  /** Number of speech segments merged into the turn. */
  segments: number;
}

/** The VAD's end-of-segment silence for this configuration: short when endpointing decides, the fixed rule otherwise. */
export function vadSegmentSilenceMs(config: Pick<Config, 'endpointing' | 'vad'>): number {
  return config.endpointing.mode === 'expectation' ? Math.min(config.endpointing.segmentSilenceMs, config.vad.endSilenceMs) : config.vad.endSilenceMs;
}

export class EndpointingStage extends Stage {
  readonly name = 'endpointing';
  private expectation: AnswerExpectation | undefined;
  private readonly now: () => number;
  /** Words of the turn so far, one entry per segment final. */
  private words: string[] = [];
  private segments = 0;
  private confidence: number | undefined;
  /** Caller is mid-segment (speech-start seen, speech-end not yet). */
  private speaking = false;
  /** Segments ended whose final has not arrived. */
  private finalsDue = 0;
  /** When the caller's last word ended (the VAD's estimate). */
  private lastSpeechAt = 0;
  /** When the current turn's first segment began. */
  private turnStartedAt: number | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: EndpointingStageOptions) {
    super();
    this.now = options.now ?? (() => performance.now());
  }

  override process(frame: Frame, direction: Direction): void {
    if (direction === 'up') {
      if (frame.type === 'expectation') this.expectation = frame.expectation;
      return this.pass(frame, direction);
    }
    if (this.options.config.mode === 'fixed') return this.pass(frame, direction);
    switch (frame.type) {
      case 'speech-start':
        this.speaking = true;
        this.turnStartedAt ??= frame.onsetAt;
        this.cancelTimer(); // the caller goes on: the words so far are not the whole turn
        return this.pass(frame, direction);
      case 'speech-end':
        this.speaking = false;
        this.finalsDue++;
        this.lastSpeechAt = frame.lastSpeechAt;
        return this.pass(frame, direction);
      case 'transcript':
        if (!frame.isFinal) return this.pass(frame, direction);
        return this.onFinal(frame);
      case 'speech-unavailable':
        this.finalsDue = Math.max(0, this.finalsDue - 1);
        this.release('flushed');
        return this.pass(frame, direction);
      case 'dtmf':
        // Keys after words: the words were a turn of their own, and come first.
        this.release('flushed');
        return this.pass(frame, direction);
      case 'interruption':
        this.release('flushed');
        return this.pass(frame, direction);
      default:
        return this.pass(frame, direction);
    }
  }

  private onFinal(frame: TranscriptFrame): void {
    this.finalsDue = Math.max(0, this.finalsDue - 1);
    const text = frame.text.trim();
    if (text) this.words.push(text);
    this.segments++;
    if (frame.confidence !== undefined) this.confidence = Math.min(this.confidence ?? 1, frame.confidence);
    this.decide();
  }

  /** With every due final in and the caller quiet: release now, or wait for the silence this answer needs. */
  private decide(): void {
    this.cancelTimer();
    if (this.speaking || this.finalsDue > 0 || this.segments === 0) return;
    const { verdict, silenceMs } = this.judge();
    const now = this.now();
    const overCap = this.turnStartedAt !== null && now - this.turnStartedAt >= this.options.config.maxTurnMs;
    const waitMs = overCap ? 0 : silenceMs - (now - this.lastSpeechAt);
    if (waitMs <= 0) return this.release(overCap ? 'max-turn' : verdict);
    this.timer = setTimeout(() => { this.timer = null; this.release(verdict); }, waitMs);
    this.timer.unref?.();
  }

  private judge(): { verdict: TurnDecision['verdict']; silenceMs: number } {
    const config = this.options.config;
    const text = this.words.join(' ');
    const expectation = this.expectation;
    if (!text || !expectation) return { verdict: 'no-answer', silenceMs: this.options.defaultSilenceMs };
    const state = expectation.assess(text);
    if (state === 'incomplete') return { verdict: 'incomplete', silenceMs: config.incompleteSilenceMs };
    if (expectation.kind === 'free-text') return { verdict: 'free-text', silenceMs: config.freeTextSilenceMs };
    if (state === 'complete') return { verdict: 'complete', silenceMs: config.completeSilenceMs };
    return { verdict: 'no-answer', silenceMs: this.options.defaultSilenceMs };
  }

  private release(verdict: TurnDecision['verdict']): void {
    this.cancelTimer();
    if (this.segments === 0) return;
    // The dialog's hop starts when the turn is handed over, not when the first segment's words came in.
    const turn: TranscriptFrame = { type: 'transcript', text: this.words.join(' '), isFinal: true, at: this.now() };
    if (this.confidence !== undefined) turn.confidence = this.confidence;
    const segments = this.segments;
    this.words = [];
    this.segments = 0;
    this.confidence = undefined;
    this.turnStartedAt = this.speaking ? this.turnStartedAt : null;
    this.options.onTurnReleased?.({ verdict, segments });
    this.links.down(turn);
  }

  private cancelTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  override async close(): Promise<void> {
    this.cancelTimer();
  }
}
