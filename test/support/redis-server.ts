/**
 * A private redis-server for outage tests, on a free loopback port, that a test may stop, freeze or kill.
 * The shared Redis on 6379 is never touched.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { freePort } from './ports.js';

export interface OwnRedis {
  url: string;
  port: number;
  /** SIGSTOP: the socket stays open and nothing answers (a hung Redis). */
  freeze(): void;
  /** SIGCONT after freeze. */
  thaw(): void;
  /** Kills the server and waits for it to be gone (connections are refused from then on). */
  kill(): Promise<void>;
}

export async function startOwnRedis(timeoutMs = 10_000): Promise<OwnRedis> {
  const port = await freePort();
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  let exited = false;
  const gone = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve(); }));
  const deadline = performance.now() + timeoutMs;
  while (!(await answersPing(port))) {
    if (exited) throw new Error('redis-server exited at start');
    if (performance.now() > deadline) { child.kill('SIGKILL'); throw new Error('redis-server did not start'); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    freeze: () => { child.kill('SIGSTOP'); },
    thaw: () => { child.kill('SIGCONT'); },
    kill: async () => {
      if (!exited) { child.kill('SIGCONT'); child.kill('SIGKILL'); }
      await gone;
    },
  };
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (ok: boolean) => { socket.destroy(); resolve(ok); };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}
