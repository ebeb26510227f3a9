/**
 * Sample-rate conversion for 16-bit mono PCM, e.g. TTS output at 16/22.05/24/44.1/48 kHz down to the 8 kHz
 * telephone rate, and 8 kHz caller audio up to 16 kHz for speech recognisers.
 *
 * The filtering is the Speex resampler (a windowed-sinc polyphase filter with a proper anti-alias low-pass)
 * from the `speex-resampler` npm package, compiled to WebAssembly. We call its WASM exports directly instead
 * of its `SpeexResampler` class because that class
 *   - has no way to free a resampler (one leaked state per call in a long-running server),
 *   - copies every output chunk twice and ignores how much input Speex actually consumed (it can drop
 *     samples when its output buffer, sized in bytes, rounds down),
 *   - has neither flush nor latency compensation.
 * What is written here is only the buffer management around `speex_resampler_process_interleaved_int`.
 *
 * Timing: Speex delays its output by half a filter length. A `Resampler` drops that many leading output
 * samples and `flush()` pushes the tail out, so output sample k lines up with input time k / outRate and a
 * whole stream (all `process()` outputs plus `flush()`) is exactly round(inputSamples * outRate / inRate)
 * samples long. Chunking does not change the output: state carries over between `process()` calls.
 */
import { createRequire } from 'node:module';

export type ResampleErrorCode = 'invalid-rate' | 'invalid-quality' | 'runtime-failed' | 'speex-error' | 'destroyed';

export class ResampleError extends Error {
  constructor(readonly code: ResampleErrorCode, message: string) {
    super(message);
    this.name = 'ResampleError';
  }
}

/** The subset of the Emscripten module exported by speex-resampler's `speex_wasm.js` that we use. */
interface SpeexWasmModule {
  HEAP16: Int16Array;
  HEAP32: Int32Array;
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  _speex_resampler_init(channels: number, inRate: number, outRate: number, quality: number, errPtr: number): number;
  _speex_resampler_destroy(statePtr: number): void;
  _speex_resampler_process_interleaved_int(
    statePtr: number, inPtr: number, inLenPtr: number, outPtr: number, outLenPtr: number): number;
  _speex_resampler_strerror(err: number): number;
  AsciiToString(ptr: number): string;
}

/**
 * One loaded copy of the Speex WASM module. Its linear memory (20 MiB to start) is shared by every resampler
 * created from it, so a process normally needs exactly one; pass it to `createResampler` to control that.
 */
export interface ResamplerRuntime {
  /** Creates a resampler synchronously (the runtime is already compiled). */
  create(inRate: number, outRate: number, options?: ResamplerOptions): Resampler;
}

export interface ResamplerOptions {
  /** Speex quality 0..10 (filter length). 5 is flat to 3.4 kHz at 8 kHz and costs ~0.3% of a core per stream. */
  quality?: number;
  /** The WASM runtime to use; defaults to one loaded on first use and shared by the process. */
  runtime?: ResamplerRuntime;
}

export const DEFAULT_RESAMPLER_QUALITY = 5;

/** Speex's per-quality base filter length (quality_map in speex/resample.c), needed to know its latency. */
const SPEEX_BASE_FILTER_LENGTH = [8, 16, 32, 48, 64, 80, 96, 128, 160, 192, 256];
/** Input samples handed to Speex per WASM call; bounds the scratch buffers in WASM memory. */
const MAX_INPUT_PER_CALL = 4096;
const MIN_RATE = 1000;
const MAX_RATE = 384000;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Speex's filter length for a rate pair, mirroring update_filter() in speex/resample.c. */
function speexFilterLength(inRate: number, outRate: number, quality: number): number {
  const divisor = gcd(inRate, outRate);
  const numRate = inRate / divisor;
  const denRate = outRate / divisor;
  let length = SPEEX_BASE_FILTER_LENGTH[quality];
  if (numRate > denRate) {
    // Downsampling widens the filter so its cutoff falls below the output Nyquist; Speex rounds to 8.
    length = Math.floor((length * numRate) / denRate);
    length = ((length - 1) & ~0x7) + 8;
  }
  return length;
}

/**
 * Streaming resampler for one audio stream (one per call and direction: it carries filter state).
 * Not safe to share between streams. Call `destroy()` when the stream ends, or its WASM memory leaks.
 */
export class Resampler {
  readonly inRate: number;
  readonly outRate: number;
  readonly quality: number;

  private readonly speex: SpeexWasmModule | null; // null: identical rates, nothing to do
  private statePtr = 0;
  private readonly inPtr: number = 0;
  private readonly outPtr: number = 0;
  private readonly lengthsPtr: number = 0; // [inLen, outLen] as two int32
  private readonly outCapacity: number = 0;
  /** Output samples Speex emits before the first one that lines up with input sample 0. */
  private readonly latencyOut: number;
  private readonly filterLength: number;
  private skipRemaining: number;
  private totalIn = 0;
  private totalOut = 0;
  private scratch: Int16Array;
  private lastConsumed = 0;
  private lastWritten = 0;
  private destroyed = false;

