/**
 * Latency benchmark: `npm run bench -- --calls N --seconds S [--transport twilio|sip] --json FILE [--svg FILE]`.
 *
 * Starts a carevox server (bench/server.ts) in its own process, then runs N concurrent simulated callers
 * against it. `twilio` (the default): the Twilio double (test/support/twilio-caller.ts: real-time paced 20 ms
 * mu-law frames over a real WebSocket, line noise between turns, marks echoed as Twilio plays audio). `sip`: the
 * SIP test phone (test/support/sip-caller.ts: INVITE over UDP, RTP every 20 ms on a deadline clock). Each caller
 * takes turns speaking synthesized caller audio and, every third turn, interrupts the bot mid-reply.
 * Over SIP the report adds the outbound RTP figures: as the server's pacer sent them (its per-call `rtp summary`
 * lines) and as the callers received them.
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
import { SipCaller } from '../test/support/sip-caller.js';
import { rtpArrivalStats, sipLine, twilioLine, type BenchLine } from './lines.js';
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
    transport: { type: 'string', default: 'twilio' },
  },
});
const transport = args.transport!;
if (transport !== 'twilio' && transport !== 'sip') throw new Error(`--transport must be twilio or sip, got "${transport}"`);
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
/** The server's outbound pacing of one SIP call (src/sip-bridge: the RTP session's stats). */
interface RtpSummaryLine { msg: string; rtp: Record<string, unknown> }
const sipCallers: SipCaller[] = [];

