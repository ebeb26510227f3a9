/**
 * Keeps a call audible when the preferred engine fails: every sentence goes to `primary`; if it throws, ends
 * without audio, or says nothing for `firstChunkTimeoutMs`, the same sentence is spoken by `fallback` (flite,
 * which needs nothing but this machine). A failure after some audio went out (stall or error mid-sentence)
 * has the fallback speak the whole sentence again: the caller hears its start twice rather than missing
 * its end, which could be the appointment time.
 *
 * Fallback audio is converted to the primary's declared output format (resampled, μ-law coded as needed), so
 * `output` holds for every chunk and playout needs no special case. Faults are reported without the text.
 */
import { muLawDecode, muLawEncode } from '../media/codec.js';
import { createResampler, type Resampler } from '../media/resample.js';
import { TtsError, type TtsAudio, type TtsEngine, type TtsOutputFormat } from './types.js';
import { TtsFaultError, type TtsFaultKind } from './errors.js';
import type { Logger } from '../log.js';

/** What went wrong with the primary, in a form safe to log (no text, no provider payloads). */
export interface TtsFallbackReport {
  primary: string;
  fallback: string;
  /** The fault kind for typed engine errors; 'timeout-first-chunk' / 'timeout-next-chunk' for our own timer. */
  reason: TtsFaultKind | 'timeout-first-chunk' | 'timeout-next-chunk' | 'no-audio' | 'error';
  /** HTTP status where the primary had one. */
  status?: number;
  /** Whether some primary audio of the sentence had already been passed on. */
  midSentence: boolean;
  /** The error's message when it is one of our typed TTS errors (which never contain the text). */
  detail?: string;
}

export interface FallbackTtsOptions {
  /** Longest wait for the primary's first chunk of a sentence. */
  firstChunkTimeoutMs?: number;
  /** Longest wait for each further chunk. */
  nextChunkTimeoutMs?: number;
  /** Called once per sentence the fallback had to speak. */
  onFallback?(report: TtsFallbackReport, error: unknown): void;
}

export const FALLBACK_TTS_DEFAULTS = { firstChunkTimeoutMs: 3000, nextChunkTimeoutMs: 3000 } as const;

type NextResult<T> =
  | { kind: 'value'; value: T }
  | { kind: 'done' }
  | { kind: 'timeout' }
  | { kind: 'aborted' }
  | { kind: 'error'; error: unknown };

export class FallbackTtsEngine implements TtsEngine {
  readonly name: string;
  readonly voice: string;
  readonly output: TtsOutputFormat;
  private readonly firstChunkTimeoutMs: number;
  private readonly nextChunkTimeoutMs: number;

  constructor(readonly primary: TtsEngine, readonly fallback: TtsEngine, private readonly options: FallbackTtsOptions = {}) {
    // Reported as the primary: it is what the deployment chose; fallbacks are counted through onFallback.
    this.name = primary.name;
    this.voice = primary.voice;
    this.output = primary.output;
    this.firstChunkTimeoutMs = options.firstChunkTimeoutMs ?? FALLBACK_TTS_DEFAULTS.firstChunkTimeoutMs;
    this.nextChunkTimeoutMs = options.nextChunkTimeoutMs ?? FALLBACK_TTS_DEFAULTS.nextChunkTimeoutMs;
  }

