/**
 * Turn-taking: decides whether caller speech is a turn, a barge-in, or noise to ignore.
 *
 * While the bot is silent every VAD segment is a caller turn. While the bot is speaking:
 *   - speech sustained for `pauseAfterMs` silences the bot at once (`playout-pause`: a fast, cheap reaction);
 *   - speech sustained for `minSpeechMs` confirms the barge-in (`interruption`: every stage drops the reply,
 *     and the speech becomes the caller's next turn);
 *   - speech that stops before that (a "hmm", a throat clear) resumes the bot where the caller stopped
 *     hearing it (`playout-resume`) and is neither a turn nor an interruption.
 * A cough is not speech to the VAD at all, so it changes nothing. A keypad press always interrupts, except the
 * pound a caller presses out of habit right after a keypad entry that completed by itself (eight digits of a
 * date of birth): that one is dropped here, so the answer the entry earned is heard.
 */
import type { Config } from '../config/index.js';
import type { AnswerExpectation } from '../dialog/types.js';
import type { Direction, Frame, SpeechStartFrame, VadActivityFrame } from './frames.js';
import { Stage } from './pipeline.js';

/**
 * A window counts towards a barge-in only when it is also this much louder than the line's noise floor:
 * Silero keeps saying "speech" for ~130 ms after a sound ends, which would make a short "hmm" look long.
 */
const SPEECH_ABOVE_FLOOR_DB = 10;
/** How fast the floor estimate may rise (0.05 dB per 32 ms window: about 1.5 dB/s). */
const FLOOR_RISE_DB_PER_WINDOW = 0.05;
/** Silence after which a paused bot resumes: longer than the pauses between the words of one phrase. */
const RESUME_AFTER_SILENCE_MS = 320;
/** Silence inside a speech run shorter than this does not restart the run (one or two 32 ms windows). */
const MAX_GAP_IN_RUN_MS = 64;

export class TurnTakingStage extends Stage {
  readonly name = 'turn-taking';
  private botSpeaking = false;
  /** Open VAD segment: a turn, or (while the bot speaks) a candidate held back until it proves to be speech. */
  private segment: { isTurn: boolean; heldStart?: SpeechStartFrame } | null = null;
  private runMs = 0;
  private gapMs = 0;
  private runOnsetAt = 0;
  private paused = false;
  /** The stretch of caller sound since the bot was paused. */
  private episode: { speechMs: number; silenceMs: number; onsetAt: number } | null = null;
  private noiseFloorDb = Number.NEGATIVE_INFINITY;
  /** Barge-in already confirmed for the current stretch of bot speech. */
  private interrupted = false;
  /** The keypad entry the dialog's current question takes, and the digits typed into it so far. */
  private keypadEntry: AnswerExpectation['keypadEntry'];
  private entryDigits = '';
  /** The last key completed an entry by itself: a pound next is the terminator the prompt asked for. */
  private entryJustCompleted = false;

  /**
   * `speechThreshold`: the VAD probability a window needs to count towards a barge-in. Deliberately the
   * plain threshold, not the VAD's hysteresis (which keeps weak trailing windows "in speech" for turns).
   */
  constructor(private readonly bargeIn: Config['bargeIn'], private readonly speechThreshold: number) {
    super();
  }

  override process(frame: Frame, direction: Direction): void {
    if (direction === 'up') {
      if (frame.type === 'expectation') {
        this.keypadEntry = frame.expectation.keypadEntry;
        this.entryDigits = '';
      }
      if (frame.type === 'bot-speaking') {
        this.botSpeaking = frame.speaking;
        if (frame.speaking) this.interrupted = false;
        else { this.paused = false; this.episode = null; }
      }
      this.pass(frame, direction);
      // Speech begun over the end of a prompt is the caller answering: with the bot quiet it is a turn.
      if (frame.type === 'bot-speaking' && !frame.speaking) this.releaseHeldStart();
      return;
    }
    switch (frame.type) {
      case 'vad-activity':
        return this.onActivity(frame); // consumed: no later stage needs per-window verdicts
      case 'speech-start':
        this.entryJustCompleted = false;
        if (this.botSpeaking && this.bargeIn.enabled && !this.interrupted) {
          this.segment = { isTurn: false, heldStart: frame };
          return;
        }
        this.segment = { isTurn: true };
        return this.pass(frame, direction);
      case 'speech-end': {
        const wasTurn = this.segment?.isTurn ?? false;
        this.segment = null;
        if (wasTurn) this.pass(frame, direction);
        return; // a sound heard over the bot: neither a turn nor an interruption
      }
      case 'dtmf':
        if (this.isSpentTerminator(frame.digit)) return;
        if (this.botSpeaking && !this.interrupted) {
          this.interrupt(frame.at, 'dtmf');
          // A sound held over the bot when a key is pressed is likely the key's tone: never a turn.
          if (this.segment && !this.segment.isTurn) this.segment.heldStart = undefined;
        }
        return this.pass(frame, direction);
      default:
        return this.pass(frame, direction);
    }
  }

