/**
 * `sherpa`: the production local engine. sherpa-onnx-node's `OnlineRecognizer` with a streaming Zipformer
 * transducer. One recognizer (one loaded model) is shared by every call; each call gets its own
 * `OnlineStream`. Audio arrives at 8 kHz and is upsampled to the model's 16 kHz with our Speex resampler
 * (one per stream) before `acceptWaveform`.
 *
 * Decoding is synchronous CPU work inside the addon. We keep it off the per-frame path: `pushAudio` only
 * hands samples to the stream (cheap) and marks it dirty; one decode pass per event-loop turn then decodes
 * every ready stream of every call together with `decodeStreams` (one batched encoder run instead of one per
 * call) and yields back to the event loop between batches, so socket I/O and timers run between decodes.
 * A worker thread would move the work off the main thread entirely; it is not done yet (see the report).
 *
 * Loading a corrupt ONNX file makes the addon throw a C++ `Ort::Exception` that nobody catches: the whole
 * process aborts (SIGABRT), it is not a JS exception. So before constructing the recognizer in this process
 * we (1) check that every file exists and (2) load the same config once in a short-lived child process;
 * only if the child succeeds does the server load it.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { loadResamplerRuntime, type Resampler, type ResamplerRuntime } from '../media/resample.js';
import { startModuleWorker } from '../worker-thread.js';
import { ModelInvalidError, ModelMissingError } from './errors.js';
import type { FromWorker, ToWorker, WireEvent } from './sherpa-worker.js';
import { AsrError, type AsrEngine, type AsrEvent, type AsrStream } from './types.js';

const require = createRequire(import.meta.url);

/** The input rate of every AsrStream (the pipeline's telephone rate). */
const INPUT_SAMPLE_RATE = 8000;
/** The models' feature rate. We upsample ourselves (Speex): sherpa's internal resampler would print three
 * lines to stderr for every new stream, outside our structured log. */
const MODEL_SAMPLE_RATE = 16000;
/** Silence appended at endUtterance so the transducer emits the last words (its right context). */
const TAIL_PADDING_SECONDS = 0.4;

// ---- sherpa-onnx-node's surface (the package ships no TypeScript types) ----

/** sherpa-onnx-node `OnlineRecognizerConfig` (see its types.js). */
export interface SherpaOnlineRecognizerConfig {
  featConfig: { sampleRate: number; featureDim: number };
  modelConfig: {
    transducer: { encoder: string; decoder: string; joiner: string };
    tokens: string;
    numThreads: number;
    provider: 'cpu';
    debug: number;
    modelType?: string;
  };
  decodingMethod: 'greedy_search' | 'modified_beam_search';
  maxActivePaths: number;
  enableEndpoint: number;
  rule1MinTrailingSilence: number;
  rule2MinTrailingSilence: number;
  rule3MinUtteranceLength: number;
}

/** `OnlineRecognizerResult` as returned by `getResult` (a subset). */
export interface SherpaOnlineResult {
  text: string;
  tokens?: string[];
  timestamps?: number[];
  start_time?: number;
  segment?: number;
  is_final?: boolean;
}

export interface SherpaOnlineStream {
  acceptWaveform(waveform: { samples: Float32Array; sampleRate: number }): void;
  inputFinished(): void;
}

/** What this engine uses of sherpa-onnx-node's `OnlineRecognizer`. */
export interface SherpaOnlineRecognizer<S extends SherpaOnlineStream = SherpaOnlineStream> {
  createStream(): S;
  isReady(stream: S): boolean;
  decode(stream: S): void;
  decodeStreams(streams: S[]): void;
  isEndpoint(stream: S): boolean;
  reset(stream: S): void;
  getResult(stream: S): SherpaOnlineResult;
}

// ---- configuration ----

export interface TransducerFiles { encoder: string; decoder: string; joiner: string; tokens: string }

