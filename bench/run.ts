/**
 * Latency benchmark: `npm run bench -- --calls N --seconds S --json FILE [--svg FILE]`.
 *
 * Starts a carevox server (bench/server.ts) in its own process, then runs N concurrent simulated Twilio
 * callers against it (test/support/twilio-caller.ts: real-time paced 20 ms mu-law frames over a real
 * WebSocket, line noise between turns, marks echoed as Twilio plays audio). Each caller takes turns speaking
 * synthesized caller audio and, every third turn, interrupts the bot mid-reply.
 *
 * Reported: per-hop latencies from the server's own monotonic-clock measurements (its per-call summary log
 * lines), voice-to-voice latency (caller's end of speech -> first bot audio frame received) and barge-in
 * latency (speech onset -> clear) measured by the callers, and the server's CPU and memory (process tree).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { HOPS, HOP_DESCRIPTIONS, type Hop } from '../src/metrics/index.js';
import { TwilioCaller } from '../test/support/twilio-caller.js';
import { freePort } from '../test/support/ports.js';
import { positiveInt, wholeNumber } from './cli.js';
import { renderSvg } from './plot.js';
import { summarize, type Summary } from './stats.js';
import { BENCH_UTTERANCES, INTERRUPTION, type Utterance } from './utterances.js';

const { values: args } = parseArgs({
  options: {
    calls: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '60' },
    json: { type: 'string', default: 'bench/out/latency.json' },
    svg: { type: 'string' },
    'barge-every': { type: 'string', default: '3' },
    // The transcript double's final comes this long after each segment, as a real engine's would.
    'asr-delay-ms': { type: 'string', default: '150' },
  },
});
const calls = positiveInt('calls', args.calls!);
const seconds = positiveInt('seconds', args.seconds!);
const bargeEvery = positiveInt('barge-every', args['barge-every']!);
const asrDelayMs = wholeNumber('asr-delay-ms', args['asr-delay-ms']!);
const jsonPath = args.json!;
const svgPath = args.svg ?? jsonPath.replace(/\.json$/, '') + '.svg';

const utterances = BENCH_UTTERANCES();
const turns = utterances.filter((u) => u.name !== `${INTERRUPTION}.wav`);
const interruption = utterances.find((u) => u.name === `${INTERRUPTION}.wav`)!;

interface CallSummaryLine { msg: string; latency: { vad: { sampleMs: number[] }; asrMs: number[]; dialogMs: number[]; ttsMs: number[]; playoutMs: number[]; bargeInMs: number[] }; stageErrors: number }

async function main(): Promise<void> {
  const port = await freePort();
  const server = await startServer(port);
  const baseUrl = `http://127.0.0.1:${port}`;
  const usage = sampleUsage(server.child.pid!);
  await scrapeMetrics(baseUrl); // resets the event-loop delay window, so start-up is not counted
  console.error(`bench: ${calls} calls for ${seconds} s against ${baseUrl}`);

  const callersCpu = process.cpuUsage();
  const callersStartedAt = performance.now();
  const deadline = performance.now() + seconds * 1000;
  const results = await Promise.all(Array.from({ length: calls }, (_, i) => runCaller(baseUrl, i, deadline)));
  await new Promise((r) => setTimeout(r, 1000)); // let the last summaries be written
  const serverMetrics = parseServerMetrics(await scrapeMetrics(baseUrl));
  const resources = usage.stop();
  const callersCpuMs = Object.values(process.cpuUsage(callersCpu)).reduce((a, b) => a + b, 0) / 1000;
  const callersCpuPercent = Math.round((1000 * callersCpuMs) / (performance.now() - callersStartedAt)) / 10;
  await server.stop();

  const hopSamples: Record<Hop, number[]> = { vad: [], asr: [], dialog: [], tts: [], playout: [] };
  const serverBargeIns: number[] = [];
  let stageErrors = 0;
  for (const line of server.summaries) {
    hopSamples.vad.push(...line.latency.vad.sampleMs);
    hopSamples.asr.push(...line.latency.asrMs);
    hopSamples.dialog.push(...line.latency.dialogMs);
    hopSamples.tts.push(...line.latency.ttsMs);
    hopSamples.playout.push(...line.latency.playoutMs);
    serverBargeIns.push(...line.latency.bargeInMs);
    stageErrors += line.stageErrors;
  }
  const report = {
    calls, seconds, asrDelayMs, endpointing: process.env.ENDPOINTING_MODE ?? 'expectation', machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    hops: Object.fromEntries(HOPS.map((h) => [h, { ...summarize(hopSamples[h]), description: HOP_DESCRIPTIONS[h] }])) as Record<Hop, Summary & { description: string }>,
    voiceToVoice: summarize(results.flatMap((r) => r.voiceToVoice)),
    bargeIn: { server: summarize(serverBargeIns), caller: summarize(results.flatMap((r) => r.bargeIn)), missed: results.reduce((n, r) => n + r.missedBargeIns, 0) },
    turns: results.reduce((n, r) => n + r.turns, 0),
    callErrors: results.flatMap((r) => r.errors),
    stageErrors,
    cpu: resources.cpu,
    rssMB: resources.rssMB,
    server: serverMetrics,
    // The simulated callers share the machine with the server: their CPU is load the server did not get.
    callersCpuPercent,
  };
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, JSON.stringify(report, null, 2) + '\n');
  writeFileSync(svgPath, renderSvg(report));
  console.log(JSON.stringify(report, null, 2));
  console.error(`bench: wrote ${jsonPath} and ${svgPath}`);
}

async function scrapeMetrics(baseUrl: string): Promise<string> {
  const response = await fetch(`${baseUrl}/metrics`);
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
  return response.text();
}

/** What the server's /metrics says about its main event loop and its batched VAD inference over the run. */
function parseServerMetrics(text: string) {
  const value = (name: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line ? Number(line.slice(name.length + 1)) : Number.NaN;
  };
  const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
  const inferences = value('carevox_vad_batch_windows_count');
  return {
    eventLoopDelayMs: {
      p50: round(value('nodejs_eventloop_lag_p50_seconds') * 1000),
      p99: round(value('nodejs_eventloop_lag_p99_seconds') * 1000),
      max: round(value('nodejs_eventloop_lag_max_seconds') * 1000),
    },
    vad: {
      inferences,
      windowsPerInference: round(value('carevox_vad_batch_windows_sum') / inferences),
      meanInferenceMs: round(value('carevox_vad_batch_ms_sum') / inferences, 3),
    },
  };
}