async function main(): Promise<void> {
  const port = await freePort();
  const sipPort = transport === 'sip' ? await freePort() : 0;
  const server = await startServer(port, sipPort);
  const baseUrl = `http://127.0.0.1:${port}`;
  const usage = sampleUsage(server.child.pid!);
  await scrapeMetrics(baseUrl); // resets the event-loop delay window, so start-up is not counted
  console.error(`bench: ${calls} calls for ${seconds} s against ${baseUrl}`);

  const callersCpu = process.cpuUsage();
  const callersStartedAt = performance.now();
  const deadline = performance.now() + seconds * 1000;
  const dial = transport === 'sip'
    ? async (index: number) => {
      const caller = await SipCaller.dial({ port: sipPort, from: `+1555${String(1000000 + index).slice(-7)}` });
      sipCallers.push(caller);
      return sipLine(caller);
    }
    : async (index: number) => twilioLine(await TwilioCaller.dial({ baseUrl, from: `+1555${String(1000000 + index).slice(-7)}` }));
  const results = await Promise.all(Array.from({ length: calls }, (_, i) => runCaller(dial, i, deadline)));
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
    transport, calls, seconds, asrDelayMs, endpointing: process.env.ENDPOINTING_MODE ?? 'expectation', machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    hops: Object.fromEntries(HOPS.map((h) => [h, { ...summarize(hopSamples[h]), description: HOP_DESCRIPTIONS[h] }])) as Record<Hop, Summary & { description: string }>,
    voiceToVoice: summarize(results.flatMap((r) => r.voiceToVoice)),
    bargeIn: { server: summarize(serverBargeIns), caller: summarize(results.flatMap((r) => r.bargeIn)), missed: results.reduce((n, r) => n + r.missedBargeIns, 0) },
    turns: results.reduce((n, r) => n + r.turns, 0),
    callErrors: results.flatMap((r) => r.errors),
    stageErrors,
    cpu: resources.cpu,
    rssMB: resources.rssMB,
    server: serverMetrics,
    ...(transport === 'sip' ? { rtp: rtpReport(server.rtpSummaries) } : {}),
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

async function runCaller(dial: (index: number) => Promise<BenchLine>, index: number, deadline: number): Promise<CallerResult> {
  const result: CallerResult = { voiceToVoice: [], bargeIn: [], missedBargeIns: 0, turns: 0, errors: [] };
  await sleep((index * 1000) / calls); // stagger call arrivals over the first second
  let caller: BenchLine | null = null;
  try {
    while (performance.now() < deadline) {
      if (!caller || !caller.isOpen) {
        caller = await dial(index);
        await waitForBotQuiet(caller, deadline);
      }
      const utterance = turns[result.turns % turns.length]!;
      const before = caller.mark();
      const { startedAt } = await caller.say(utterance.samples);
      const speechEndAt = startedAt + utterance.speechEndMs;
      result.turns++;
      const reply = await waitForMedia(caller, before, speechEndAt, Math.min(deadline, performance.now() + 10_000) - performance.now());
      if (reply === null) { if (performance.now() < deadline) result.errors.push(`call ${index}: no reply to ${utterance.name}`); continue; }
      result.voiceToVoice.push(reply - speechEndAt);
      if (result.turns % bargeEvery === 0 && caller.isOpen) {
        await sleep(300); // well into the reply
        if (caller.hearingBot()) {
          const mark = caller.mark();
          const said = caller.say(interruption.samples);
          const stoppedAt = await waitForStop(caller, mark, 3000);
          const { startedAt: onsetBase } = await said;
          if (stoppedAt === null) result.missedBargeIns++;
          else result.bargeIn.push(stoppedAt - (onsetBase + interruption.speechStartMs));
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

async function waitForMedia(caller: BenchLine, from: number, after: number, timeoutMs: number): Promise<number | null> {
  try {
    let found: number | null = null;
    await caller.waitFor('reply', () => {
      found = caller.firstAudioAfter(from, after);
      return found !== null || !caller.isOpen;
    }, Math.max(0, timeoutMs));
    return found;
  } catch {
    return null;
  }
}

async function waitForStop(caller: BenchLine, from: number, timeoutMs: number): Promise<number | null> {
  try {
    let stoppedAt: number | null = null;
    await caller.waitFor('the bot to stop', () => (stoppedAt = caller.audioStoppedAfter(from)) !== null, timeoutMs);
    return stoppedAt;
  } catch {
    return null;
  }
}

async function waitForBotQuiet(caller: BenchLine, deadline: number): Promise<void> {
  const limit = Math.max(0, Math.min(30_000, deadline + 5000 - performance.now()));
  await caller.waitFor('bot quiet', () => !caller.isOpen || caller.quiet(500), limit).catch(() => undefined);
}

/** Outbound RTP as the server's pacer sent it (per call) and as the callers received it. */
function rtpReport(lines: RtpSummaryLine[]) {
  const numbers = (key: string) => lines.map((l) => Number(l.rtp[key])).filter((v) => Number.isFinite(v));
  const arrivals = rtpArrivalStats(sipCallers);
  return {
    sent: {
      calls: lines.length,
      intervalJitterP95Ms: summarize(numbers('intervalJitterP95Ms')),
      maxIntervalJitterMs: Math.max(0, ...numbers('maxIntervalJitterMs')),
      maxPacketsIn20ms: Math.max(0, ...numbers('maxPacketsIn20ms')),
      lateSends: numbers('lateSends').reduce((a, b) => a + b, 0),
      inboundLost: numbers('packetsLost').reduce((a, b) => a + b, 0),
    },
    received: {
      packets: arrivals.received,
      intervalJitterMs: summarize(arrivals.intervalJitterMs),
      maxPacketsIn20ms: arrivals.maxPacketsIn20ms,
      lost: arrivals.lost,
    },
  };
}

interface RunningServer { child: ChildProcess; summaries: CallSummaryLine[]; rtpSummaries: RtpSummaryLine[]; stop(): Promise<void> }

async function startServer(port: number, sipPort: number): Promise<RunningServer> {
  const sipEnv = sipPort ? { SIP_PORT: String(sipPort), SIP_TLS_PORT: '0', SIP_HOST: '127.0.0.1' } : { SIP_ENABLED: 'false' };
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/server.ts'], {
    env: { ...process.env, ...sipEnv, BENCH_ASR_DELAY_MS: String(asrDelayMs), HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const summaries: CallSummaryLine[] = [];
  const rtpSummaries: RtpSummaryLine[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (text) => {
      let line: { msg?: string };
      try { line = JSON.parse(text) as { msg?: string }; } catch { return; }
      if (line.msg === 'bench server ready') resolve();
      if (line.msg === 'call summary') summaries.push(line as CallSummaryLine);
      if (line.msg === 'rtp summary') rtpSummaries.push(line as RtpSummaryLine);
    });
  });
  await ready;
  return {
    child, summaries, rtpSummaries,
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
