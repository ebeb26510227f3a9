/**
 * The dialog's only way to the EMR: every request is time-boxed and mapped to a result code (never a throw),
 * and a slow one gets one short filler so the caller never hears dead air.
 */
import type { Logger } from '../../log.js';
import { EmrError } from '../../emr/types.js';
import type { EmrResult } from './node.js';

export function timeBoxed<T>(request: () => Promise<T>, timeoutMs: number, log: Logger | undefined): Promise<EmrResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<EmrResult<T>>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, code: 'timeout' }), timeoutMs);
  });
  const attempt = (async (): Promise<EmrResult<T>> => {
    try {
      return { ok: true, value: await request() };
    } catch (err) {
      const code = err instanceof EmrError ? err.code : 'unavailable';
      // The error's name only: a message could quote patient data.
      log?.warn({ code, errorName: err instanceof Error ? err.name : 'unknown' }, 'dialog EMR request failed');
      return { ok: false, code };
    }
  })();
  return Promise.race([attempt, timeout]).finally(() => clearTimeout(timer));
}

/** Waits for a result; calls `onSlow` once if it takes longer than `fillerAfterMs`. */
export async function withFiller<T>(pending: Promise<T>, fillerAfterMs: number, onSlow: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const slow = new Promise<'slow'>((resolve) => {
    timer = setTimeout(() => resolve('slow'), fillerAfterMs);
  });
  try {
    const first = await Promise.race([pending, slow]);
    if (first !== 'slow') return first as T;
    onSlow();
    return await pending;
  } finally {
    clearTimeout(timer);
  }
}
