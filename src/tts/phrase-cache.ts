/**
 * Fixed prompts ("Thanks for calling ...", "Sorry, I didn't catch that") are rendered once per engine and
 * voice and then served from memory, so their first audio is ready without any synthesis.
 * Memory is bounded by total audio bytes, least recently used phrases going first.
 */
import { TtsError, type TtsAudio, type TtsEngine, type TtsOutputFormat } from './types.js';

export interface PhraseCacheOptions {
  /** Upper bound on cached audio, in bytes (default 32 MiB: ~17 minutes of 16 kHz PCM). */
  maxBytes?: number;
}

export interface PhraseCacheStats {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
  /** Engine syntheses started by the cache (concurrent misses of one phrase count once). */
  renders: number;
  evictions: number;
}

interface Entry { chunks: readonly TtsAudio[]; bytes: number }

export const DEFAULT_PHRASE_CACHE_BYTES = 32 * 1024 * 1024;

function audioBytes(audio: TtsAudio): number {
  return audio.format === 'pcm16' ? audio.samples.byteLength : audio.bytes.byteLength;
}

/** Same words, same audio: whitespace differences do not make a new phrase. */
function normalizePhrase(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('aborted', 'AbortError');
}

export class PhraseCache {
  private readonly maxBytes: number;
  /** Map order is recency order: the first key is the least recently used. */
  private readonly entries = new Map<string, Entry>();
  private readonly rendering = new Map<string, Promise<readonly TtsAudio[]>>();
  private totalBytes = 0;
  private counters = { hits: 0, misses: 0, renders: 0, evictions: 0 };

  constructor(options: PhraseCacheOptions = {}) {
    this.maxBytes = Math.max(0, options.maxBytes ?? DEFAULT_PHRASE_CACHE_BYTES);
  }

  get stats(): PhraseCacheStats {
    return { entries: this.entries.size, bytes: this.totalBytes, ...this.counters };
  }

  /**
   * The cached audio, synchronously, or undefined. Chunks are shared with every caller: treat them as
   * read-only.
   */
  peek(engine: TtsEngine, text: string): readonly TtsAudio[] | undefined {
    const chunks = this.lookup(this.keyOf(engine, text));
    if (chunks) this.counters.hits++;
    return chunks;
  }

  /**
   * The phrase's audio: from memory, or rendered (once, however many callers ask at the same time) and
   * stored. `signal` aborts this caller's wait only; the render finishes for the cache and other callers.
   */
  async get(engine: TtsEngine, text: string, signal?: AbortSignal): Promise<readonly TtsAudio[]> {
    const key = this.keyOf(engine, text);
    const cached = this.lookup(key);
    if (cached) {
      this.counters.hits++;
      return cached;
    }
    this.counters.misses++;
    let render = this.rendering.get(key);
    if (!render) {
      render = this.render(engine, key, normalizePhrase(text));
      this.rendering.set(key, render);
      const forget = () => this.rendering.delete(key);
      render.then(forget, forget);
    }
    if (!signal) return render;
    if (signal.aborted) throw abortError(signal);
    return new Promise<readonly TtsAudio[]>((resolve, reject) => {
      const onAbort = () => reject(abortError(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      render!.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /** Renders the given phrases ahead of the first call that needs them. */
  async warm(engine: TtsEngine, texts: Iterable<string>): Promise<void> {
    for (const text of texts) await this.get(engine, text);
  }

  has(engine: TtsEngine, text: string): boolean {
    return this.entries.has(this.keyOf(engine, text));
  }

  clear(): void {
    this.entries.clear();
    this.totalBytes = 0;
  }

  private lookup(key: string): readonly TtsAudio[] | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key); // refresh recency
    this.entries.set(key, entry);
    return entry.chunks;
  }

  private async render(engine: TtsEngine, key: string, text: string): Promise<readonly TtsAudio[]> {
    this.counters.renders++;
    const chunks: TtsAudio[] = [];
    // Never aborted: a started render is finished and kept, whoever stopped waiting for it.
    const signal = new AbortController().signal;
    try {
      for await (const chunk of engine.synthesize(text, signal)) chunks.push(chunk);
    } catch (err) {
      throw err instanceof TtsError ? err : new TtsError(engine.name, 'phrase render failed', { cause: err });
    }
    Object.freeze(chunks);
    this.store(key, chunks);
    return chunks;
  }

  private store(key: string, chunks: readonly TtsAudio[]): void {
    const bytes = chunks.reduce((sum, chunk) => sum + audioBytes(chunk), 0);
    if (bytes > this.maxBytes) return; // would evict everything else and still not fit
    const previous = this.entries.get(key);
    if (previous) {
      this.entries.delete(key);
      this.totalBytes -= previous.bytes;
    }
    this.entries.set(key, { chunks, bytes });
    this.totalBytes += bytes;
    for (const [oldKey, entry] of this.entries) {
      if (this.totalBytes <= this.maxBytes) break;
      this.entries.delete(oldKey);
      this.totalBytes -= entry.bytes;
      this.counters.evictions++;
    }
  }

  private keyOf(engine: TtsEngine, text: string): string {
    const format = engine.output.format === 'pcm16' ? `pcm16@${engine.output.sampleRate}` : engine.output.format;
    return `${engine.name}\u0000${engine.voice}\u0000${format}\u0000${normalizePhrase(text)}`;
  }
}

/**
 * Audio for `text` through the cache: served from memory when present, else rendered once and stored.
 * Stops between chunks when `signal` aborts.
 */
export async function* synthesizeCached(
  cache: PhraseCache, engine: TtsEngine, text: string, signal: AbortSignal,
): AsyncGenerator<TtsAudio> {
  if (normalizePhrase(text) === '' || signal.aborted) return;
  let chunks = cache.peek(engine, text);
  if (!chunks) {
    try {
      chunks = await cache.get(engine, text, signal);
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
  }
  for (const chunk of chunks) {
    if (signal.aborted) return;
    yield chunk;
  }
}

export interface CachingTtsEngineOptions {
  engine: TtsEngine;
  cache: PhraseCache;
  /**
   * Which texts are fixed prompts worth keeping. Texts already in the cache are always served from it;
   * by default only those (e.g. put there by `warm`) are, everything else goes straight to the engine.
   */
  isCacheable?: (text: string) => boolean;
}

/** A TtsEngine that serves fixed prompts from a PhraseCache and everything else from the wrapped engine. */
export class CachingTtsEngine implements TtsEngine {
  readonly engine: TtsEngine;
  private readonly cache: PhraseCache;
  private readonly isCacheable: (text: string) => boolean;

  constructor(options: CachingTtsEngineOptions) {
    this.engine = options.engine;
    this.cache = options.cache;
    this.isCacheable = options.isCacheable ?? (() => false);
  }

  get name(): string { return this.engine.name; }
  get voice(): string { return this.engine.voice; }
  get output(): TtsOutputFormat { return this.engine.output; }

  synthesize(text: string, signal: AbortSignal): AsyncIterable<TtsAudio> {
    if (this.cache.has(this.engine, text) || this.isCacheable(text)) {
      return synthesizeCached(this.cache, this.engine, text, signal);
    }
    return this.engine.synthesize(text, signal);
  }

  /** Renders fixed prompts now so their first use is instant. */
  warm(texts: Iterable<string>): Promise<void> {
    return this.cache.warm(this.engine, texts);
  }

  /** Closes the wrapped engine (the wrapper owns it). */
  close(): Promise<void> {
    return this.engine.close();
  }
}
