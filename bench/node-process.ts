/**
 * For the fault benchmarks: a private redis-server, and carevox's real entry point (src/main.ts, so SIGTERM
 * takes the production path) in its own process, configured through env, logs parsed from its stdout.
 * `root` may point at another checkout (e.g. a worktree of main) to measure the code before a change.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../test/support/ports.js';

export { startOwnRedis } from '../test/support/redis-server.js';

export interface NodeProcess {
  baseUrl: string;
  child: ChildProcess;
  logs: Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

export async function startNode(env: Record<string, string>, root = '.', readyTimeoutMs = 180_000): Promise<NodeProcess> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'carevox-bench-'));
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(root, 'src/main.ts')], {
    cwd: resolve(root),
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), SIP_PORT: '0', SIP_TLS_PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const logs: Record<string, unknown>[] = [];
  let pending = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      try { logs.push(JSON.parse(line) as Record<string, unknown>); } catch { /* not a log line */ }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((done) => {
    child.once('exit', (code, signal) => done({ code, signal, at: performance.now() }));
  });
  const deadline = performance.now() + readyTimeoutMs;
  while (!logs.some((l) => l.msg === 'carevox is ready to take calls')) {
    if (child.exitCode !== null) throw new Error(`carevox exited at start (code ${child.exitCode})`);
    if (performance.now() > deadline) { child.kill('SIGKILL'); throw new Error('carevox did not start'); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { baseUrl: `http://127.0.0.1:${port}`, child, logs, exited };
}

/** POSTs the after-stream webhook as Twilio does; the verb answered, and how long it took. */
export async function postAfterStream(baseUrl: string, callSid: string, timeoutMs = 30_000): Promise<{ answer: string; ms: number }> {
  const started = performance.now();
  try {
    const response = await fetch(`${baseUrl}/twilio/after-stream`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ CallSid: callSid }).toString(), signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    const verb = /<(Dial|Hangup|Say)\b/.exec(text)?.[1]?.toLowerCase() ?? `http-${response.status}`;
    return { answer: verb, ms: performance.now() - started };
  } catch (err) {
    const reason = (err as Error).name === 'TimeoutError' ? `no answer in ${timeoutMs} ms` : (err as Error).message;
    return { answer: `failed: ${reason}`, ms: performance.now() - started };
  }
}
