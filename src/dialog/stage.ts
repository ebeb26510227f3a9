/**
 * Dialog stage: feeds caller input (final transcripts, keypad digits, silence) to the call's dialog session
 * one input at a time, and streams its actions on: `say` becomes a bot-reply frame for TTS; `transfer` and
 * `hangup` end the call once the caller has heard everything said before them.
 * An interruption aborts the response in progress (its remaining sentences are never said).
 *
 * A key press supersedes what the bot has not yet said: the replies to inputs with a key press queued behind
 * them are never sent to TTS (the dialog still sees every input, so digit entries stay whole), and a key
 * pressed while a reply is on its way but not yet audible cancels that reply (turn-taking does it once audible).
 * So a burst of keys costs one reply, not one per key.
 *
 * A `tentative` final (see pipeline/endpointing) is answered at once, but its reply is held by playout
 * (`playout-hold`) and nothing irreversible happens until `turn-confirmed`; `interruption` with reason
 * `turn-withdrawn` undoes the turn in the session and here, and its reply is never heard.
 */
import type { Direction, EndCallFrame, Frame } from '../pipeline/frames.js';
import { Stage } from '../pipeline/pipeline.js';
import type { DialogInput, DialogSession } from './types.js';

export interface DialogStageOptions {
  callerNumber?: string;
  /** Caller silence after the bot finished speaking before a `no-input` reprompt. */
  noInputMs: number;
  /** "ASR final -> dialog reply" hop, in ms (from the caller input's arrival to the first reply). */
  onReplyLatency?(ms: number): void;
  /** A final transcript the dialog acted on (for the call's encrypted record; never log it). */
  onCallerUtterance?(text: string): void;
  now?: () => number;
}

/** Longest wait for a farewell to finish playing before the call is ended anyway. */
const END_CALL_SAFETY_MS = 20_000;

/** A turn answered tentatively: settled true on confirmation, false on withdrawal. */
class TentativeTurn {
  settle!: (confirmed: boolean) => void;
  readonly settled = new Promise<boolean>((resolve) => { this.settle = resolve; });
  withdrawn = false;
  constructor(
    readonly text: string,
    readonly input: QueuedInput,
    /** This stage's own state before the turn, put back on withdrawal. */
    readonly before: { publishedQuestion: number | undefined; pendingEnd: EndCallFrame | null; awaitingPlayedTurn: number | null },
  ) {}
}

interface QueuedInput { input: DialogInput; at: number; tentative?: TentativeTurn }