  /** @internal Use `createResampler` or `ResamplerRuntime.create`. */
  constructor(speex: SpeexWasmModule, inRate: number, outRate: number, quality: number) {
    this.inRate = inRate;
    this.outRate = outRate;
    this.quality = quality;
    this.filterLength = speexFilterLength(inRate, outRate, quality);
    this.latencyOut = inRate === outRate ? 0 : Math.round(((this.filterLength / 2) * outRate) / inRate);
    this.skipRemaining = this.latencyOut;
    this.scratch = new Int16Array(Math.ceil((MAX_INPUT_PER_CALL * outRate) / inRate) + 64);
    if (inRate === outRate) {
      this.speex = null;
      return;
    }
    this.speex = speex;
    this.outCapacity = Math.ceil((MAX_INPUT_PER_CALL * outRate) / inRate) + 64;
    this.inPtr = speex._malloc(MAX_INPUT_PER_CALL * 2);
    this.outPtr = speex._malloc(this.outCapacity * 2);
    this.lengthsPtr = speex._malloc(8);
    this.statePtr = this.initState();
  }

  private initState(): number {
    const speex = this.speex!;
    const errPtr = this.lengthsPtr; // reused as the int32 error slot
    const state = speex._speex_resampler_init(1, this.inRate, this.outRate, this.quality, errPtr);
    const err = speex.HEAP32[errPtr >> 2];
    if (state === 0 || err !== 0) {
      this.freeBuffers();
      this.destroyed = true; // buffers are gone: a later destroy() must not free them again
      throw new ResampleError('speex-error', `speex_resampler_init: ${speex.AsciiToString(speex._speex_resampler_strerror(err))}`);
    }
    return state;
  }

  /**
   * Resamples the next chunk of the stream; any length (0 included). Returns a new array; its length varies
   * from chunk to chunk by the filter's fractional phase and, at the start, by the latency compensation.
   */
  process(samples: Int16Array): Int16Array {
    this.assertAlive();
    if (this.speex === null) {
      this.totalIn += samples.length;
      this.totalOut += samples.length;
      return samples.slice();
    }
    let produced = 0;
    for (let offset = 0; offset < samples.length; ) {
      const take = Math.min(MAX_INPUT_PER_CALL, samples.length - offset);
      this.runSpeex(samples.subarray(offset, offset + take));
      offset += this.lastConsumed;
      this.totalIn += this.lastConsumed;
      produced = this.collect(this.lastWritten, produced);
    }
    this.totalOut += produced;
    return this.scratch.slice(0, produced);
  }

  /**
   * Ends the stream: returns the samples still inside the filter (about half a filter length), so the
   * stream's total output is round(totalIn * outRate / inRate), then resets to a fresh stream.
   */
  flush(): Int16Array {
    this.assertAlive();
    const target = Math.round((this.totalIn * this.outRate) / this.inRate);
    const missing = Math.max(0, target - this.totalOut);
    let produced = 0;
    if (this.speex !== null && missing > 0) {
      // Zeros push the real tail through the filter; more than needed is fed and the excess dropped.
      let zerosLeft = Math.ceil((missing * this.inRate) / this.outRate) + this.filterLength;
      const zeros = new Int16Array(Math.min(zerosLeft, MAX_INPUT_PER_CALL));
      while (zerosLeft > 0 && produced < missing) {
        this.runSpeex(zeros.subarray(0, Math.min(zerosLeft, zeros.length)));
        zerosLeft -= this.lastConsumed;
        produced = this.collect(this.lastWritten, produced);
      }
    }
    const tail = this.scratch.slice(0, Math.min(produced, missing));
    this.reset();
    return tail;
  }

  /** Drops everything buffered (e.g. on barge-in) and starts a fresh stream. */
  reset(): void {
    this.assertAlive();
    if (this.speex !== null) {
      this.speex._speex_resampler_destroy(this.statePtr);
      this.statePtr = 0;
      this.statePtr = this.initState();
    }
    this.skipRemaining = this.latencyOut;
    this.totalIn = 0;
    this.totalOut = 0;
  }

