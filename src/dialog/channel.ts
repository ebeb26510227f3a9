/**
 * A turn's action stream. The turn's work runs to completion on its own (so the session state stays
 * consistent), while the reader stops as soon as its signal aborts (barge-in): later actions are dropped.
 */
import type { DialogAction } from './types.js';

export class ActionChannel {
  private readonly queue: DialogAction[] = [];
  private wake: (() => void) | undefined;
  private closed = false;

  push(action: DialogAction): void {
    if (this.closed) return;
    this.queue.push(action);
    this.wake?.();
  }

  close(): void {
    this.closed = true;
    this.wake?.();
  }

  async *read(signal: AbortSignal): AsyncGenerator<DialogAction> {
    const onAbort = () => this.wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal.aborted) {
        const next = this.queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (this.closed) return;
        await new Promise<void>((resolve) => { this.wake = resolve; });
        this.wake = undefined;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}