interface CallerResult { voiceToVoice: number[]; bargeIn: number[]; missedBargeIns: number; turns: number; errors: string[] }

async function runCaller(baseUrl: string, index: number, deadline: number): Promise<CallerResult> {
  const result: CallerResult = { voiceToVoice: [], bargeIn: [], missedBargeIns: 0, turns: 0, errors: [] };
  await sleep((index * 1000) / calls); // stagger call arrivals over the first second
  let caller: TwilioCaller | null = null;
  try {
    while (performance.now() < deadline) {
      if (!caller || !caller.isOpen) {
        caller = await TwilioCaller.dial({ baseUrl, from: `+1555${String(1000000 + index).slice(-7)}` });
        await waitForBotQuiet(caller, deadline);
      }
      const utterance = turns[result.turns % turns.length]!;
      const before = caller.received.length;
      const { startedAt } = await caller.say(utterance.samples);
      const speechEndAt = startedAt + utterance.speechEndMs;
      result.turns++;
      const reply = await waitForMedia(caller, before, speechEndAt, Math.min(deadline, performance.now() + 10_000) - performance.now());
      if (reply === null) { if (performance.now() < deadline) result.errors.push(`call ${index}: no reply to ${utterance.name}`); continue; }
      result.voiceToVoice.push(reply - speechEndAt);
      if (result.turns % bargeEvery === 0 && caller.isOpen) {
        await sleep(300); // well into the reply
        if (caller.bufferedMs > 0 || performance.now() - (caller.received.at(-1)?.at ?? 0) < 100) {
          const mark = caller.received.length;
          const said = caller.say(interruption.samples);
          const clearAt = await waitForClear(caller, mark, 3000);
          const { startedAt: onsetBase } = await said;
          if (clearAt === null) result.missedBargeIns++;
          else result.bargeIn.push(clearAt - (onsetBase + interruption.speechStartMs));
        }
      }
      await waitForBotQuiet(caller, deadline);
    }
  } catch (err) {
    if (performance.now() < deadline) result.errors.push(`call ${index}: ${(err as Error).message}`);
  } finally {
    await caller?.hangUp().catch(() => undefined);
  }
  return result;
}

