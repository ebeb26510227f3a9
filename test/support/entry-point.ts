/**
 * Runs a carevox entry point (`node --import tsx FILE`) as a child process with a clean environment, for tests
 * of what a supervisor sees: exit status, stderr, and whether the process ends at all.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface EntryPointResult {
  /** null when it was killed, e.g. for running past `hangBoundMs`. */
  code: number | null;
  /** True when it was still running at `hangBoundMs` and was killed. */
  hung: boolean;
  stdout: string;
  stderr: string;
  /** stderr's non-empty lines. */
  stderrLines: string[];
}

/**
 * Starts `file` (relative to the repository root) with only `env` (plus PATH and HOME) and waits for it to
 * exit; past `hangBoundMs` it is killed and reported as hung. The bound is a limit on "never exits", not a speed.
 */
export function runEntryPoint(file: string, env: Record<string, string>, hangBoundMs: number): Promise<EntryPointResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', SIP_PORT: '0', SIP_TLS_PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let hung = false;
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, hangBoundMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, hung, stdout, stderr, stderrLines: stderr.split('\n').filter((line) => line.trim()) });
    });
  });
}

/** A TCP port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function unusedPort(): Promise<number> {
  const server = await listenOnLoopback(() => undefined);
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A TCP server on 127.0.0.1 (ephemeral port); `onConnection` gets each socket. */
export function listenOnLoopback(onConnection: (socket: Socket) => void): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(onConnection);
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}
