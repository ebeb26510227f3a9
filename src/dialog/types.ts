/**
 * Dialog policy plugin interface: decides what the bot says next. It sees text and keypad input only, never
 * audio. `respond` streams actions so a reply can start (or a filler be said) before slow work finishes.
 */

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
  respond(input: DialogInput, signal: AbortSignal): AsyncIterable<DialogAction>;
  close(): void;
}

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
