/**
 * Speech-to-text plugin interface. One engine per server (it may hold a loaded model shared by all calls);
 * one stream per call. Audio is 16-bit PCM mono at 8000 Hz; engines that need another rate resample inside.
 */

export type AsrEvent =
  /**
   * `endpoint`: the engine's own endpointer judged the caller's phrase complete (sherpa's trailing-silence
   * rules). Informational: the pipeline may end the turn early; the one `final` still answers `endUtterance`.
   * `startMs`/`endMs`: position in the stream's audio since its last `reset`.
   */
  | { type: 'partial'; text: string; startMs?: number; endMs?: number; endpoint?: boolean }
  | { type: 'final'; text: string; startMs?: number; endMs?: number; confidence?: number }
  | { type: 'error'; error: Error };

export interface AsrStream {
  /** Caller audio as it arrives (every frame, speech or not: streaming engines endpoint on their own too). */
  pushAudio(samples: Int16Array): void;
  /**
   * The VAD ended the caller's turn. `utterance` is the VAD-cut audio (with pre-roll) for engines that
   * transcribe per utterance. The stream must answer with exactly one `final` (text may be "") or an `error`.
   */
  endUtterance(utterance: Int16Array): void;
  /** Forget everything heard so far (new turn or barge-in cancel); a pending final is dropped. */
  reset(): void;
  close(): void;
}

export interface AsrEngine {
  readonly name: string;
  /** False when this engine cannot transcribe (no engine or no model): callers are offered the keypad. */
  readonly available: boolean;
  /** Why `available` is false, for /health and the log. */
  readonly unavailableReason?: string;
  createStream(sink: (event: AsrEvent) => void): AsrStream;
  close(): Promise<void>;
}

export class AsrError extends Error {
  constructor(readonly engine: string, message: string, options?: { cause?: unknown }) {
    super(`${engine}: ${message}`, options);
    this.name = 'AsrError';
  }
}
