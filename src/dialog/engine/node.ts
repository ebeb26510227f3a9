/**
 * What a flow is made of. A node is one question: its prompts, what it expects, one reader for speech and one
 * for keys that both produce the same typed answer, and one transition on that answer. The engine
 * (./session.ts) does everything around the question: emergencies and global commands first, escalation,
 * history, the keypad entry buffer, the EMR time box, the language model.
 */
import type { Logger } from '../../log.js';
import type { EmrError, EmrGateway, Patient } from '../../emr/types.js';
import type { ClinicConfig } from '../clinic.js';
import type { Expectation } from '../expectations.js';
import type { GlobalCommand, Intent } from '../nlu.js';
import type { PromptKey } from '../prompts.js';
import type { CallState } from './call-state.js';

export type NodeId =
  | 'main' | 'anything-else' | 'clarify' | 'emergency-offer' | 'emr-fallback' | 'offer-book'
  | 'id-dob' | 'id-name' | 'id-phone'
  | 'book-type' | 'book-provider' | 'book-when' | 'book-date' | 'book-offers' | 'book-confirm'
  | 'pick-appointment' | 'cancel-confirm'
  | 'refill-med' | 'refill-pharmacy' | 'refill-confirm'
  | 'message-body' | 'message-confirm'
  | 'ended';

/** One sentence to say; `cacheable` when it is the same on every call (TTS may render it once). */
export interface Said { text: string; cacheable: boolean }

export type EmrResult<T> = { ok: true; value: T } | { ok: false; code: EmrError['code'] };

/** The common yes/no answer, read the same way by speech ("yeah") and keys (1 yes, 2 no). */
export type YesNo = 'yes' | 'no';

/**
 * How a node reads the keypad: one key acts at once, or an entry collects digits until it is complete, the
 * caller presses pound, or pauses. `opensOn`: the keys that start an entry (others keep their menu meaning).
 */
export type KeyReader<Answer> =
  | { kind: 'key'; read(digit: number, dialog: Dialog): Answer | undefined }
  | {
    kind: 'entry';
    complete(digits: string): boolean;
    read(digits: string, dialog: Dialog): Answer | undefined;
    opensOn?(digit: string): boolean;
  };

export interface NodeSpec<Answer> {
  readonly id: Exclude<NodeId, 'ended'>;
  /** What the caller's reply should be (turn-taking holds the turn open while it is incomplete). */
  expects(dialog: Dialog): Expectation;
  speechPrompt(dialog: Dialog): Said[];
  keypadPrompt(dialog: Dialog): Said[];
  /** A shorter version for the first "say that again" (default: the speech prompt). */
  reprompt?(dialog: Dialog): Said[];
  /** Said instead of the generic "Sorry, I did not get that" plus prompt on the first miss. */
  notUnderstood?: PromptKey;
  /** Pure: what the (normalized) words mean as an answer to this question, or undefined. */
  hear(text: string, dialog: Dialog): Answer | undefined;
  keys?: KeyReader<Answer>;
  /** The one transition on an answer, however it was given. */
  next(answer: Answer, dialog: Dialog): Promise<void> | void;
  /** Silence here is answered by this instead of the escalation (the emergency offer connects the caller). */
  onSilence?(dialog: Dialog): Promise<void> | void;
  /** Free text: only short utterances are read as global commands, so a message may say "someone". */
  freeText?: boolean;
  /** The language model may help where the rules do not understand (never in confirmations or identification). */
  assist?: boolean;
  /** Once passed, "go back" never returns here (the emergency offer; identification once the caller is verified). */
  leftBehind?(dialog: Dialog): boolean;
}

/** A node with its answer type erased, as the engine holds it. */
export interface AnyNode extends Omit<NodeSpec<unknown>, 'next' | 'hear' | 'keys'> {
  hear(text: string, dialog: Dialog): unknown;
  keys?: KeyReader<unknown>;
  next(answer: unknown, dialog: Dialog): Promise<void> | void;
}

/** Declares a node; the answer type ties its readers to its transition. */
export function defineNode<Answer>(spec: NodeSpec<Answer>): AnyNode {
  return spec as unknown as AnyNode;
}

export type Task = 'book' | 'list' | 'reschedule' | 'cancel' | 'refill' | 'message';

/** What a flow may do with the call: the engine's side of a node's transition. */
export interface Dialog {
  readonly callId: string;
  readonly clinic: ClinicConfig;
  readonly emr: EmrGateway;
  readonly call: CallState;
  readonly keypadMode: boolean;
  readonly log: Logger | undefined;
  readonly node: NodeId;
  now(): Date;
  /** Today in the clinic's time zone (YYYY-MM-DD). */
  today(): string;
  /** A prompt by key; filled only from the clinic config, it is cacheable. */
  p(key: PromptKey, values?: Record<string, string>): Said;
  say(said: Said | string): void;
  /**
   * Moves on to a node and asks its question (a fresh question starts the failure count again); `instead`:
   * say this rather than the node's own prompt ("Sure. What can I help you with?").
   */
  goto(node: Exclude<NodeId, 'ended'>, instead?: Said[]): void;
  /** Says these as the question now on the table (repeat says them again). */
  ask(said: Said[]): void;
  /** After a completed task: "go back" starts from here. */
  forgetHistory(): void;
  noMatch(): void;
  /** A global command (repeat, help, go back, start over, operator), however it was asked for. */
  command(command: GlobalCommand): void;
  transfer(reason: string, promptKey?: 'transfer' | 'transferAfterTrouble'): void;
  hangup(): void;
  /** An EMR request in the time box, with a filler when it is slow; never throws. */
  emrCall<T>(request: () => Promise<T>, filler?: PromptKey): Promise<EmrResult<T>>;
  /** Waits for something already running (the caller-ID prefetch), with the same filler. */
  awaitWithFiller<T>(pending: Promise<T>, filler?: PromptKey): Promise<T>;
  /** The honest message and the fallback after an EMR failure. */
  emrFailed(): void;
  /** Starts what an intent asks for (menu, "anything else", the emergency offer, the language model). */
  startIntent(intent: Intent, text: string, fromKeypad?: boolean): Promise<void>;
  /** Carries the current task on from wherever it stands. */
  continueTask(): Promise<void>;
  /** Runs `then` with a verified patient: at once if the caller is verified, else after identification. */
  withPatient(then: (patient: Patient) => Promise<void>): Promise<void>;
  /** Closes the dialog (the call is being transferred or hung up). */
  end(): void;
}