export interface SherpaAsrOptions {
  /** Directory holding the model's files. */
  modelDir: string;
  /** Manifest name, used in messages (`carevox models pull NAME`). Defaults to the directory name. */
  modelName?: string;
  /** File names inside modelDir; when absent they are found by the usual sherpa export names. */
  files?: Partial<TransducerFiles>;
  /** Search by the usual export names when a name in `files` is absent (a custom modelDir). */
  searchWhenMissing?: boolean;
  numThreads: number;
  decodingMethod?: 'greedy_search' | 'modified_beam_search';
  enableEndpoint?: boolean;
  /** Seconds of trailing silence that end an utterance in which nothing was decoded. */
  rule1MinTrailingSilence?: number;
  /** Seconds of trailing silence that end an utterance after something was decoded. */
  rule2MinTrailingSilence?: number;
  /** Utterance length in seconds after which an endpoint is forced. */
  rule3MinUtteranceLength?: number;
  /** Load the model once in a child process before loading it here (guards against the addon's abort). */
  probeInChildProcess?: boolean;
  probeTimeoutMs?: number;
  /** Where decoding runs: a worker thread (default: the event loop never waits on it) or this thread. */
  decodeIn?: 'worker' | 'main-thread';
}

/** Pure mapping from our options to the addon's config object. */
export function toSherpaRecognizerConfig(options: SherpaAsrOptions, files: TransducerFiles): SherpaOnlineRecognizerConfig {
  return {
    featConfig: { sampleRate: 16000, featureDim: 80 },
    modelConfig: {
      transducer: {
        encoder: join(options.modelDir, files.encoder),
        decoder: join(options.modelDir, files.decoder),
        joiner: join(options.modelDir, files.joiner),
      },
      tokens: join(options.modelDir, files.tokens),
      numThreads: options.numThreads,
      provider: 'cpu',
      debug: 0,
    },
    decodingMethod: options.decodingMethod ?? 'greedy_search',
    maxActivePaths: 4,
    enableEndpoint: options.enableEndpoint === false ? 0 : 1,
    rule1MinTrailingSilence: options.rule1MinTrailingSilence ?? 2.4,
    rule2MinTrailingSilence: options.rule2MinTrailingSilence ?? 1.2,
    rule3MinUtteranceLength: options.rule3MinUtteranceLength ?? 20,
  };
}

const FILE_PATTERNS: Record<keyof TransducerFiles, RegExp> = {
  encoder: /^encoder.*\.onnx$/,
  decoder: /^decoder.*\.onnx$/,
  joiner: /^joiner.*\.onnx$/,
  tokens: /^tokens\.txt$/,
};

/**
 * Finds the transducer files in `modelDir`: the names given, else the usual export names (int8 encoder and
 * joiner preferred, fp32 decoder preferred, as sherpa's own examples pair them). With `fallBackToSearch`, a
 * given name that is absent is searched for too (a custom model directory); the error still names the
 * expected file.
 */
export function locateTransducerFiles(modelDir: string, expected: Partial<TransducerFiles> = {}, fallBackToSearch = false):
  { files: TransducerFiles; missing: [] } | { files: null; missing: string[] } {
  const listing = existsSync(modelDir) && statSync(modelDir).isDirectory() ? readdirSync(modelDir) : [];
  const found: Partial<TransducerFiles> = {};
  const missing: string[] = [];
  for (const role of ['encoder', 'decoder', 'joiner', 'tokens'] as const) {
    const want = expected[role];
    if (want && existsSync(join(modelDir, want))) {
      found[role] = want;
      continue;
    }
    if (want && !fallBackToSearch) {
      missing.push(want);
      continue;
    }
    const candidates = listing.filter((name) => FILE_PATTERNS[role].test(name)).sort();
    const int8 = candidates.filter((name) => name.endsWith('.int8.onnx'));
    const fp32 = candidates.filter((name) => !name.endsWith('.int8.onnx'));
    const pick = role === 'decoder' ? (fp32[0] ?? int8[0]) : (int8[0] ?? fp32[0]);
    if (pick) found[role] = pick;
    else missing.push(want ?? (role === 'tokens' ? 'tokens.txt' : `${role}*.onnx`));
  }
  return missing.length ? { files: null, missing } : { files: found as TransducerFiles, missing: [] };
}

/**
 * Loads the config in a child process and reports how that went. The child exits 0 after constructing the
 * recognizer; a corrupt model kills it with SIGABRT and an `Ort::Exception` line on stderr.
 */