  /** Frees the WASM memory. The resampler cannot be used afterwards; calling it twice is harmless. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.speex !== null) {
      if (this.statePtr !== 0) this.speex._speex_resampler_destroy(this.statePtr);
      this.statePtr = 0;
      this.freeBuffers();
    }
  }

  private freeBuffers(): void {
    const speex = this.speex!;
    speex._free(this.inPtr);
    speex._free(this.outPtr);
    speex._free(this.lengthsPtr);
  }

  private assertAlive(): void {
    if (this.destroyed) throw new ResampleError('destroyed', 'resampler used after destroy()');
  }

  /**
   * One Speex call on at most MAX_INPUT_PER_CALL samples; output stays in WASM memory at outPtr. Results go
   * to lastConsumed/lastWritten rather than a returned object: this runs for every frame of every call.
   */
  private runSpeex(input: Int16Array): void {
    const speex = this.speex!;
    // Views are re-read on every call: another resampler's malloc may have grown (replaced) the heap.
    speex.HEAP16.set(input, this.inPtr >> 1);
    const lengths = this.lengthsPtr >> 2;
    speex.HEAP32[lengths] = input.length;
    speex.HEAP32[lengths + 1] = this.outCapacity;
    const err = speex._speex_resampler_process_interleaved_int(
      this.statePtr, this.inPtr, this.lengthsPtr, this.outPtr, this.lengthsPtr + 4);
    if (err !== 0) {
      throw new ResampleError('speex-error', `speex_resampler_process: ${speex.AsciiToString(speex._speex_resampler_strerror(err))}`);
    }
    this.lastConsumed = speex.HEAP32[lengths];
    this.lastWritten = speex.HEAP32[lengths + 1];
    if (this.lastConsumed === 0 && this.lastWritten === 0 && input.length > 0) {
      throw new ResampleError('speex-error', 'speex_resampler_process made no progress');
    }
  }

  /** Appends Speex's latest output (minus any latency still to skip) to the scratch buffer. */
  private collect(written: number, produced: number): number {
    let start = this.outPtr >> 1;
    let count = written;
    if (this.skipRemaining > 0) {
      const skip = Math.min(this.skipRemaining, count);
      this.skipRemaining -= skip;
      start += skip;
      count -= skip;
    }
    if (count === 0) return produced;
    if (produced + count > this.scratch.length) {
      const grown = new Int16Array(Math.max(this.scratch.length * 2, produced + count));
      grown.set(this.scratch.subarray(0, produced));
      this.scratch = grown;
    }
    this.scratch.set(this.speex!.HEAP16.subarray(start, start + count), produced);
    return produced + count;
  }
}

function validateRate(name: string, rate: number): void {
  if (!Number.isInteger(rate) || rate < MIN_RATE || rate > MAX_RATE) {
    throw new ResampleError('invalid-rate', `${name} must be an integer between ${MIN_RATE} and ${MAX_RATE} Hz, got ${rate}`);
  }
}

class SpeexResamplerRuntime implements ResamplerRuntime {
  constructor(private readonly speex: SpeexWasmModule) {}

  create(inRate: number, outRate: number, options: ResamplerOptions = {}): Resampler {
    validateRate('inRate', inRate);
    validateRate('outRate', outRate);
    const quality = options.quality ?? DEFAULT_RESAMPLER_QUALITY;
    if (!Number.isInteger(quality) || quality < 0 || quality > 10) {
      throw new ResampleError('invalid-quality', `quality must be an integer 0..10, got ${quality}`);
    }
    return new Resampler(this.speex, inRate, outRate, quality);
  }
}

/**
 * Loads and compiles a fresh copy of the Speex WASM module. Prefer one per process (see ResamplerRuntime).
 */
export async function loadResamplerRuntime(): Promise<ResamplerRuntime> {
  const require = createRequire(import.meta.url);
  const uncaughtBefore = new Set(process.listeners('uncaughtException'));
  const rejectionBefore = new Set(process.listeners('unhandledRejection'));
  let modulePromise: Promise<SpeexWasmModule>;
  try {
    const factory = (require('speex-resampler/app/speex_wasm.js') as { default: (opts: object) => Promise<SpeexWasmModule> }).default;
    modulePromise = factory({});
  } catch (error) {
    throw new ResampleError('runtime-failed', `cannot load the speex-resampler WASM module: ${(error as Error).message}`);
  } finally {
    // The Emscripten glue installs process-wide handlers that abort or rethrow on *any* uncaught error or
    // unhandled rejection in the process; they would override the server's own handling, so remove them.
    for (const listener of process.listeners('uncaughtException')) {
      if (!uncaughtBefore.has(listener)) process.removeListener('uncaughtException', listener);
    }
    for (const listener of process.listeners('unhandledRejection')) {
      if (!rejectionBefore.has(listener)) process.removeListener('unhandledRejection', listener);
    }
  }
  try {
    return new SpeexResamplerRuntime(await modulePromise);
  } catch (error) {
    throw new ResampleError('runtime-failed', `speex-resampler WASM failed to initialise: ${(error as Error).message}`);
  }
}

// Lazily loaded, process-wide runtime: a WASM instance is compiled code plus a 20 MiB heap, so one per
// process (like the library's own design) rather than one per call. Callers may inject their own.
let sharedRuntime: Promise<ResamplerRuntime> | null = null;

function defaultRuntime(): Promise<ResamplerRuntime> {
  if (sharedRuntime === null) {
    sharedRuntime = loadResamplerRuntime();
    sharedRuntime.catch(() => { sharedRuntime = null; }); // let a later call retry
  }
  return sharedRuntime;
}

/** Creates a streaming resampler for one stream (per call, per direction). */
export async function createResampler(inRate: number, outRate: number, options: ResamplerOptions = {}): Promise<Resampler> {
  const runtime = options.runtime ?? (await defaultRuntime());
  return runtime.create(inRate, outRate, options);
}