export class DialogStage extends Stage {
  readonly name = 'dialog';
  private readonly queue: QueuedInput[] = [];
  private running = false;
  private current: AbortController | null = null;
  private currentInput: QueuedInput | null = null;
  /** The turn answered tentatively, until endpointing confirms or withdraws it. */
  private tentative: TentativeTurn | null = null;
  private nextTurnId = 1;
  private botSpeaking = false;
  /** Turn whose reply must finish playing before a pending end-call goes out (null: nothing to wait for). */
  private awaitingPlayedTurn: number | null = null;
  private pendingEnd: EndCallFrame | null = null;
  private endSafetyTimer: NodeJS.Timeout | null = null;
  private noInputTimer: NodeJS.Timeout | null = null;
  private heardFinalSinceSpeech = false;
  /** The question last published upstream (see `publishExpectation`). */
  private publishedQuestion: number | undefined;
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly session: DialogSession, private readonly options: DialogStageOptions) {
    super();
    this.now = options.now ?? (() => performance.now());
  }

  /** Begins the conversation (the greeting). */
  start(): void {
    this.enqueue({ type: 'call-start', callerNumber: this.options.callerNumber }, this.now());
  }

  override process(frame: Frame, direction: Direction): void {
    if (direction === 'up') {
      this.onUpstream(frame);
      return this.pass(frame, direction);
    }
    switch (frame.type) {
      case 'transcript':
        if (!frame.isFinal) return; // partials stop here; the dialog acts on finals only
        // A streaming recognizer may answer one turn with a final of its own and then an empty one.
        if (frame.text.trim() === '' && this.heardFinalSinceSpeech) return;
        this.heardFinalSinceSpeech = true;
        if (frame.tentative) return this.takeTentative(frame.text, frame.at);
        if (frame.text.trim()) this.options.onCallerUtterance?.(frame.text);
        return this.enqueue({ type: 'utterance', text: frame.text }, frame.at);
      case 'turn-confirmed':
        this.confirmTentative();
        return this.pass(frame, direction);
      case 'dtmf':
        if (!this.botSpeaking && this.awaitingPlayedTurn !== null && !this.pendingEnd && !this.closed) {
          this.awaitingPlayedTurn = null;
          this.links.down({ type: 'interruption', at: frame.at, reason: 'dialog' });
        }
        return this.enqueue({ type: 'dtmf', digit: frame.digit }, frame.at);
      case 'speech-unavailable':
        return this.enqueue({ type: 'speech-unavailable', reason: frame.reason }, frame.at);
      case 'speech-start':
        this.heardFinalSinceSpeech = false;
        this.cancelNoInput();
        return this.pass(frame, direction);
      case 'speech-end':
        this.cancelNoInput();
        return; // the transcript that follows is what the dialog needs
      case 'interruption':
        if (frame.reason === 'turn-withdrawn') this.withdrawTentative();
        else {
          this.current?.abort();
          this.awaitingPlayedTurn = null;
        }
        return this.pass(frame, direction);
      default:
        return this.pass(frame, direction);
    }
  }

  private onUpstream(frame: Frame): void {
    if (frame.type === 'bot-speaking') {
      this.botSpeaking = frame.speaking;
      if (frame.speaking) this.cancelNoInput();
      else this.onBotQuiet();
    } else if (frame.type === 'sentence-played') {
      if (frame.truncated) this.enqueue({ type: 'interrupted', heardText: frame.heardText }, frame.at);
      else if (frame.lastInReply && frame.turnId === this.awaitingPlayedTurn) {
        this.awaitingPlayedTurn = null;
        if (this.pendingEnd && !this.running) this.endCall();
      }
    }
  }

  private onBotQuiet(): void {
    if (this.pendingEnd && !this.running && this.awaitingPlayedTurn === null) return this.endCall();
    this.armNoInput();
  }

  /** Answers a turn the caller may still add to: playout holds the reply until it is confirmed. */
  private takeTentative(text: string, at: number): void {
    this.withdrawTentative(); // endpointing withdraws before it hands over new words; never keep two
    const before = { publishedQuestion: this.publishedQuestion, pendingEnd: this.pendingEnd, awaitingPlayedTurn: this.awaitingPlayedTurn };
    const turn = new TentativeTurn(text, { input: { type: 'utterance', text }, at }, before);
    turn.input.tentative = turn;
    this.tentative = turn;
    if (!this.session.undoesTentativeTurns) return; // answered once confirmed
    this.links.down({ type: 'playout-hold', fromTurnId: this.nextTurnId, at: this.now() });
    this.enqueueInput(turn.input);
  }

  private confirmTentative(): void {
    const turn = this.tentative;
    if (!turn) return;
    this.tentative = null;
    turn.settle(true);
    if (turn.text.trim()) this.options.onCallerUtterance?.(turn.text);
    if (!this.session.undoesTentativeTurns) this.enqueueInput({ input: turn.input.input, at: turn.input.at });
  }

  /** The caller went on: the turn never happened (the session undoes it once its work has run). */
  private withdrawTentative(): void {
    const turn = this.tentative;
    if (!turn) return;
    this.tentative = null;
    turn.withdrawn = true;
    turn.settle(false);
    const queued = this.queue.indexOf(turn.input);
    if (queued >= 0) this.queue.splice(queued, 1);
    if (this.currentInput === turn.input) this.current?.abort();
    this.publishedQuestion = turn.before.publishedQuestion;
    this.pendingEnd = turn.before.pendingEnd;
    this.awaitingPlayedTurn = turn.before.awaitingPlayedTurn;
    if (!this.pendingEnd && this.endSafetyTimer) { clearTimeout(this.endSafetyTimer); this.endSafetyTimer = null; }
  }

  private enqueue(input: DialogInput, at: number): void {
    this.enqueueInput({ input, at });
  }

  private enqueueInput(queued: QueuedInput): void {
    // After a transfer/hangup decision only an interruption report may still matter; the call is ending.
    if (this.closed || this.pendingEnd) return;
    this.cancelNoInput();
    this.queue.push(queued);
    if (!this.running) void this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0 && !this.closed) {
      const next = this.queue.shift()!;
      await this.respond(next);
    }
    this.running = false;
    if (this.pendingEnd) this.endWhenHeard();
    else this.armNoInput();
  }

  /** Ends the call once its last reply has played; a safety timer covers a reply that never plays. */
  private endWhenHeard(): void {
    if (this.awaitingPlayedTurn === null && !this.botSpeaking) return this.endCall();
    this.endSafetyTimer ??= setTimeout(() => this.endCall(), END_CALL_SAFETY_MS);
  }

  private async respond(queued: QueuedInput): Promise<void> {
    const { input, at, tentative } = queued;
    const controller = new AbortController();
    this.current = controller;
    this.currentInput = queued;
    let replied = false;
    try {
      for await (const action of this.session.respond(input, controller.signal, tentative?.settled)) {
        if (controller.signal.aborted || this.closed) break;
        if (action.type === 'say') {
          if (this.supersededByKey()) continue;
          if (!replied && (input.type === 'utterance' || input.type === 'dtmf')) this.options.onReplyLatency?.(this.now() - at);
          replied = true;
          // One id per reply, not per input: TTS marks the last sentence of each reply, and a shared id would
          // let the first of two replies release an end-call while the second is still playing.
          const turnId = this.nextTurnId++;
          this.awaitingPlayedTurn = turnId;
          this.links.down({ type: 'bot-reply', text: action.text, turnId, at: this.now(), cacheable: action.cacheable });
        } else {
          this.pendingEnd = { type: 'end-call', reason: action.type === 'transfer' ? 'transfer' : 'completed', at: this.now() };
          break;
        }
      }
    } catch (err) {
      // A failing policy must not leave the caller in silence.
      this.links.error(err);
      if (!controller.signal.aborted && !this.closed) {
        const turnId = this.nextTurnId++;
        this.awaitingPlayedTurn = turnId; // the caller hears the apology before the transfer
        this.links.down({
          type: 'bot-reply', turnId, at: this.now(), cacheable: true,
          text: "Sorry, something went wrong on our side. Let me connect you with the front desk.",
        });
        this.pendingEnd = { type: 'end-call', reason: 'transfer', at: this.now() };
      }
    } finally {
      if (this.current === controller) { this.current = null; this.currentInput = null; }
      // A withdrawn turn's question was never asked (the session puts the old one back).
      if (!tentative?.withdrawn) this.publishExpectation();
    }
  }

  /** After each turn: a new question goes upstream, so turn-taking judges the next answer against it. */
  private publishExpectation(): void {
    const expectation = this.closed || this.pendingEnd ? undefined : this.session.expectation?.();
    if (!expectation || expectation.question === this.publishedQuestion) return;
    this.publishedQuestion = expectation.question;
    this.links.up({ type: 'expectation', expectation, at: this.now() });
  }

  /** A key press is queued behind the input being answered: its reply would be cut off at once. */
  private supersededByKey(): boolean {
    return this.queue.some((queued) => queued.input.type === 'dtmf');
  }

  private armNoInput(): void {
    if (this.closed || this.running || this.botSpeaking || this.pendingEnd || this.queue.length > 0) return;
    this.cancelNoInput();
    this.noInputTimer = setTimeout(() => {
      this.noInputTimer = null;
      this.enqueue({ type: 'no-input' }, this.now());
    }, this.options.noInputMs);
  }

  private cancelNoInput(): void {
    if (this.noInputTimer) clearTimeout(this.noInputTimer);
    this.noInputTimer = null;
  }

  private endCall(): void {
    const end = this.pendingEnd;
    if (!end || this.closed) return;
    this.closed = true;
    this.cancelNoInput();
    if (this.endSafetyTimer) clearTimeout(this.endSafetyTimer);
    this.links.up(end);
  }

  override async close(): Promise<void> {
    this.closed = true;
    this.tentative?.settle(false);
    this.cancelNoInput();
    if (this.endSafetyTimer) clearTimeout(this.endSafetyTimer);
    this.current?.abort();
    this.session.close();
  }
}
