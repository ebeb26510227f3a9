/**
 * Drain benchmark: `npm run bench:drain -- [--calls 10] [--drain-seconds 2] [--redis up|down|frozen] [--root DIR]`.
 *
 * Starts carevox (src/main.ts) with its own redis-server, dials N live calls (the Twilio double), then sends
 * SIGTERM, after killing Redis (`--redis down`) or freezing it with SIGSTOP (`--redis frozen`: connected,
 * silent). Each caller posts the after-stream webhook the moment its stream ends, as Twilio does. Prints JSON: each call's recorded outcome (from the server's call summary
 * line), how its stream ended, the after-stream answer, and how long SIGTERM -> process exit took.
 * `--root` runs another checkout's server (e.g. a worktree of main) for a before/after comparison.
 */
import { parseArgs } from 'node:util';
import { TwilioCaller } from '../test/support/twilio-caller.js';
import { postAfterStream, startNode, startOwnRedis } from './node-process.js';

const { values: args } = parseArgs({
  options: {
    calls: { type: 'string', default: '10' },
    'drain-seconds': { type: 'string', default: '2' },
    redis: { type: 'string', default: 'down' },
    root: { type: 'string', default: '.' },
  },
});
const calls = Number(args.calls);
const drainSeconds = Number(args['drain-seconds']);
const FRONT_DESK = '+15550006666';

const redis = await startOwnRedis();
const node = await startNode({ REDIS_URL: redis.url, DRAIN_SECONDS: String(drainSeconds), TRANSFER_NUMBER: FRONT_DESK }, args.root);
const callers = await Promise.all(Array.from({ length: calls }, () => TwilioCaller.dial({ baseUrl: node.baseUrl })));
await Promise.all(callers.map((c) => c.waitFor('greeting audio', () => c.mediaCount() > 10, 30_000)));

if (args.redis === 'down') await redis.kill();
if (args.redis === 'frozen') redis.freeze(); // connected, never answering
const sigtermAt = performance.now();
node.child.kill('SIGTERM');
const perCall = await Promise.all(callers.map(async (caller) => {
  await caller.waitClosed(drainSeconds * 1000 + 60_000).catch(() => undefined);
  const closedAfterMs = performance.now() - sigtermAt;
  const afterStream = await postAfterStream(node.baseUrl, caller.callSid);
  return { caller, closedAfterMs, afterStream };
}));
const exitTimeout = new Promise<'still running after 120 s'>((r) => { setTimeout(() => r('still running after 120 s'), 120_000).unref(); });
const exit = await Promise.race([node.exited, exitTimeout]);
if (typeof exit === 'string') node.child.kill('SIGKILL');
redis.thaw();
await redis.kill();

const summaries = new Map(node.logs.filter((l) => l.msg === 'call summary').map((l) => [l.callId as string, l.outcome as string]));
const report = {
  calls, drainSeconds, redis: args.redis, root: args.root,
  exit: typeof exit === 'string' ? exit : { code: exit.code, signal: exit.signal, afterSigtermMs: Math.round(exit.at - sigtermAt) },
  tally: {
    outcomes: tally(perCall.map((c) => summaries.get(c.caller.callSid) ?? 'no summary logged')),
    afterStream: tally(perCall.map((c) => c.afterStream.answer)),
  },
  perCall: perCall.map(({ caller, closedAfterMs, afterStream }) => ({
    callSid: caller.callSid.slice(-6),
    outcome: summaries.get(caller.callSid) ?? 'no summary logged',
    streamClose: { code: caller.closeCode, reason: caller.closeReason, afterSigtermMs: Math.round(closedAfterMs) },
    afterStream: { answer: afterStream.answer, ms: Math.round(afterStream.ms) },
  })),
};
console.log(JSON.stringify(report, null, 2));
process.exit(0);

function tally(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
