/**
 * Call records lost after `kill -9`: `npm run bench:crash [-- --calls 30 --live 10 --grace-ms 0]`.
 *
 * Starts a real carevox server in its own process on loopback with a fresh embedded store (PGlite), runs N
 * concurrent simulated Twilio calls (test/support/twilio-caller.ts: real-time paced mu-law over a real
 * WebSocket). Every caller hears the greeting, asks a question and hears the answer; then the `live` ones
 * ask again and, while their second answer is playing, the others hang up and the server is killed with
 * SIGKILL the moment their sockets close ("just ended"). The store is then reopened, the start-up sweep that
 * marks this node's unended calls `interrupted` is run, and what is in the store is compared with what the
 * callers know happened: a caller turn for every question that got an answer, a bot turn for every sentence
 * whose mark the caller echoed as played. Prints JSON.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { markInterruptedCalls, openStore, INTERRUPTED_OUTCOME } from '../src/store/index.js';
import { startServerProcess } from '../test/support/server-process.js';
import { TwilioCaller } from '../test/support/twilio-caller.js';
import { BENCH_UTTERANCES } from './utterances.js';

const { values: args } = parseArgs({
  options: { calls: { type: 'string', default: '30' }, live: { type: 'string', default: '10' }, 'grace-ms': { type: 'string', default: '0' } },
});
const calls = Number(args.calls);
const liveCount = Number(args.live);
/** Time between the last hang-up and the kill (0: the moment their sockets close). */
const graceMs = Number(args['grace-ms']);
if (!Number.isInteger(calls) || !Number.isInteger(liveCount) || calls < 1 || liveCount < 0 || liveCount > calls) {
  throw new Error('--calls and --live must be integers with 0 <= live <= calls');
}
const NODE_ID = 'bench-crash-node';
/** The whole run is bounded: anything slower than this is reported as such, not waited for. */
const STEP_TIMEOUT_MS = 40_000;

const utterances = BENCH_UTTERANCES().filter((u) => u.name !== 'no-wait-stop.wav');

async function main(): Promise<void> {
  const startedAt = performance.now();
  const dataDir = mkdtempSync(join(tmpdir(), 'carevox-bench-crash-'));
  const key = randomBytes(32).toString('base64');
  const server = await startServerProcess({
    DATA_DIR: dataDir, DATA_ENCRYPTION_KEY: key, NODE_ID, LOG_LEVEL: 'warn',
    CHILD_TRANSCRIPTS: utterances.map((u) => u.name.replace(/\.wav$/, '')).join(','),
  }, 90_000);
  const callers: TwilioCaller[] = [];
  const questionsAnswered = new Map<TwilioCaller, number>();
  const errors: string[] = [];
  try {
    console.error(`bench:crash: ${calls} calls against ${server.baseUrl}`);
    // Everyone: greeting, a question, its answer.
    await Promise.all(Array.from({ length: calls }, async (_, i) => {
      await sleep((i * 1000) / calls);
      const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl, from: `+1555${String(2000000 + i).slice(-7)}` });
      callers.push(caller);
      questionsAnswered.set(caller, 0);
      await botQuiet(caller);
      await ask(caller, i);
      await botQuiet(caller);
    }).map((p) => p.catch((err: unknown) => { errors.push((err as Error).message); })));

    const live = callers.slice(0, liveCount);
    const ending = callers.slice(liveCount);
    // The live ones ask again; once each is hearing its answer, the others hang up and the server dies.
    await Promise.all(live.map((caller, i) => ask(caller, i + 1).catch((err: unknown) => { errors.push((err as Error).message); })));
    await Promise.all(ending.map((caller) => caller.hangUp().catch(() => undefined)));
    if (graceMs > 0) await sleep(graceMs);
  } finally {
    await server.kill();
  }
  const killedAt = performance.now();
  for (const caller of callers) await caller.hangUp().catch(() => undefined);

  const store = await openStore({ dataDir, encryptionKey: key, keyId: 'k1' });
  try {
    const beforeSweep = await Promise.all(callers.map(async (c) => ({ caller: c, call: await store.calls.get(c.callSid), turns: await store.turns.list(c.callSid) })));
    const interrupted = new Set(await markInterruptedCalls(store, NODE_ID));
    const liveSet = new Set(callers.slice(0, liveCount));
    /**
     * Expected turns are what the caller knows happened: each answered question, each sentence it echoed as
     * played. The store may hold more (a sentence cut off by a hang-up is recorded as heard so far, with no
     * mark echoed); `missing` counts, per call, expected turns of a speaker beyond those found.
     */
    const turnStats = (rows: typeof beforeSweep) => {
      const stats = { expected: 0, found: 0, missing: 0, callsMissingTurns: 0 };
      for (const { caller, turns } of rows) {
        const expectedBot = caller.echoedMarks.filter((m) => !m.cleared).length;
        const expectedCaller = questionsAnswered.get(caller) ?? 0;
        const foundBot = turns.filter((t) => t.speaker === 'bot').length;
        const foundCaller = turns.filter((t) => t.speaker === 'caller').length;
        const missing = Math.max(0, expectedBot - foundBot) + Math.max(0, expectedCaller - foundCaller);
        stats.expected += expectedBot + expectedCaller;
        stats.found += foundBot + foundCaller;
        stats.missing += missing;
        if (missing > 0) stats.callsMissingTurns++;
      }
      return stats;
    };
    const group = (inLive: boolean) => {
      const rows = beforeSweep.filter((r) => liveSet.has(r.caller) === inLive);
      return {
        expected: rows.length,
        found: rows.filter((r) => r.call).length,
        withOutcome: rows.filter((r) => r.call?.outcome).length,
        markedInterrupted: rows.filter((r) => interrupted.has(r.caller.callSid)).length,
        turns: turnStats(rows),
      };
    };
    const report = {
      store: 'pglite',
      killedMsAfterHangUps: graceMs,
      calls: { expected: callers.length, found: beforeSweep.filter((r) => r.call).length },
      endedBeforeKill: group(false),
      liveAtKill: group(true),
      turns: turnStats(beforeSweep),
      interrupted: beforeSweep.filter((r) => interrupted.has(r.caller.callSid)).length,
      interruptedOutcomeStored: (await Promise.all(callers.map((c) => store.calls.get(c.callSid)))).filter((c) => c?.outcome === INTERRUPTED_OUTCOME).length,
      dialed: callers.length,
      callerErrors: errors,
      secondsToKill: Math.round((killedAt - startedAt) / 100) / 10,
      seconds: Math.round((performance.now() - startedAt) / 100) / 10,
    };
    console.log(JSON.stringify(report, null, 2));
  } finally {
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  }

  /** Says the i-th question; counts it answered once reply audio arrives after it. */
  async function ask(caller: TwilioCaller, i: number): Promise<void> {
    const utterance = utterances[i % utterances.length]!;
    const before = caller.received.length;
    await caller.say(utterance.samples);
    await caller.waitFor('an answer', () => caller.mediaCount(before) > 10, STEP_TIMEOUT_MS);
    questionsAnswered.set(caller, (questionsAnswered.get(caller) ?? 0) + 1);
  }
}

async function botQuiet(caller: TwilioCaller): Promise<void> {
  await caller.waitFor('the bot to finish speaking', () => {
    const last = caller.received.at(-1);
    return last !== undefined && caller.bufferedMs === 0 && performance.now() - last.at > 500;
  }, STEP_TIMEOUT_MS);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

await main();
