/**
 * Shared plumbing for the cloud TTS engines: a stall watchdog and a byte reader over a fetch response body
 * that stops within one chunk when the caller aborts. The SDKs' own timeouts only cover the wait for response
 * headers; a server that stalls mid-stream would otherwise hold a sentence forever.
 */
import { TtsFaultError } from './errors.js';

/**
 * Aborts its signal when no progress was reported for `stallMs`. It only runs while armed, so time the
 * consumer spends with a chunk (e.g. playout backpressure) never counts as a stall.
 */
export class StallWatchdog {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private firedFlag = false;

  constructor(readonly stallMs: number) {}

  get signal(): AbortSignal { return this.controller.signal; }
  get fired(): boolean { return this.firedFlag; }

  arm(): void {
    this.disarm();
    this.timer = setTimeout(() => {
      this.firedFlag = true;
      this.controller.abort(new Error(`no audio for ${this.stallMs} ms`));
    }, this.stallMs);
  }

  disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * Yields the body's byte chunks as they arrive. Ends quietly when `callerSignal` aborts (the caller cancelled:
 * barge-in), throws a 'stall' TtsFaultError when the watchdog fires. Always cancels the body on exit so the
 * HTTP connection is closed rather than left draining.
 */
export async function* readBodyChunks(
  engine: string,
  body: ReadableStream<Uint8Array>,
  callerSignal: AbortSignal,
  watchdog: StallWatchdog,
): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  // Cancelling the reader resolves a pending read() at once, even if the fetch signal is not wired to it.
  const cancelRead = (): void => { reader.cancel().catch(() => undefined); };
  callerSignal.addEventListener('abort', cancelRead, { once: true });
  watchdog.signal.addEventListener('abort', cancelRead, { once: true });
  try {
    while (!callerSignal.aborted) {
      watchdog.arm();
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (err) {
        if (callerSignal.aborted) return;
        if (watchdog.fired) throw stallError(engine, watchdog, err);
        throw new TtsFaultError(engine, 'network', `audio stream broke: ${describe(err)}`, { cause: err });
      } finally {
        watchdog.disarm();
      }
      if (callerSignal.aborted) return;
      if (watchdog.fired) throw stallError(engine, watchdog);
      if (result.done) return;
      if (result.value.byteLength > 0) yield result.value;
    }
  } finally {
    watchdog.disarm();
    callerSignal.removeEventListener('abort', cancelRead);
    watchdog.signal.removeEventListener('abort', cancelRead);
    cancelRead();
  }
}

export function stallError(engine: string, watchdog: StallWatchdog, cause?: unknown): TtsFaultError {
  return new TtsFaultError(engine, 'stall', `no audio from the server for ${watchdog.stallMs} ms`, { cause });
}

/** Content types a provider sends instead of audio when something went wrong upstream (proxy pages, JSON). */
export function isNonAudioContentType(contentType: string | null): boolean {
  if (!contentType) return false;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return type.startsWith('text/') || type === 'application/json' || type.endsWith('+json') || type === 'application/xml';
}

/** An error's message, without anything that could echo request content. */
export function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    const causeText = cause instanceof Error ? ` (${cause.message})` : '';
    return `${err.name}: ${err.message}${causeText}`;
  }
  return String(err);
}
