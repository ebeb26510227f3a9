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
 * A complete answer is handed over *tentatively* as soon as its words are known (a streaming engine's partial
 * at the end of a segment, or the segment's final), before its silence has run out: the dialog and TTS prepare
 * the reply while playout holds it. When the silence runs out (and the final agrees) `turn-confirmed` lets it
 * play; if the caller goes on, or the final says otherwise, an `interruption` (`turn-withdrawn`) drops it
 * unheard, and the words stay in the turn. The question the tentative reply asks is held here until then.
 *
 * In `fixed` mode the VAD's own end of speech (640 ms by default) ends the turn and frames pass through.
 */
import type { Config } from '../config/index.js';
import type { AnswerExpectation } from '../dialog/types.js';
import type { Direction, ExpectationFrame, Frame, TranscriptFrame } from './frames.js';
import { Stage } from './pipeline.js';

export type EndpointingConfig = Config['endpointing'];

export interface EndpointingStageOptions {
  config: EndpointingConfig;
  /** The fixed rule: the silence that ends a turn with no usable words (the VAD's end-of-speech silence). */
  defaultSilenceMs: number;
  now?: () => number;
  /** Called as each turn is handed to the dialog, with what decided it (metrics and tests). */
  onTurnReleased?(decision: TurnDecision): void;
  /** Called when a tentative turn's prepared reply is dropped because the caller went on. */
  onTurnWithdrawn?(): void;
}

export interface TurnDecision {
  /** What the words amounted to when the turn was released. */
  verdict: 'complete' | 'incomplete' | 'free-text' | 'no-answer' | 'max-turn' | 'flushed';
  /** Number of speech segments merged into the turn. */
  segments: number;
  /** The reply was prepared on a tentative hand-over and confirmed here. */
  prepared?: boolean;
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
  /** The streaming engine's latest partial for the segment whose final is still due. */
  private partial = '';
  /** Caller is mid-segment (speech-start seen, speech-end not yet). */
  private speaking = false;
  /** Segments ended whose final has not arrived. */
  private finalsDue = 0;
  /** Finals still to come for segments of a turn already handed over on their partials: they are dropped. */
  private finalsToDrop = 0;
  /** When the caller's last word ended (the VAD's estimate). */
  private lastSpeechAt = 0;
  /** When the current turn's first segment began. */
  private turnStartedAt: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** The words handed to the dialog tentatively, whose reply is prepared and held. */
  private tentative: string | null = null;
  /** The question the tentative reply asks: published on confirmation, forgotten on withdrawal. */
  private heldExpectation: ExpectationFrame | null = null;

  constructor(private readonly options: EndpointingStageOptions) {
    super();
    this.now = options.now ?? (() => performance.now());
  }

  override process(frame: Frame, direction: Direction): void {
    if (direction === 'up') {
      if (frame.type === 'expectation') {
        if (this.tentative !== null) { this.heldExpectation = frame; return; }
        this.expectation = frame.expectation;
      }
      return this.pass(frame, direction);
    }
    if (this.options.config.mode === 'fixed') return this.pass(frame, direction);
    switch (frame.type) {
      case 'speech-start':
        this.speaking = true;
        this.partial = ''; // partials from here on are this segment's
        this.turnStartedAt ??= frame.onsetAt;
        this.cancelTimer(); // the caller goes on: the words so far are not the whole turn
        this.withdraw();
        return this.pass(frame, direction);
      case 'speech-end':
        this.speaking = false;
        this.finalsDue++;
        this.lastSpeechAt = frame.lastSpeechAt;
        this.pass(frame, direction);
        return this.decide(); // the partial heard so far may already be a complete answer
      case 'transcript':
        if (!frame.isFinal) {
          this.partial = frame.text.trim();
          this.pass(frame, direction);
          if (!this.speaking && this.finalsDue > 0) this.decide(); // a late partial for a closed segment
          return;
        }
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
    if (this.finalsToDrop > 0) { this.finalsToDrop--; return; } // its turn went on its partial
    this.finalsDue = Math.max(0, this.finalsDue - 1);
    this.partial = '';
    const text = frame.text.trim();
    if (text) this.words.push(text);
    this.segments++;
    if (frame.confidence !== undefined) this.confidence = Math.min(this.confidence ?? 1, frame.confidence);
    this.decide();
  }

  /** The turn's words: every final in, and the latest partial standing in for a final still due. */
  private turnText(): string {
    const words = this.finalsDue > 0 && this.partial ? [...this.words, this.partial] : this.words;
    return words.join(' ');
  }

  /**
   * With the caller quiet: release now, or prepare a complete answer's reply and wait for the silence this
   * answer needs. While a final is due only a tentative hand-over is possible (its words are a partial).
   */
  private decide(): void {
    this.cancelTimer();
    if (this.speaking) return;
    const text = this.turnText();
    if (!text && this.segments === 0) return;
    const { verdict, silenceMs } = this.judge(text);
    if (this.tentative !== null && this.tentative !== text) this.withdraw(); // the words changed under it
    if (this.finalsDue > 0) {
      // Only words actually heard in the segment still being transcribed (its partial) can be prepared on.
      if (verdict === 'complete' && this.partial !== '') this.prepare(text);
      return;
    }
    const now = this.now();
    const overCap = this.turnStartedAt !== null && now - this.turnStartedAt >= this.options.config.maxTurnMs;
    const waitMs = overCap ? 0 : silenceMs - (now - this.lastSpeechAt);
    if (waitMs <= 0) return this.release(overCap ? 'max-turn' : verdict);
    if (verdict === 'complete') this.prepare(text);
    this.timer = setTimeout(() => { this.timer = null; this.release(verdict); }, waitMs);
    this.timer.unref?.();
  }

  private judge(text: string): { verdict: TurnDecision['verdict']; silenceMs: number } {
    const config = this.options.config;
    const expectation = this.expectation;
    if (!text || !expectation) return { verdict: 'no-answer', silenceMs: this.options.defaultSilenceMs };
    const state = expectation.assess(text);
    if (state === 'incomplete') return { verdict: 'incomplete', silenceMs: config.incompleteSilenceMs };
    if (expectation.kind === 'free-text') return { verdict: 'free-text', silenceMs: config.freeTextSilenceMs };
    if (state === 'complete') return { verdict: 'complete', silenceMs: config.completeSilenceMs };
    return { verdict: 'no-answer', silenceMs: this.options.defaultSilenceMs };
  }

  /** Hands a complete answer over tentatively: the dialog prepares its reply, playout holds it. */
  private prepare(text: string): void {
    if (this.tentative === text) return;
    this.tentative = text;
    this.links.down(this.turnFrame(text, true));
  }

  /** The caller went on (or the words changed): the prepared reply is dropped before anyone hears it. */
  private withdraw(): void {
    if (this.tentative === null) return;
    this.tentative = null;
    this.heldExpectation = null;
    this.options.onTurnWithdrawn?.();
    this.links.down({ type: 'interruption', at: this.now(), reason: 'turn-withdrawn' });
  }

  /** The turn is over: confirm the tentative hand-over of these words, or hand them over now. */
  private release(verdict: TurnDecision['verdict']): void {
    this.cancelTimer();
    const text = this.turnText();
    if (this.segments === 0 && !text) return;
    if (this.tentative !== null && this.tentative !== text) this.withdraw();
    const prepared = this.tentative !== null;
    const onPartial = this.finalsDue > 0 && this.partial !== '';
    const segments = this.segments + (onPartial ? 1 : 0);
    // Finals still due belong to this turn (it went on their partials): they must not start another.
    if (onPartial) { this.finalsToDrop += this.finalsDue; this.finalsDue = 0; }
    this.words = [];
    this.segments = 0;
    this.partial = '';
    this.turnStartedAt = this.speaking ? this.turnStartedAt : null;
    if (prepared) {
      this.tentative = null;
      this.links.down({ type: 'turn-confirmed', at: this.now() });
      const held = this.heldExpectation;
      this.heldExpectation = null;
      if (held) { this.expectation = held.expectation; this.links.up(held); }
    } else {
      this.links.down(this.turnFrame(text, false));
    }
    this.confidence = undefined;
    this.options.onTurnReleased?.({ verdict, segments, ...(prepared ? { prepared } : {}) });
  }

  /** The dialog's hop starts when the turn is handed over, not when the first segment's words came in. */
  private turnFrame(text: string, tentative: boolean): TranscriptFrame {
    const turn: TranscriptFrame = { type: 'transcript', text, isFinal: true, at: this.now() };
    if (this.confidence !== undefined) turn.confidence = this.confidence;
    if (tentative) turn.tentative = true;
    return turn;
  }

  private cancelTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  override async close(): Promise<void> {
    this.cancelTimer();
  }
}
