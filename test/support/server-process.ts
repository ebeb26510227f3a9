/**
 * Starts test/support/server-child.fixture.ts (a real carevox server) in its own process on a loopback port,
 * for tests and benchmarks that kill it (kill -9) and look at what it left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./server-child.fixture.ts', import.meta.url));

export interface ServerProcess {
  baseUrl: string;
  child: ChildProcess;
  /** Parsed JSON log lines so far. */
  logs: Record<string, unknown>[];
  /** SIGKILL, resolved once the process is gone. */
  kill(): Promise<void>;
}

export async function startServerProcess(env: Record<string, string>, startTimeoutMs = 60_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    // SIP on a free port too: test processes run side by side.
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', SIP_PORT: '0', SIP_TLS_PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-4000); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`server child not ready: ${stderr}`)); }, startTimeoutMs);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`server child exited with ${code}: ${stderr}`)); });
    createInterface({ input: child.stdout! }).on('line', (text) => {
      let line: Record<string, unknown>;
      try { line = JSON.parse(text) as Record<string, unknown>; } catch { return; }
      logs.push(line);
      if (line.msg === 'server child ready') { clearTimeout(timer); resolve(line.port as number); }
    });
  });
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    child, logs,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