export function probeRecognizerConfig(config: SherpaOnlineRecognizerConfig, timeoutMs = 120_000):
  Promise<{ ok: true } | { ok: false; detail: string }> {
  const addonPath = require.resolve('sherpa-onnx-node');
  const script = `const s = require(${JSON.stringify(addonPath)});
new s.OnlineRecognizer(JSON.parse(process.argv[1]));
process.stdout.write('sherpa-probe-ok');`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', script, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-8192); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, detail: `could not start the model check: ${err.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && stdout.includes('sherpa-probe-ok')) return resolve({ ok: true });
      resolve({ ok: false, detail: summarizeProbeFailure(stderr, code, signal) });
    });
  });
}

function summarizeProbeFailure(stderr: string, code: number | null, signal: NodeJS.Signals | null): string {
  const lines = stderr.split('\n').map((line) => line.trim()).filter(Boolean);
  const what = lines.find((line) => line.startsWith('what():'))?.slice('what():'.length).trim();
  const useful = what ?? lines.filter((line) => !line.startsWith('at ') && !line.startsWith('terminate called')).pop();
  const how = signal ? `loader died with ${signal}` : code === null ? 'loader timed out' : `loader exited with code ${code}`;
  return useful ? `${how}: ${useful}` : how;
}

// ---- engine ----

/**
 * Checks files, probes, and loads the model. Throws `ModelMissingError` / `ModelInvalidError`
 * (createAsrEngine turns those into the `none` engine with the reason set).
 */
export async function createSherpaAsrEngine(options: SherpaAsrOptions): Promise<AsrEngine> {
  const modelName = options.modelName ?? basename(options.modelDir);
  const located = locateTransducerFiles(options.modelDir, options.files, options.searchWhenMissing);
  if (!located.files) throw new ModelMissingError('sherpa', modelName, options.modelDir, located.missing);
  const config = toSherpaRecognizerConfig(options, located.files);

  if (options.probeInChildProcess !== false) {
    const probe = await probeRecognizerConfig(config, options.probeTimeoutMs);
    if (!probe.ok) throw new ModelInvalidError('sherpa', modelName, options.modelDir, probe.detail);
  }
  if (options.decodeIn !== 'main-thread') return createSherpaWorkerEngine(config, modelName, options.modelDir);
  let recognizer: SherpaOnlineRecognizer;
  try {
    const sherpa = require('sherpa-onnx-node') as { OnlineRecognizer: new (c: SherpaOnlineRecognizerConfig) => SherpaOnlineRecognizer };
    recognizer = new sherpa.OnlineRecognizer(config);
  } catch (err) {
    throw new ModelInvalidError('sherpa', modelName, options.modelDir, (err as Error).message, { cause: err });
  }
  return createSherpaEngineFromRecognizer(recognizer, { resamplerRuntime: await loadResamplerRuntime() });
}

export interface SherpaEngineOptions {
  /** Upsample 8 -> 16 kHz with this runtime; without one, 8 kHz goes to sherpa, which resamples inside. */
  resamplerRuntime?: ResamplerRuntime;
}

/**
 * The engine with its recognizer in a worker thread (sherpa-worker.ts). Audio and events cross as messages;
 * if the worker dies, every stream answers its turns with an error (keypad fallback) instead of hanging.
 */
