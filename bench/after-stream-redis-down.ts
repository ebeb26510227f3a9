/**
 * After-stream latency with Redis down: `npm run bench:after-stream -- [--requests 20] [--fault killed|frozen] [--root DIR]`.
 *
 * Starts carevox (src/main.ts) with its own redis-server, makes Redis fail (killed: connections refused;
 * frozen: SIGSTOP, connected but silent), then POSTs the after-stream webhook for calls this node does not
 * know (the outcome would have to come from Redis), one at a time. Prints JSON: latency p50/p99/max, the
 * answers (Twilio gives up at 15 s, so 'failed: no answer' means the caller was dropped), and /health.
 */
import { parseArgs } from 'node:util';
import { summarize } from './stats.js';
import { postAfterStream, startNode, startOwnRedis } from './node-process.js';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '20' },
    fault: { type: 'string', default: 'killed' },
    root: { type: 'string', default: '.' },
    'timeout-ms': { type: 'string', default: '30000' },
  },
});
const requests = Number(args.requests);
const redis = await startOwnRedis();
const node = await startNode({ REDIS_URL: redis.url, TRANSFER_NUMBER: '+15550007777' }, args.root);
if (args.fault === 'frozen') redis.freeze(); else await redis.kill();

const results: { answer: string; ms: number }[] = [];
for (let i = 0; i < requests; i++) {
  results.push(await postAfterStream(node.baseUrl, `CA${String(i).padStart(4, '0')}${'0'.repeat(28)}`, Number(args['timeout-ms'])));
}
const healthStarted = performance.now();
const health = await fetch(`${node.baseUrl}/health`, { signal: AbortSignal.timeout(30_000) })
  .then(async (r) => ({ http: r.status, status: (await r.json() as { status: string }).status }))
  .catch((err: Error) => ({ http: 0, status: `failed: ${err.message}` }));
const healthMs = Math.round(performance.now() - healthStarted);

node.child.kill('SIGKILL');
redis.thaw();
await redis.kill();
const answers: Record<string, number> = {};
for (const r of results) answers[r.answer] = (answers[r.answer] ?? 0) + 1;
console.log(JSON.stringify({
  requests, fault: args.fault, root: args.root,
  latencyMs: summarize(results.map((r) => r.ms)), inOrderMs: results.map((r) => Math.round(r.ms)), answers, health: { ...health, ms: healthMs },
}, null, 2));
process.exit(0);