  private onActivity(frame: VadActivityFrame): void {
    this.trackNoiseFloor(frame.levelDb);
    const speech = frame.probability >= this.speechThreshold && frame.levelDb >= this.noiseFloorDb + SPEECH_ABOVE_FLOOR_DB;
    this.trackRun(speech, frame);
    if (!this.botSpeaking || !this.bargeIn.enabled || this.interrupted) return;
    if (this.paused) return this.judgePausedEpisode(speech, frame);
    if (this.runMs >= this.bargeIn.pauseAfterMs) {
      this.paused = true;
      this.episode = { speechMs: this.runMs, silenceMs: 0, onsetAt: this.runOnsetAt };
      this.pass({ type: 'playout-pause', at: frame.at, speechOnsetAt: this.runOnsetAt }, 'down');
      this.judgePausedEpisode(null, frame);
    }
  }

  /** Continuous speech (brief gaps tolerated) decides when to silence the bot. */
  private trackRun(speech: boolean, frame: VadActivityFrame): void {
    if (speech) {
      if (this.runMs === 0) this.runOnsetAt = frame.at - frame.windowMs;
      this.runMs += frame.windowMs + this.gapMs;
      this.gapMs = 0;
    } else if (this.runMs > 0) {
      this.gapMs += frame.windowMs;
      if (this.gapMs > MAX_GAP_IN_RUN_MS) { this.runMs = 0; this.gapMs = 0; }
    }
  }

  /**
   * While paused, speech adds up across the pauses between words: enough of it confirms the barge-in; a
   * long enough silence means it was a backchannel or a noise, and the bot carries on.
   * `speech` null: only re-check the totals (the episode has just begun).
   */
  private judgePausedEpisode(speech: boolean | null, frame: VadActivityFrame): void {
    const episode = this.episode!;
    if (speech === true) { episode.speechMs += frame.windowMs; episode.silenceMs = 0; }
    if (speech === false) episode.silenceMs += frame.windowMs;
    if (episode.speechMs >= this.bargeIn.minSpeechMs) {
      this.interrupt(frame.at, 'barge-in', episode.onsetAt);
      // The interrupting speech is the caller's next turn: release its held start.
      this.releaseHeldStart();
    } else if (episode.silenceMs >= RESUME_AFTER_SILENCE_MS) {
      this.paused = false;
      this.episode = null;
      this.pass({ type: 'playout-resume', at: frame.at }, 'down');
    }
  }

  /** Makes the open candidate segment a turn, passing on the speech-start held back for it. */
  private releaseHeldStart(): void {
    const held = this.segment?.heldStart;
    if (!this.segment || this.segment.isTurn || !held) return;
    this.segment = { isTurn: true };
    this.pass(held, 'down');
  }

  /** Follows the keypad entry; true for the pound right after an entry completed by itself (dropped). */
  private isSpentTerminator(digit: string): boolean {
    const spent = digit === '#' && this.entryJustCompleted;
    this.entryJustCompleted = false;
    if (spent) return true;
    const entry = this.keypadEntry;
    if (!entry || digit === '#' || digit === '*' || (this.entryDigits === '' && !entry.opensOn(digit))) {
      this.entryDigits = '';
      return false;
    }
    this.entryDigits += digit;
    if (entry.complete(this.entryDigits)) {
      this.entryDigits = '';
      this.entryJustCompleted = true;
    }
    return false;
  }

  /** Minimum-tracking noise floor: follows quiet windows down at once, creeps up slowly through speech. */
  private trackNoiseFloor(levelDb: number): void {
    if (levelDb < this.noiseFloorDb || this.noiseFloorDb === Number.NEGATIVE_INFINITY) this.noiseFloorDb = levelDb;
    else this.noiseFloorDb += FLOOR_RISE_DB_PER_WINDOW;
  }

  private interrupt(at: number, reason: 'barge-in' | 'dtmf', speechOnsetAt?: number): void {
    this.interrupted = true;
    this.paused = false;
    this.episode = null;
    this.pass({ type: 'interruption', at, reason, speechOnsetAt }, 'down');
  }
}