async function createSherpaWorkerEngine(config: SherpaOnlineRecognizerConfig, modelName: string, modelDir: string): Promise<AsrEngine> {
  const worker = startWorker(config);
  const sinks = new Map<number, WorkerStreamProxy>();
  let broken: AsrError | null = null;
  await new Promise<void>((resolve, reject) => {
    const onMessage = (message: FromWorker) => {
      if (message.type === 'ready') { cleanup(); resolve(); }
      if (message.type === 'failed') { cleanup(); reject(new ModelInvalidError('sherpa', modelName, modelDir, message.message)); }
    };
    const onError = (err: Error) => { cleanup(); reject(new ModelInvalidError('sherpa', modelName, modelDir, `worker failed: ${err.message}`, { cause: err })); };
    const onExit = (code: number) => { cleanup(); reject(new ModelInvalidError('sherpa', modelName, modelDir, `worker exited with code ${code}`)); };
    const cleanup = () => { worker.off('message', onMessage); worker.off('error', onError); worker.off('exit', onExit); };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  }).catch(async (err: unknown) => {
    await worker.terminate();
    throw err;
  });
  let closing = false;
  let exited = false;
  worker.once('exit', () => { exited = true; });
  const breakAll = (error: AsrError) => {
    if (broken || closing) return;
    broken = error;
    for (const proxy of sinks.values()) proxy.workerDied(error);
  };
  worker.on('message', (message: FromWorker) => {
    if (message.type === 'event') sinks.get(message.id)?.deliver(message.event);
  });
  worker.on('error', (err) => breakAll(new AsrError('sherpa', `recognizer worker failed: ${err.message}`, { cause: err })));
  worker.on('exit', (code) => breakAll(new AsrError('sherpa', `recognizer worker exited (code ${code})`)));
  let nextId = 1;
  return {
    name: 'sherpa',
    available: true,
    createStream(sink) {
      const id = nextId++;
      const proxy = new WorkerStreamProxy(id, worker, sink, () => broken, () => sinks.delete(id));
      sinks.set(id, proxy);
      if (!broken) worker.postMessage({ type: 'open', id } satisfies ToWorker);
      return proxy;
    },
    async close() {
      if (closing || exited) return;
      closing = true;
      const gone = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage({ type: 'shutdown' } satisfies ToWorker);
      const timer = setTimeout(() => void worker.terminate(), 2000);
      await gone;
      clearTimeout(timer);
    },
  };
}

/** The recognizer's worker thread (sherpa-worker.ts). */
function startWorker(config: SherpaOnlineRecognizerConfig): Worker {
  return startModuleWorker(new URL('./sherpa-worker.js', import.meta.url), { config });
}

class WorkerStreamProxy implements AsrStream {
  private closed = false;
  /** endUtterance calls not yet answered (a dead worker answers them with an error). */
  private awaiting = 0;

  constructor(
    private readonly id: number,
    private readonly worker: Worker,
    private readonly sink: (event: AsrEvent) => void,
    private readonly brokenReason: () => AsrError | null,
    private readonly forget: () => void,
  ) {}

  pushAudio(samples: Int16Array): void {
    if (this.closed || this.brokenReason() || samples.length === 0) return;
    this.worker.postMessage({ type: 'audio', id: this.id, samples } satisfies ToWorker);
  }

  endUtterance(utterance: Int16Array): void {
    if (this.closed) return;
    const broken = this.brokenReason();
    if (broken) {
      setImmediate(() => { if (!this.closed) this.sink({ type: 'error', error: broken }); });
      return;
    }
    this.awaiting++;
    this.worker.postMessage({ type: 'end', id: this.id, samples: utterance } satisfies ToWorker);
  }

  reset(): void {
    if (this.closed) return;
    this.awaiting = 0;
    if (!this.brokenReason()) this.worker.postMessage({ type: 'reset', id: this.id } satisfies ToWorker);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.forget();
    if (!this.brokenReason()) this.worker.postMessage({ type: 'close', id: this.id } satisfies ToWorker);
  }

  deliver(event: WireEvent): void {
    if (this.closed) return;
    if (event.type !== 'partial') this.awaiting = Math.max(0, this.awaiting - 1);
    if (event.type === 'error') {
      this.sink({ type: 'error', error: new AsrError('sherpa', event.message.replace(/^sherpa: /, '')) });
    } else {
      this.sink(event);
    }
  }

  workerDied(error: AsrError): void {
    if (this.closed) return;
    for (; this.awaiting > 0; this.awaiting--) this.sink({ type: 'error', error });
  }
}

/** The engine around an already-loaded recognizer (the real one, or a recognizer double in tests). */
export function createSherpaEngineFromRecognizer<S extends SherpaOnlineStream>(
  recognizer: SherpaOnlineRecognizer<S>, options: SherpaEngineOptions = {},
): AsrEngine {
  const scheduler = new DecodeScheduler(recognizer);
  return {
    name: 'sherpa',
    available: true,
    createStream: (sink) => new SherpaStream(recognizer, scheduler, sink,
      options.resamplerRuntime?.create(INPUT_SAMPLE_RATE, MODEL_SAMPLE_RATE) ?? null),
    async close() { scheduler.close(); },
  };
}

