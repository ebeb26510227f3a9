/**
 * The embedded store's files are readable by this process's user only: directories 0700, files 0600.
 *
 * Why this is needed: PGlite creates a new data directory by untarring its initdb image through Emscripten's
 * `FS.writeFile` / `FS.mkdirTree`, whose default modes are 0666 and 0777, and Emscripten's NODEFS then applies
 * them with an explicit chmod, so the process umask does not help (a fresh directory had 968 of its files 0666).
 * Postgres itself runs with Emscripten's built-in umask of 022, so the files it creates later are 0644.
 * `PrivateNodeFS` masks group/other bits out of every file and directory Emscripten creates, the way
 * `umask 077` would; `tightenTree` fixes a directory written by an older carevox.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { NodeFS } from '@electric-sql/pglite/nodefs';

/** Group and other permission bits: none may be set on the store's files. */
const GROUP_OTHER = 0o077;

/** Creates `path` (and parents) if missing and makes it 0700, whoever created it. */
export function ensurePrivateDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  tighten(path);
}

/**
 * Removes group/other permissions from `root` and everything below it (directories 0700, files 0600; symbolic
 * links are left alone, chmod would follow them). Returns how many entries had to change.
 */
export function tightenTree(root: string): number {
  let changed = tighten(root) ? 1 : 0;
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) changed += tightenTree(path);
    else if (entry.isFile() && tighten(path)) changed++;
  }
  return changed;
}

/** Makes one file 0600 / directory 0700 if it is more open; true when it changed. */
export function tighten(path: string): boolean {
  const stat = lstatSync(path);
  if (stat.isSymbolicLink() || (stat.mode & GROUP_OTHER) === 0) return false;
  chmodSync(path, stat.isDirectory() ? 0o700 : 0o600);
  return true;
}

interface EmscriptenFs {
  open(path: unknown, flags: unknown, mode?: number): unknown;
  mkdir(path: string, mode?: number): unknown;
}

/** PGlite's Node filesystem with a 077 umask on everything Emscripten creates in the data directory. */
export class PrivateNodeFS extends NodeFS {
  constructor(dataDir: string) {
    ensurePrivateDir(dataDir); // before NodeFS, which would create it with the process umask
    super(dataDir);
  }

  override async init(pg: PGlite, opts: Parameters<NodeFS['init']>[1]): ReturnType<NodeFS['init']> {
    const result = await super.init(pg, opts);
    const preRun = result.emscriptenOpts.preRun ?? [];
    result.emscriptenOpts.preRun = [...preRun, (mod) => maskCreationModes(mod.FS as unknown as EmscriptenFs)];
    return result;
  }
}

/**
 * Every file Emscripten creates goes through `FS.open` (writeFile, the open syscall) and every directory through
 * `FS.mkdir` (mkdirTree, the mkdir syscall); both apply the mode they are given with chmod after creating.
 * The defaults (when no mode is given) are Emscripten's: 0666 and 0777.
 */
function maskCreationModes(fs: EmscriptenFs): void {
  const open = fs.open.bind(fs);
  const mkdir = fs.mkdir.bind(fs);
  fs.open = (path, flags, mode) => open(path, flags, (mode ?? 0o666) & ~GROUP_OTHER);
  fs.mkdir = (path, mode) => mkdir(path, (mode ?? 0o777) & ~GROUP_OTHER);
}
