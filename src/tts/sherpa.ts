/**
 * Local neural TTS through sherpa-onnx-node's `OfflineTts`: Piper voices (VITS + espeak-ng phonemes), Kokoro,
 * or other sherpa VITS models. One sentence per `synthesize` call; sherpa's progress callback hands over audio
 * as each internal batch is done, and we pass it on in ~100 ms chunks.
 *
 * Start-up is strict because the native addon is not: a missing file is reported by sherpa only as "Please
 * check your config!", and a corrupt model or tokens file makes it abort the whole process (std::terminate
 * on an ONNX parse error, exit(-1) on a bad tokens line). So `SherpaTtsEngine.create` first checks that every
 * file exists (TtsModelMissingError naming them and the install command), then loads the model once in a
 * child process and synthesizes a probe word there (TtsModelInvalidError if that child dies), and only then
 * loads it into this process. Nothing is ever downloaded here.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join, relative } from 'node:path';
import type { Config } from '../config/index.js';
import { loadManifest, UnknownModelError, type Manifest } from '../models/manifest.js';
import { TtsError, type TtsAudio, type TtsEngine, type TtsOutputFormat } from './types.js';
import { TtsFaultError, TtsModelInvalidError, TtsModelMissingError } from './errors.js';

export type SherpaTtsKind = 'piper' | 'kokoro' | 'vits';

export interface SherpaTtsOptions {
  /** piper: VITS + espeak-ng-data; kokoro: model + voices.bin + espeak-ng-data; vits: other sherpa VITS models. */
  kind: SherpaTtsKind;
  /** The unpacked model folder, e.g. `models/vits-piper-en_US-lessac-medium`. */
  modelDir: string;
  /** Model file inside `modelDir`; default: the folder's only `*.onnx` (Piper names it after the voice). */
  modelFile?: string;
  numThreads?: number;
  /** Speaker of a multi-speaker model (Kokoro voices, multi-speaker Piper). */
  speakerId?: number;
  /** 1 = the voice's natural pace. */
  speed?: number;
  /** onnxruntime execution provider. */
  provider?: 'cpu' | 'cuda' | 'coreml';
  /** Size of the audio pieces handed to playout. */
  chunkMs?: number;
  /** Load and probe the model in a child process before loading it here (default true). */
  validate?: boolean;
  /** Longest time the validation child may take. */
  validateTimeoutMs?: number;
  /** Name under which `carevox models pull` installs this model (default: the folder name of `modelDir`). */
  modelName?: string;
}

/** The files a model needs, resolved inside `modelDir`. */
export interface SherpaTtsFiles {
  model: string;
  tokens: string;
  dataDir?: string;
  voices?: string;
  lexicon?: string;
}

/** The subset of sherpa-onnx-node's OfflineTtsConfig this adapter sets (the addon ships no typings). */
export interface SherpaOfflineTtsConfig {
  model: {
    vits?: { model: string; tokens: string; dataDir?: string; lexicon?: string };
    kokoro?: { model: string; voices: string; tokens: string; dataDir: string; lexicon?: string };
    numThreads: number;
    provider: string;
    debug: number;
  };
  maxNumSentences: number;
}

interface SherpaGeneratedAudio { samples: Float32Array; sampleRate: number }
interface SherpaOfflineTts {
  readonly sampleRate: number;
  readonly numSpeakers: number;
  generateAsync(request: {
    text: string; sid: number; speed: number;
    onProgress?: (info: { samples: Float32Array; progress: number }) => number | boolean | void;
  }): Promise<SherpaGeneratedAudio>;
}
interface SherpaModule { OfflineTts: { createAsync(config: SherpaOfflineTtsConfig): Promise<SherpaOfflineTts> } }

const require = createRequire(import.meta.url);

export const SHERPA_TTS_DEFAULTS = {
  numThreads: 1, speakerId: 0, speed: 1, provider: 'cpu', chunkMs: 100, validateTimeoutMs: 60_000,
} as const;

const ESPEAK_NG_FILES = ['phontab', 'phonindex', 'phondata', 'intonations'];

