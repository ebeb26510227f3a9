/**
 * Resumable HTTP download. Bytes go to `DEST.partial`; an interrupted transfer (dropped connection, killed
 * process) continues from the partial file's length with an HTTP Range request; a server that ignores
 * Range (200 instead of 206) makes it start over. Only a complete file is renamed to DEST.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, renameSync, statSync, truncateSync, unlinkSync } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export class DownloadError extends Error {
  constructor(readonly url: string, message: string, readonly retryable: boolean, options?: { cause?: unknown }) {
    super(`download of ${url} failed: ${message}`, options);
    this.name = 'DownloadError';
  }
}

export interface DownloadProgress { received: number; total: number | null; resumedAt: number }

export interface DownloadOptions {
  url: string;
  dest: string;
  /** Expected size, used for progress when the server does not say. */
  expectedSize?: number | null;
  onProgress?(progress: DownloadProgress): void;
  /** Attempts in all (the first plus resumes). */
  maxAttempts?: number;
  retryDelayMs?: number;
  signal?: AbortSignal;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  /** Offsets each attempt started from (0 for a fresh start), e.g. [0, 524288] after one resume. */
  attempts: number[];
}

export async function downloadWithResume(options: DownloadOptions): Promise<DownloadResult> {
  const partial = `${options.dest}.partial`;
  const maxAttempts = options.maxAttempts ?? 5;
  const attempts: number[] = [];
  let lastError: unknown;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    if (attempt > 0) await delay(options.retryDelayMs ?? 1000, options.signal);
    const offset = existsSync(partial) ? statSync(partial).size : 0;
    attempts.push(offset);
    try {
      const complete = await fetchFrom(options, partial, offset);
      if (complete) {
        renameSync(partial, options.dest);
        return { path: options.dest, bytes: statSync(options.dest).size, attempts };
      }
      lastError = new DownloadError(options.url, 'connection ended before the whole file arrived', true);
    } catch (err) {
      if (err instanceof DownloadError && !err.retryable) throw err;
      if (options.signal?.aborted) throw new DownloadError(options.url, 'cancelled', false, { cause: err });
      lastError = err;
    }
  }
  const reason = lastError instanceof Error ? lastError.message : String(lastError);
  throw new DownloadError(options.url, `gave up after ${maxAttempts} attempts (${reason}); run the command again to resume`, false, { cause: lastError });
}

/** One request. Resolves true when the file is complete, false when the body ended early. */
async function fetchFrom(options: DownloadOptions, partial: string, offset: number): Promise<boolean> {
  const headers: Record<string, string> = offset > 0 ? { Range: `bytes=${offset}-` } : {};
  let response: Response;
  try {
    response = await fetch(options.url, { headers, redirect: 'follow', ...(options.signal ? { signal: options.signal } : {}) });
  } catch (err) {
    throw new DownloadError(options.url, (err as Error).message, true, { cause: err });
  }
  if (response.status === 416 && offset > 0) {
    // Nothing left to send: the partial file is already whole (the checksum decides whether it is right).
    await response.body?.cancel();
    return true;
  }
  if (response.status !== 200 && response.status !== 206) {
    await response.body?.cancel();
    throw new DownloadError(options.url, `HTTP ${response.status}`, response.status >= 500 || response.status === 429);
  }
  let start = offset;
  if (response.status === 200 && offset > 0) {
    truncateSync(partial, 0); // the server ignored Range: start over
    start = 0;
  }
  const total = totalSize(response, start) ?? options.expectedSize ?? null;
  if (!response.body) throw new DownloadError(options.url, 'empty response', true);
  let received = start;
  options.onProgress?.({ received, total, resumedAt: start });
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      options.onProgress?.({ received, total, resumedAt: start });
      callback(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), counter, createWriteStream(partial, { flags: start > 0 ? 'a' : 'w' }));
  } catch (err) {
    throw new DownloadError(options.url, `transfer interrupted at ${received} bytes: ${(err as Error).message}`, true, { cause: err });
  }
  return total === null || received >= total;
}

function totalSize(response: Response, start: number): number | null {
  const range = response.headers.get('content-range');
  const match = range?.match(/\/(\d+)$/);
  if (match) return Number(match[1]);
  const length = response.headers.get('content-length');
  return length !== null && /^\d+$/.test(length) ? start + Number(length) : null;
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

/** Lower-case hex sha256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

export function removeIfExists(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** A one-line progress bar for a TTY: `[#########...........]  45%  139.7/310.4 MB`. */
export function formatProgress(progress: DownloadProgress, width = 30): string {
  const mb = (n: number) => (n / 1_000_000).toFixed(1);
  if (!progress.total) return `${mb(progress.received)} MB`;
  const fraction = Math.min(1, progress.received / progress.total);
  const filled = Math.round(fraction * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%  ${mb(progress.received)}/${mb(progress.total)} MB`;
}