/** One decode pass per event-loop turn over every stream that received audio, batched across calls. */
class DecodeScheduler<S extends SherpaOnlineStream> {
  private readonly dirty = new Set<SherpaStream<S>>();
  private scheduled = false;
  private closed = false;

  constructor(private readonly recognizer: SherpaOnlineRecognizer<S>) {}

  markDirty(stream: SherpaStream<S>): void {
    if (this.closed) return;
    this.dirty.add(stream);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.run());
    }
  }

  forget(stream: SherpaStream<S>): void {
    this.dirty.delete(stream);
  }

  close(): void {
    this.closed = true;
    this.dirty.clear();
  }

  private run(): void {
    this.scheduled = false;
    if (this.closed) return;
    const streams = [...this.dirty];
    this.dirty.clear();
    // One batched decode step for every ready stream; streams with more audio pending go round again on the
    // next turn, so a long backlog never holds the event loop for more than one step.
    const ready = streams.filter((stream) => stream.isReady());
    if (ready.length > 0) {
      try {
        if (ready.length === 1) this.recognizer.decode(ready[0]!.native);
        else this.recognizer.decodeStreams(ready.map((stream) => stream.native));
      } catch (err) {
        for (const stream of ready) stream.fail(err);
        return;
      }
    }
    for (const stream of streams) {
      const more = stream.afterDecode();
      if (more) this.markDirty(stream);
    }
  }
}

class SherpaStream<S extends SherpaOnlineStream> implements AsrStream {
  native: S;
  private closed = false;
  /** Text of segments sherpa already endpointed within this turn. */
  private committed: string[] = [];
  private lastPartial = '';
  private samplesSinceReset = 0;
  /** Set by endUtterance: after the padding is decoded, emit the final. */
  private finishing = false;
  /** A failure in mid-turn, reported as the answer to the next endUtterance. */
  private pendingError: AsrError | null = null;
  private heldBack: Int16Array[] = [];

  constructor(
    private readonly recognizer: SherpaOnlineRecognizer<S>,
    private readonly scheduler: DecodeScheduler<S>,
    private readonly sink: (event: AsrEvent) => void,
    private readonly resampler: Resampler | null,
  ) {
    this.native = recognizer.createStream();
  }

  private get feedRate(): number {
    return this.resampler ? MODEL_SAMPLE_RATE : INPUT_SAMPLE_RATE;
  }

  pushAudio(samples: Int16Array): void {
    if (this.closed || samples.length === 0) return;
    // Audio that arrives while the last turn is being finished belongs to the next one.
    if (this.finishing) this.heldBack.push(samples.slice());
    else this.accept(samples);
  }

  endUtterance(utterance: Int16Array): void {
    if (this.closed) return;
    if (this.finishing) {
      // A second end before the first final: answer it too, in order, after the first.
      setImmediate(() => this.endUtterance(utterance));
      return;
    }
    if (this.pendingError) {
      const error = this.pendingError;
      this.pendingError = null;
      setImmediate(() => { if (!this.closed) this.sink({ type: 'error', error }); });
      return;
    }
    // Engines fed only through endUtterance (e.g. a file) still get the audio.
    if (this.samplesSinceReset === 0 && utterance.length > 0) this.accept(utterance);
    // Silence plus inputFinished flushes the feature extractor so the last word is decoded; the native
    // stream is replaced after the final, so finishing its input is safe.
    if (!this.guard(() => {
      if (this.resampler) this.feed(this.resampler.flush());
      this.native.acceptWaveform({ samples: new Float32Array(Math.round(this.feedRate * TAIL_PADDING_SECONDS)), sampleRate: this.feedRate });
      this.native.inputFinished();
    })) return;
    this.finishing = true;
    this.scheduler.markDirty(this);
  }

  reset(): void {
    if (this.closed) return;
    this.scheduler.forget(this);
    this.finishing = false;
    this.pendingError = null;
    this.heldBack = [];
    this.freshStream();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.scheduler.forget(this);
    this.resampler?.destroy();
  }

  isReady(): boolean {
    if (this.closed) return false;
    try {
      return this.recognizer.isReady(this.native);
    } catch (err) {
      this.fail(err);
      return false;
    }
  }

