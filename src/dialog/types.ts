/**
 * Dialog policy plugin interface: decides what the bot says next. It sees text and keypad input only, never
 * audio. `respond` streams actions so a reply can start (or a filler be said) before slow work finishes.
 */

import type { AnswerState, Expectation } from './expectations.js';

export type DialogInput =
  | { type: 'call-start'; callerNumber?: string }
  /** A final transcript of the caller's turn (lower case, ASR-style, may be empty). */
  | { type: 'utterance'; text: string }
  | { type: 'dtmf'; digit: string }
  /** The caller said nothing for the configured time after the bot finished speaking. */
  | { type: 'no-input' }
  /** The caller spoke but speech cannot be transcribed (no ASR engine or it failed). */
  | { type: 'speech-unavailable'; reason: string }
  /** The caller cut the bot off; `heardText` is what they heard of the interrupted sentence. */
  | { type: 'interrupted'; heardText: string };

export type DialogAction =
  | { type: 'say'; text: string; cacheable?: boolean }
  | { type: 'transfer'; reason: string }
  | { type: 'hangup'; reason: string };

export interface DialogSession {
  /**
   * `tentative` (only given to sessions that declare `undoesTentativeTurns`): the caller may not be done.
   * It resolves true when the turn is confirmed and false when the caller went on; then the session returns to
   * where it was before this input (its reply is dropped unheard). Until it resolves nothing irreversible may
   * happen: no EMR request.
   */
  respond(input: DialogInput, signal: AbortSignal, tentative?: Promise<boolean>): AsyncIterable<DialogAction>;
  /** The session can prepare a reply to a tentative turn and undo it; others get the turn once confirmed. */
  readonly undoesTentativeTurns?: boolean;
  /**
   * What the question now on the table waits for, read after each turn and published to the rest of the
   * call (turn-taking holds a turn open while the answer is incomplete). Undefined: nothing is being asked.
   */
  expectation?(): AnswerExpectation | undefined;
  close(): void;
}

/**
 * The current question's expectation, as later stages see it. `assess` judges a partial transcript against
 * it (the node's own reader included): complete, incomplete (a date of birth without the year, nine digits of
 * a phone number, a sentence that stops on "and"), or not an answer at all.
 */
export type AnswerExpectation = Expectation & {
  /** The dialog node asking (for logs and metrics; not a contract). */
  node: string;
  /** Bumped each time a question is asked (or asked again): a new number is a new question. */
  question: number;
  assess(partialTranscript: string): AnswerState;
  /** Set when the question takes a keypad entry: when it is complete, and which keys start it. */
  keypadEntry?: { complete(digits: string): boolean; opensOn(digit: string): boolean };
};

export interface DialogContext {
  callId: string;
  callerNumber?: string;
  /** False when the call has no speech recognition: keypad menus from the first prompt. */
  speechAvailable?: boolean;
}

export interface DialogPolicy {
  readonly name: string;
  createSession(context: DialogContext): DialogSession;
}