/** Which files each kind needs; a missing one is reported by its path. */
export function resolveSherpaTtsFiles(options: Pick<SherpaTtsOptions, 'kind' | 'modelDir' | 'modelFile' | 'modelName'>): SherpaTtsFiles {
  const dir = options.modelDir;
  const missing: string[] = [];
  const need = (path: string, kind: 'file' | 'dir'): string => {
    if (!isA(path, kind)) missing.push(relative(dir, path) + (kind === 'dir' ? '/' : ''));
    return path;
  };
  const model = options.modelFile ? need(join(dir, options.modelFile), 'file') : findModelFile(dir, options.kind, missing);
  const tokens = need(join(dir, 'tokens.txt'), 'file');
  const files: SherpaTtsFiles = { model, tokens };
  const espeak = join(dir, 'espeak-ng-data');
  // The espeak-ng files sherpa checks for; a half-copied espeak-ng-data is as bad as none.
  const needEspeak = (): void => { for (const f of ESPEAK_NG_FILES) need(join(espeak, f), 'file'); };
  switch (options.kind) {
    case 'piper':
      files.dataDir = espeak;
      needEspeak();
      break;
    case 'kokoro':
      files.voices = need(join(dir, 'voices.bin'), 'file');
      files.dataDir = espeak;
      needEspeak();
      break;
    case 'vits':
      if (isA(espeak, 'dir')) files.dataDir = espeak;
      break;
  }
  const lexicons = listLexicons(dir);
  if (lexicons) files.lexicon = lexicons;
  if (missing.length > 0) throw new TtsModelMissingError('sherpa', modelNameOf(options), dir, missing);
  return files;
}

/** sherpa-onnx-node's config for the resolved files (the argument mapping, kept pure so it can be tested). */
export function buildSherpaTtsConfig(kind: SherpaTtsKind, files: SherpaTtsFiles, options: Pick<SherpaTtsOptions, 'numThreads' | 'provider'> = {}): SherpaOfflineTtsConfig {
  const common = {
    numThreads: options.numThreads ?? SHERPA_TTS_DEFAULTS.numThreads,
    provider: options.provider ?? SHERPA_TTS_DEFAULTS.provider,
    debug: 0, // debug output would print the text being synthesized
  };
  // One sentence per batch, so the progress callback fires per sentence and a long reply streams.
  const maxNumSentences = 1;
  if (kind === 'kokoro') {
    return {
      model: {
        kokoro: {
          model: files.model, voices: files.voices!, tokens: files.tokens, dataDir: files.dataDir!,
          ...(files.lexicon ? { lexicon: files.lexicon } : {}),
        },
        ...common,
      },
      maxNumSentences,
    };
  }
  return {
    model: {
      vits: {
        model: files.model, tokens: files.tokens,
        ...(files.dataDir ? { dataDir: files.dataDir } : {}),
        ...(files.lexicon ? { lexicon: files.lexicon } : {}),
      },
      ...common,
    },
    maxNumSentences,
  };
}

/**
 * Engine options from the `tts` config section: the voice is looked up in the model manifest (its files and
 * kind); a voice outside the manifest works too when `sherpaModelDir` points at it.
 */
export function sherpaTtsOptionsFromConfig(tts: Config['tts'], deps: { modelsDir?: string; manifest?: Manifest } = {}): SherpaTtsOptions {
  const modelName = tts.sherpaModel;
  const modelDir = tts.sherpaModelDir ?? join(deps.modelsDir ?? 'models', modelName);
  const common = {
    modelDir, modelName, numThreads: tts.sherpaNumThreads, speakerId: tts.sherpaSpeakerId, speed: tts.sherpaSpeed,
  };
  let entry;
  try {
    entry = (deps.manifest ?? loadManifest()).find(modelName);
  } catch (err) {
    if (!(err instanceof UnknownModelError)) throw err;
    if (!tts.sherpaModelDir) {
      throw new TtsError('sherpa', `${err.message}; or set TTS_MODEL_DIR to a sherpa-onnx TTS model folder`);
    }
    return { ...common, kind: tts.sherpaKind ?? 'piper' };
  }
  if (entry.kind !== 'tts-vits' && entry.kind !== 'tts-kokoro') {
    throw new TtsError('sherpa', `model ${modelName} is a ${entry.kind} model, not a TTS voice`);
  }
  const kind: SherpaTtsKind = tts.sherpaKind ?? (entry.kind === 'tts-kokoro' ? 'kokoro' : entry.files.dataDir ? 'piper' : 'vits');
  return { ...common, kind, ...(entry.files.model ? { modelFile: entry.files.model } : {}) };
}

export class SherpaTtsEngine implements TtsEngine {
  readonly name = 'sherpa';
  readonly voice: string;
  readonly output: TtsOutputFormat;
  private readonly sampleRate: number;
  private readonly chunkSamples: number;
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;

  private constructor(
    private readonly tts: SherpaOfflineTts,
    private readonly speakerId: number,
    private readonly speed: number,
    voice: string,
    chunkMs: number,
  ) {
    this.voice = voice;
    this.sampleRate = tts.sampleRate;
    this.output = { format: 'pcm16', sampleRate: tts.sampleRate };
    this.chunkSamples = Math.max(1, Math.round((tts.sampleRate * chunkMs) / 1000));
  }