  /** Called after each decode pass; returns true when the stream has more audio ready to decode. */
  afterDecode(): boolean {
    if (this.closed) return false;
    let result: SherpaOnlineResult;
    let endpoint: boolean;
    let more: boolean;
    try {
      result = this.recognizer.getResult(this.native);
      endpoint = this.recognizer.isEndpoint(this.native);
      more = this.recognizer.isReady(this.native);
    } catch (err) {
      this.fail(err);
      return false;
    }
    const text = normalize(result.text);
    const timing = segmentTiming(result);
    if (endpoint) {
      // sherpa's rules ended a phrase: keep its text for this turn's final and start a new segment.
      if (text) this.committed.push(text);
      if (!this.guard(() => this.recognizer.reset(this.native))) return false;
      const joined = this.committed.join(' ');
      if (joined && !this.finishing) {
        this.sink({ type: 'partial', text: joined, ...timing, endpoint: true });
      }
      this.lastPartial = joined;
    }
    const full = [...this.committed, endpoint ? '' : text].filter(Boolean).join(' ');
    if (more) {
      if (!endpoint) this.emitPartial(full, timing);
      return true;
    }
    if (this.finishing) {
      this.finishing = false;
      const heldBack = this.heldBack;
      this.heldBack = [];
      this.freshStream();
      this.sink({ type: 'final', text: full, ...timing });
      for (const samples of heldBack) this.pushAudio(samples);
      return false;
    }
    if (!endpoint) this.emitPartial(full, timing);
    return false;
  }

  /**
   * An addon call threw. The turn's audio is lost, so the stream starts over; the error answers the pending
   * endUtterance, or the next one (an error in mid-turn must not be mistaken for that turn's answer).
   */
  fail(err: unknown): void {
    if (this.closed) return;
    const error = new AsrError('sherpa', `decoding failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    const finishing = this.finishing;
    this.finishing = false;
    this.freshStream();
    if (finishing) this.sink({ type: 'error', error });
    else this.pendingError = error;
  }

  private emitPartial(text: string, timing: { startMs?: number; endMs?: number }): void {
    if (this.finishing || text === this.lastPartial) return;
    this.lastPartial = text;
    if (text) this.sink({ type: 'partial', text, ...timing });
  }

  private accept(samples: Int16Array): void {
    if (!this.guard(() => this.feed(this.resampler ? this.resampler.process(samples) : samples))) return;
    this.samplesSinceReset += samples.length;
    this.scheduler.markDirty(this);
  }

  /** PCM at feedRate into the native stream, as floats in [-1, 1). */
  private feed(pcm: Int16Array): void {
    if (pcm.length === 0) return;
    const floats = new Float32Array(pcm.length);
    for (let i = 0; i < pcm.length; i++) floats[i] = pcm[i]! / 32768;
    this.native.acceptWaveform({ samples: floats, sampleRate: this.feedRate });
  }

  private freshStream(): void {
    // A new native stream drops buffered features and decoder state; the old one is freed by its finalizer.
    this.committed = [];
    this.lastPartial = '';
    this.samplesSinceReset = 0;
    try {
      this.resampler?.reset();
      this.native = this.recognizer.createStream();
    } catch (err) {
      this.closed = true;
      this.sink({ type: 'error', error: new AsrError('sherpa', `cannot create a stream: ${(err as Error).message}`, { cause: err }) });
    }
  }

  /** Runs an addon call; a throw becomes an error event instead of escaping into the caller's frame loop. */
  private guard(fn: () => void): boolean {
    try {
      fn();
      return true;
    } catch (err) {
      this.fail(err);
      return false;
    }
  }
}

function normalize(text: string | undefined): string {
  return (text ?? '').trim().replace(/\s+/g, ' ');
}

function segmentTiming(result: SherpaOnlineResult): { startMs?: number; endMs?: number } {
  if (typeof result.start_time !== 'number') return {};
  const startMs = Math.round(result.start_time * 1000);
  const last = result.timestamps?.length ? result.timestamps[result.timestamps.length - 1]! : 0;
  return { startMs, endMs: Math.round((result.start_time + last) * 1000) };
}