  async *synthesize(text: string, signal: AbortSignal): AsyncGenerator<TtsAudio> {
    if (signal.aborted) return;
    const primaryControl = new AbortController();
    const forwardAbort = (): void => primaryControl.abort(signal.reason);
    signal.addEventListener('abort', forwardAbort, { once: true });
    const iterator = this.primary.synthesize(text, primaryControl.signal)[Symbol.asyncIterator]();
    let chunks = 0;
    let primaryFinished = false;
    let failure: { reason: TtsFallbackReport['reason']; error: unknown } | undefined;
    try {
      for (;;) {
        const next = await nextWithin(iterator, chunks === 0 ? this.firstChunkTimeoutMs : this.nextChunkTimeoutMs, signal);
        if (next.kind === 'aborted') return;
        if (next.kind === 'value') {
          chunks++;
          yield next.value;
          if (signal.aborted) return;
          continue;
        }
        if (next.kind === 'done') {
          primaryFinished = true;
          if (chunks === 0 && /[\p{L}\p{N}]/u.test(text)) {
            failure = { reason: 'no-audio', error: new TtsError(this.primary.name, 'ended without audio') };
          }
          break;
        }
        if (next.kind === 'timeout') {
          const ms = chunks === 0 ? this.firstChunkTimeoutMs : this.nextChunkTimeoutMs;
          failure = {
            reason: chunks === 0 ? 'timeout-first-chunk' : 'timeout-next-chunk',
            error: new TtsFaultError(this.primary.name, 'stall', `no audio for ${ms} ms`),
          };
        } else {
          failure = { reason: next.error instanceof TtsFaultError ? next.error.kind : 'error', error: next.error };
        }
        break;
      }
    } finally {
      signal.removeEventListener('abort', forwardAbort);
      // Also when our consumer stopped early (return() at a yield): the primary's request must not linger.
      if (!primaryFinished) {
        primaryControl.abort(new Error('abandoned'));
        // Not awaited: a wedged engine might never settle, and the sentence must not wait for it.
        void iterator.return?.().catch(() => undefined);
      }
    }
    if (!failure) return;

    this.report(failure.reason, failure.error, chunks > 0);
    const adapter = new FormatAdapter(this.output);
    try {
      for await (const chunk of this.fallback.synthesize(text, signal)) {
        if (signal.aborted) return;
        for (const converted of await adapter.convert(chunk)) yield converted;
        if (signal.aborted) return;
      }
      if (!signal.aborted) for (const converted of adapter.flush()) yield converted;
    } finally {
      adapter.destroy();
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.primary.close(), this.fallback.close()]);
  }

  private report(reason: TtsFallbackReport['reason'], error: unknown, midSentence: boolean): void {
    const report: TtsFallbackReport = { primary: this.primary.name, fallback: this.fallback.name, reason, midSentence };
    if (error instanceof TtsFaultError) {
      if (error.status !== undefined) report.status = error.status;
      report.detail = error.message;
    }
    try {
      this.options.onFallback?.(report, error);
    } catch {
      // A reporting bug must not cost the caller the sentence.
    }
  }
}

/** An `onFallback` that logs each fallback as a warning: engine names, reason, status; never the text. */
export function logTtsFallback(logger: Logger): NonNullable<FallbackTtsOptions['onFallback']> {
  return (report) => logger.warn({ ttsFallback: report }, 'TTS fallback: a sentence was spoken by the fallback engine');
}

/** Races one `next()` against a timer and the caller's abort; cleans both up either way. */
async function nextWithin<T>(iterator: AsyncIterator<T>, ms: number, signal: AbortSignal): Promise<NextResult<T>> {
  if (signal.aborted) return { kind: 'aborted' };
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<NextResult<T>>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'timeout' }), ms);
    onAbort = () => resolve({ kind: 'aborted' });
    signal.addEventListener('abort', onAbort, { once: true });
  });
  const step = iterator.next().then(
    (result): NextResult<T> => (result.done ? { kind: 'done' } : { kind: 'value', value: result.value }),
    (error: unknown): NextResult<T> => ({ kind: 'error', error }),
  );
  try {
    return await Promise.race([step, stop]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

/** Converts one sentence's chunks from whatever the fallback produces to `target`. */
class FormatAdapter {
  private resampler: Resampler | undefined;
  private resamplerRate = 0;

  constructor(private readonly target: TtsOutputFormat) {}

  async convert(chunk: TtsAudio): Promise<TtsAudio[]> {
    if (this.target.format === 'mulaw8k') {
      if (chunk.format === 'mulaw8k') return [chunk];
      const pcm = await this.resample(chunk.samples, chunk.sampleRate, 8000);
      return pcm.length > 0 ? [{ format: 'mulaw8k', bytes: muLawEncode(pcm) }] : [];
    }
    const rate = this.target.sampleRate;
    if (chunk.format === 'pcm16' && chunk.sampleRate === rate) return [chunk];
    const source = chunk.format === 'pcm16' ? chunk : { samples: muLawDecode(chunk.bytes), sampleRate: 8000 };
    const pcm = await this.resample(source.samples, source.sampleRate, rate);
    return pcm.length > 0 ? [{ format: 'pcm16', sampleRate: rate, samples: pcm }] : [];
  }

  /** The resampler's tail at the end of the sentence. */
  flush(): TtsAudio[] {
    if (!this.resampler) return [];
    const tail = this.resampler.flush();
    if (tail.length === 0) return [];
    return this.target.format === 'mulaw8k'
      ? [{ format: 'mulaw8k', bytes: muLawEncode(tail) }]
      : [{ format: 'pcm16', sampleRate: this.target.sampleRate, samples: tail }];
  }

  destroy(): void {
    this.resampler?.destroy();
    this.resampler = undefined;
  }

  private async resample(samples: Int16Array, from: number, to: number): Promise<Int16Array> {
    if (from === to) return samples;
    if (!this.resampler || this.resamplerRate !== from) {
      this.resampler?.destroy();
      this.resampler = await createResampler(from, to);
      this.resamplerRate = from;
    }
    return this.resampler.process(samples);
  }
}