async function waitForMedia(caller: TwilioCaller, from: number, after: number, timeoutMs: number): Promise<number | null> {
  try {
    let found: number | null = null;
    await caller.waitFor('reply', () => {
      for (let i = from; i < caller.received.length; i++) {
        const e = caller.received[i]!;
        if (e.kind === 'media' && e.at > after) { found = e.at; return true; }
      }
      return !caller.isOpen;
    }, Math.max(0, timeoutMs));
    return found;
  } catch {
    return null;
  }
}

async function waitForClear(caller: TwilioCaller, from: number, timeoutMs: number): Promise<number | null> {
  try {
    await caller.waitFor('clear', () => caller.received.slice(from).some((e) => e.kind === 'clear'), timeoutMs);
    return caller.received.slice(from).find((e) => e.kind === 'clear')!.at;
  } catch {
    return null;
  }
}

async function waitForBotQuiet(caller: TwilioCaller, deadline: number): Promise<void> {
  const limit = Math.max(0, Math.min(30_000, deadline + 5000 - performance.now()));
  await caller.waitFor('bot quiet', () => {
    if (!caller.isOpen) return true;
    const last = caller.received.at(-1);
    return last !== undefined && caller.bufferedMs === 0 && performance.now() - last.at > 500;
  }, limit).catch(() => undefined);
}

interface RunningServer { child: ChildProcess; summaries: CallSummaryLine[]; stop(): Promise<void> }

async function startServer(port: number): Promise<RunningServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/server.ts'], {
    env: { ...process.env, BENCH_ASR_DELAY_MS: String(asrDelayMs), HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const summaries: CallSummaryLine[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (text) => {
      let line: { msg?: string };
      try { line = JSON.parse(text) as { msg?: string }; } catch { return; }
      if (line.msg === 'bench server ready') resolve();
      if (line.msg === 'call summary') summaries.push(line as CallSummaryLine);
    });
  });
  await ready;
  return {
    child, summaries,
    stop: () => new Promise((resolve) => { child.removeAllListeners('exit'); child.once('exit', () => resolve()); child.kill('SIGTERM'); }),
  };
}

/** CPU (% of one core) and resident memory of a process and all its descendants (flite workers), from /proc. */
function sampleUsage(rootPid: number): { stop(): { cpu: { meanPercent: number; maxPercent: number }; rssMB: { max: number; end: number } } } {
  const ticksPerSecond = 100;
  const pageKb = 4;
  let lastTicks = treeTicks(rootPid);
  let lastAt = performance.now();
  const startTicks = lastTicks;
  const startAt = lastAt;
  let maxPercent = 0;
  let maxRss = 0;
  let lastRss = 0;
  const timer = setInterval(() => {
    const ticks = treeTicks(rootPid);
    const now = performance.now();
    maxPercent = Math.max(maxPercent, ((ticks - lastTicks) / ticksPerSecond) / ((now - lastAt) / 1000) * 100);
    lastTicks = ticks; lastAt = now;
    lastRss = treeRssPages(rootPid) * pageKb / 1024;
    maxRss = Math.max(maxRss, lastRss);
  }, 1000);
  return {
    stop: () => {
      clearInterval(timer);
      const meanPercent = ((lastTicks - startTicks) / ticksPerSecond) / ((lastAt - startAt) / 1000) * 100;
      return { cpu: { meanPercent: round(meanPercent), maxPercent: round(maxPercent) }, rssMB: { max: round(maxRss), end: round(lastRss) } };
    },
  };
}

function processTree(rootPid: number): number[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* exited */ }
  }
  const tree = [rootPid];
  for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of parents) if (ppid === tree[i]) tree.push(pid);
  return tree;
}

function treeTicks(rootPid: number): number {
  let ticks = 0;
  for (const pid of processTree(rootPid)) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime + stime
    } catch { /* exited */ }
  }
  return ticks;
}

function treeRssPages(rootPid: number): number {
  let pages = 0;
  for (const pid of processTree(rootPid)) {
    try { pages += Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]); } catch { /* exited */ }
  }
  return pages;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (v: number) => Math.round(v * 10) / 10;

main().catch((err: unknown) => { console.error(`bench: ${(err as Error).stack ?? String(err)}`); process.exitCode = 1; });

export type { Utterance };