  /** Checks files, validates the model out of process, then loads it. Throws typed errors; never downloads. */
  static async create(options: SherpaTtsOptions): Promise<SherpaTtsEngine> {
    const files = resolveSherpaTtsFiles(options);
    const config = buildSherpaTtsConfig(options.kind, files, options);
    if (options.validate ?? true) {
      await probeSherpaTtsModel(config, files, options.validateTimeoutMs ?? SHERPA_TTS_DEFAULTS.validateTimeoutMs,
        { modelName: modelNameOf(options), modelDir: options.modelDir });
    }
    const sherpa = require('sherpa-onnx-node') as SherpaModule;
    let tts: SherpaOfflineTts;
    try {
      tts = await sherpa.OfflineTts.createAsync(config);
    } catch (err) {
      throw new TtsModelInvalidError('sherpa', modelNameOf(options), options.modelDir, relative(options.modelDir, files.model), (err as Error).message);
    }
    const speakerId = options.speakerId ?? SHERPA_TTS_DEFAULTS.speakerId;
    if (tts.numSpeakers > 0 && (speakerId < 0 || speakerId >= tts.numSpeakers)) {
      throw new TtsError('sherpa', `speaker id ${speakerId} is out of range: the model has speakers 0..${tts.numSpeakers - 1}`);
    }
    const voice = `${modelNameOf(options)}${tts.numSpeakers > 1 ? `#${speakerId}` : ''}`;
    return new SherpaTtsEngine(tts, speakerId, options.speed ?? SHERPA_TTS_DEFAULTS.speed, voice,
      options.chunkMs ?? SHERPA_TTS_DEFAULTS.chunkMs);
  }

  async *synthesize(text: string, signal: AbortSignal): AsyncGenerator<TtsAudio> {
    if (this.closed) throw new TtsError(this.name, 'engine is closed');
    if (signal.aborted || text.trim() === '') return;
    const pieces: Float32Array[] = [];
    let streamed = 0;
    let wake: (() => void) | undefined;
    let settled: { audio?: SherpaGeneratedAudio; error?: unknown } | undefined;

    const generation = this.tts.generateAsync({
      text, sid: this.speakerId, speed: this.speed,
      onProgress: ({ samples }) => {
        if (signal.aborted || this.closed) return 0; // stop before the next batch
        pieces.push(new Float32Array(samples)); // copy: the native buffer is not ours to keep
        wake?.();
        return 1;
      },
    }).then((audio) => { settled = { audio }; }, (error: unknown) => { settled = { error }; })
      .finally(() => { wake?.(); });
    this.track(generation);

    const onAbort = (): void => wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        if (signal.aborted) return;
        const piece = pieces.shift();
        if (piece) {
          streamed += piece.length;
          yield* this.chunks(piece, signal);
          continue;
        }
        if (settled) break;
        await new Promise<void>((resolve) => { wake = resolve; });
        wake = undefined;
      }
      if (settled.error !== undefined) {
        throw new TtsFaultError(this.name, 'synthesis', `generation failed: ${(settled.error as Error)?.message ?? String(settled.error)}`, { cause: settled.error });
      }
      // Engines that skip the progress callback still return everything at the end.
      const all = settled.audio?.samples;
      if (all && all.length > streamed) {
        const rest = all.subarray(streamed);
        streamed += rest.length;
        yield* this.chunks(rest, signal);
      }
      if (streamed === 0 && /[\p{L}\p{N}]/u.test(text)) {
        throw new TtsFaultError(this.name, 'bad-audio', 'the model produced no audio for the sentence');
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Waits for generations still running on sherpa's worker threads; the native handle is freed by GC. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
  }

  private *chunks(samples: Float32Array, signal: AbortSignal): Generator<TtsAudio> {
    for (let at = 0; at < samples.length; at += this.chunkSamples) {
      if (signal.aborted) return;
      const pcm = floatToInt16(this.name, samples.subarray(at, at + this.chunkSamples));
      yield { format: 'pcm16', sampleRate: this.sampleRate, samples: pcm };
    }
  }

  private track(promise: Promise<unknown>): void {
    this.inFlight.add(promise);
    void promise.finally(() => this.inFlight.delete(promise));
  }
}

/** Float [-1, 1] to 16-bit PCM, clamped; NaN means the model produced garbage. */
export function floatToInt16(engine: string, samples: Float32Array): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    if (Number.isNaN(s)) throw new TtsFaultError(engine, 'bad-audio', 'the model produced NaN samples');
    out[i] = Math.round(Math.max(-1, Math.min(1, s)) * 32767);
  }
  return out;
}

/**
 * Loads the model in a child process and synthesizes one word there. The child may die (SIGABRT, exit -1)
 * without harming this process; its last stderr line says why.
 */
