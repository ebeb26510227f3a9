/**
 * DTMF-flood benchmark: `npm run bench:dtmf-flood -- [--counts 500,5000] [--digit '#'] [--settle-ms 3000]`.
 *
 * What one call's keypad burst does to another call's audio. For each count N it starts a fresh carevox
 * server (bench/server.ts, its own process), then:
 *   - caller A (this process) dials and listens to its greeting, which plays from the phrase cache, so its
 *     frames arrive every 20 ms when nothing disturbs the server;
 *   - caller B (a child process, so sending the burst does not stall A's own event loop) dials and, once
 *     A is well into its greeting, sends N `dtmf` messages at once;
 *   - right after the burst is written, this process times a GET /metrics.
 * Reported per N, as JSON: the max and p99 gap between consecutive media frames arriving at caller A from
 * the burst until `settle-ms` after /metrics answered (or A's audio ended), how long /metrics took, the
 * server's own event-loop delay over the burst (its prom-client monitor, independent of the callers' CPU)
 * and its dropped-event counter. N = 0 is run first as the undisturbed baseline.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { TwilioCaller } from '../test/support/twilio-caller.js';
import { freePort } from '../test/support/ports.js';

const { values: args } = parseArgs({
  options: {
    counts: { type: 'string', default: '500,5000' },
    digit: { type: 'string', default: '#' },
    'settle-ms': { type: 'string', default: '3000' },
    // Internal: the flooding caller's child process.
    role: { type: 'string', default: 'bench' },
    'base-url': { type: 'string' },
    count: { type: 'string' },
  },
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (v: number) => Math.round(v * 10) / 10;

interface RunResult {
  dtmf: number;
  callerA: { frames: number; windowMs: number; maxGapMs: number; p99GapMs: number; meanGapMs: number };
  metricsMs: number;
  serverDroppedInboundEvents: Record<string, number>;
  /** The server's own event-loop delay (max, ms) from just before the burst to the end of the settle time. */
  serverEventLoopMaxMs: number;
}

async function bench(): Promise<void> {
  const counts = [0, ...args.counts!.split(',').map((c) => Number(c.trim()))];
  for (const n of counts) if (!Number.isInteger(n) || n < 0) throw new Error(`--counts: "${args.counts}" is not a list of integers`);
  const settleMs = Number(args['settle-ms']);
  const runs: RunResult[] = [];
  for (const n of counts) {
    runs.push(await runOnce(n, args.digit!, settleMs));
    console.error(`bench: ${JSON.stringify(runs.at(-1))}`);
  }
  console.log(JSON.stringify({ digit: args.digit, settleMs, machine: { cpus: (await import('node:os')).cpus().length, node: process.version }, runs }, null, 2));
}

async function runOnce(count: number, digit: string, settleMs: number): Promise<RunResult> {
  const server = await startServer();
  const baseUrl = server.baseUrl;
  try {
    const a = await TwilioCaller.dial({ baseUrl, from: '+15550100001' });
    await a.waitFor('A hears its greeting', () => a.mediaCount() > 0, 30_000);
    const flooder = await startFlooder(baseUrl, count, digit);
    await sleep(1000);
    await (await fetch(`${baseUrl}/metrics`)).text(); // starts the server's event-loop delay window afresh // A's greeting is steady; B is in its own greeting (the bot is speaking to it)
    const from = a.received.length;
    const floodAt = performance.now();
    await flooder.flood();
    const metricsStart = performance.now();
    const during = await (await fetch(`${baseUrl}/metrics`)).text();
    const metricsMs = performance.now() - metricsStart;
    await sleep(settleMs);
    const arrivals = a.received.slice(from).filter((e) => e.kind === 'media').map((e) => e.at);
    const gaps: number[] = [];
    let previous = floodAt;
    for (const at of arrivals) { gaps.push(at - previous); previous = at; }
    gaps.sort((x, y) => x - y);
    const after = await (await fetch(`${baseUrl}/metrics`)).text();
    await flooder.stop();
    await a.hangUp().catch(() => undefined);
    return {
      dtmf: count,
      callerA: {
        frames: arrivals.length,
        windowMs: round((arrivals.at(-1) ?? floodAt) - floodAt),
        maxGapMs: round(gaps.at(-1) ?? Number.NaN),
        p99GapMs: round(gaps[Math.min(gaps.length - 1, Math.floor(gaps.length * 0.99))] ?? Number.NaN),
        meanGapMs: round(gaps.reduce((s, g) => s + g, 0) / Math.max(1, gaps.length)),
      },
      metricsMs: round(metricsMs),
      serverDroppedInboundEvents: labelled(after, 'carevox_inbound_events_dropped_total', 'kind'),
      // A block is recorded when the monitor's timer next fires, which may be after the scrape sent right
      // after the burst was answered: take the larger of that scrape and the one after the settle time.
      serverEventLoopMaxMs: round(Math.max(value(during, 'nodejs_eventloop_lag_max_seconds'), value(after, 'nodejs_eventloop_lag_max_seconds')) * 1000),
    };
  } finally {
    await server.stop();
  }
}

function value(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : Number.NaN;
}

function labelled(text: string, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}\\{${label}="([^"]+)"\\} (\\S+)$`).exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

interface Flooder { flood(): Promise<void>; stop(): Promise<void> }

/** Caller B in its own process: dials, waits for its greeting, floods on request. */
async function startFlooder(baseUrl: string, count: number, digit: string): Promise<Flooder> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/dtmf-flood.ts', '--role', 'flooder', '--base-url', baseUrl, '--count', String(count), '--digit', digit], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const waitLine = (want: string) => new Promise<void>((resolve, reject) => {
    const onLine = (line: string) => { if (line === want) { lines.off('line', onLine); resolve(); } };
    lines.on('line', onLine);
    child.once('exit', (code) => reject(new Error(`flooder exited with ${code} before "${want}"`)));
  });
  await waitLine('ready');
  return {
    flood: async () => { const sent = waitLine('flooded'); child.stdin!.write('flood\n'); await sent; },
    stop: () => stopChild(child, () => child.stdin!.write('stop\n')),
  };
}

async function flooderMain(): Promise<void> {
  const count = Number(args.count);
  const caller = await TwilioCaller.dial({ baseUrl: args['base-url']!, from: '+15550100002' });
  await caller.waitFor('B hears its greeting', () => caller.mediaCount() > 0, 30_000);
  console.log('ready');
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'flood') {
      for (let i = 0; i < count; i++) caller.pressDigit(args.digit!);
      console.log('flooded');
    } else if (line === 'stop') {
      await caller.hangUp().catch(() => undefined);
      process.exit(0);
    }
  }
}

interface BenchServer { baseUrl: string; stop(): Promise<void> }

async function startServer(): Promise<BenchServer> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'carevox-dtmf-flood-'));
  const child = spawn(process.execPath, [...(process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []), '--import', 'tsx', 'bench/server.ts'], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
    const poll = async () => {
      for (;;) {
        try { if ((await fetch(`${baseUrl}/health`)).ok) return resolve(); } catch { /* not yet */ }
        await sleep(200);
      }
    };
    void poll();
  });
  child.stdout!.resume();
  return {
    baseUrl,
    stop: async () => { await stopChild(child, () => child.kill('SIGTERM')); rmSync(dataDir, { recursive: true, force: true }); },
  };
}

function stopChild(child: ChildProcess, ask: () => void): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => { clearTimeout(kill); resolve(); });
    ask();
  });
}

(args.role === 'flooder' ? flooderMain() : bench())
  .catch((err: unknown) => { console.error(`bench: ${(err as Error).stack ?? String(err)}`); process.exitCode = 1; });