export async function probeSherpaTtsModel(
  config: SherpaOfflineTtsConfig, files: SherpaTtsFiles, timeoutMs: number, model: { modelName: string; modelDir: string },
): Promise<{ sampleRate: number; numSpeakers: number }> {
  const invalid = (file: string, detail: string): TtsModelInvalidError =>
    new TtsModelInvalidError('sherpa', model.modelName, model.modelDir, relative(model.modelDir, file) || file, detail);
  const script = `
    const sherpa = require(process.argv[1]);
    const tts = new sherpa.OfflineTts(JSON.parse(process.argv[2]));
    const audio = tts.generate({ text: 'Hello.', sid: 0, speed: 1 });
    let finite = true;
    for (const s of audio.samples) if (!Number.isFinite(s)) { finite = false; break; }
    process.stdout.write(JSON.stringify({ sampleRate: tts.sampleRate, numSpeakers: tts.numSpeakers, samples: audio.samples.length, finite }));
  `;
  const modulePath = require.resolve('sherpa-onnx-node');
  const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ['-e', script, modulePath, JSON.stringify(config)], { timeout: timeoutMs, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, signal: error?.signal ?? null, stdout, stderr });
      });
  });
  const culprit = blameFile(result.stderr, files);
  if (result.code !== 0 || result.signal) {
    const how = result.signal ? `loader crashed with ${result.signal}` : `loader exited with code ${result.code}`;
    throw invalid(culprit, `${how}: ${lastMeaningfulLine(result.stderr)}`);
  }
  let report: { sampleRate: number; numSpeakers: number; samples: number; finite: boolean };
  try {
    report = JSON.parse(result.stdout) as typeof report;
  } catch {
    throw invalid(culprit, `loader gave no report: ${lastMeaningfulLine(result.stderr)}`);
  }
  if (!(report.sampleRate > 0)) throw invalid(files.model, `invalid sample rate ${report.sampleRate}`);
  if (report.samples === 0 || !report.finite) {
    throw invalid(files.model, report.samples === 0 ? 'the probe word produced no audio' : 'the probe word produced NaN/Inf samples');
  }
  return { sampleRate: report.sampleRate, numSpeakers: report.numSpeakers };
}

/** Which file sherpa's diagnostics point at: a path it printed, else the kind of file it names. */
function blameFile(stderr: string, files: SherpaTtsFiles): string {
  const candidates = [files.model, files.tokens, files.voices, files.lexicon, files.dataDir].filter((f): f is string => !!f);
  const byPath = candidates.find((f) => stderr.includes(f));
  if (byPath) return byPath;
  if (/tokens/i.test(stderr)) return files.tokens;
  if (files.voices && /voices/i.test(stderr)) return files.voices;
  if (files.lexicon && /lexicon/i.test(stderr)) return files.lexicon;
  if (files.dataDir && /espeak|data.?dir/i.test(stderr)) return files.dataDir;
  return files.model;
}

/** The root cause among sherpa's diagnostics: an ONNX Runtime exception, else sherpa's first complaint. */
function lastMeaningfulLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim())
    .filter((l) => l && !l.startsWith('at ') && l !== '^' && !/^Node\.js v\d/.test(l));
  const pick = lines.find((l) => l.startsWith('what():'))
    ?? lines.find((l) => /\.cc:\w+:\d+/.test(l) && !/Errors in config/.test(l))
    ?? lines.find((l) => /^\w*Error:/.test(l))
    ?? lines[lines.length - 1];
  return (pick ?? 'no diagnostics').replace(/^\S*\/sherpa-onnx\/[\w/.-]+\.cc:\w+:\d+\s*/, '').slice(0, 300);
}

function modelNameOf(options: Pick<SherpaTtsOptions, 'modelDir' | 'modelName'>): string {
  return options.modelName ?? basename(options.modelDir);
}

function isA(path: string, kind: 'file' | 'dir'): boolean {
  try {
    const stat = statSync(path);
    return kind === 'file' ? stat.isFile() && stat.size > 0 : stat.isDirectory();
  } catch {
    return false;
  }
}

function findModelFile(dir: string, kind: SherpaTtsKind, missing: string[]): string {
  const onnx = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort() : [];
  // Kokoro and most sherpa archives call it model.onnx; Piper names it after the voice (en_US-lessac-medium.onnx).
  const preferred = onnx.find((f) => f === 'model.onnx') ?? (onnx.length === 1 ? onnx[0] : undefined);
  if (preferred) return join(dir, preferred);
  if (onnx.length > 1) {
    throw new TtsError('sherpa', `${dir} holds several .onnx files (${onnx.join(', ')}); set the model file explicitly`);
  }
  const expected = kind === 'piper' ? '<voice>.onnx' : 'model.onnx';
  missing.push(expected);
  return join(dir, expected);
}

/** Kokoro v1 and some VITS models ship lexicon files; sherpa takes them comma-separated. */
function listLexicons(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  const lexicons = readdirSync(dir).filter((f) => /^lexicon(-[\w-]+)?\.txt$/.test(f)).sort().map((f) => join(dir, f));
  return lexicons.length > 0 ? lexicons.join(',') : undefined;
}
