/**
 * Graceful drain (issue 9, item 8): on shutdown new calls go to the front desk, live calls may finish, then
 * each remaining caller is handed to the front desk (not hung up), outcomes are recorded as what happened,
 * and the process exits also with Redis down.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startTestServer, type TestServer } from './support/server.js';
import { startOwnRedis } from './support/redis-server.js';
import { postVoiceWebhook, TwilioCaller, postAfterStream } from './support/twilio-caller.js';
import { until } from './support/until.js';

const FRONT_DESK = '+15550005555';
const DIAL = new RegExp(`<Dial[^>]*>\\${FRONT_DESK}</Dial>`);

async function storedOutcome(server: TestServer, callSid: string): Promise<string | null | undefined> {
  for (let i = 0; i < 200; i++) {
    const row = await server.services.store.calls.get(callSid);
    if (row?.endedAt) return row.outcome;
    await new Promise((r) => setTimeout(r, 25));
  }
  return undefined;
}

async function dialAll(baseUrl: string, count: number): Promise<TwilioCaller[]> {
  const callers = await Promise.all(Array.from({ length: count }, () => TwilioCaller.dial({ baseUrl })));
  await Promise.all(callers.map((c) => c.waitFor('greeting audio', () => c.mediaCount() > 10, 20_000)));
  return callers;
}

const t = suite('graceful drain');

t('drain: new calls to the front desk, /health 503, live callers handed over at the end of the grace period', async () => {
  const server = await startTestServer({ twilio: { transferNumber: FRONT_DESK } });
  try {
    const [leaver, ...staying] = await dialAll(server.baseUrl, 4);
    // The grace period ends when the test says so (as a second SIGTERM does), not after a duration.
    const endGrace = new AbortController();
    const drained = server.server.drain({ seconds: 600, signal: endGrace.signal });

    const health = await fetch(`${server.baseUrl}/health`);
    assert.is(health.status, 503);
    assert.is((await health.json() as { status: string }).status, 'draining');
    const { twiml } = await postVoiceWebhook({ baseUrl: server.baseUrl }, { CallSid: 'CA' + '2'.repeat(32), From: '+15550000009' });
    assert.match(twiml, DIAL, 'a new call goes to the front desk');
    assert.not.match(twiml, /<Stream/);

    await server.hangUp(leaver!); // finishes by itself within the grace period
    assert.ok(staying.every((c) => c.isOpen), 'live calls are not cut during the grace period');
    endGrace.abort();
    await Promise.all(staying.map((c) => c.waitClosed(30_000)));
    for (const caller of staying) {
      assert.is(caller.closeCode, 1000, 'the server ended the stream');
      assert.match(await postAfterStream(server.baseUrl, caller.callSid), DIAL, 'the caller is handed to the front desk');
    }
    const report = await drained;
    assert.is(report.handedOver, 3);
    assert.is(report.finishedInTime, 1);

    assert.is((await server.recordOf(leaver!.callSid)).outcome, 'caller-hung-up');
    assert.is(await storedOutcome(server, leaver!.callSid), 'caller-hung-up');
    for (const caller of staying) {
      assert.is((await server.recordOf(caller.callSid)).outcome, 'handed-over-on-shutdown');
      assert.is(await storedOutcome(server, caller.callSid), 'handed-over-on-shutdown');
    }
  } finally {
    await server.close();
  }
});

t('app.close() with live calls hands them over instead of recording a hang-up', async () => {
  const server = await startTestServer({ twilio: { transferNumber: FRONT_DESK } });
  let closed = false;
  try {
    const callers = await dialAll(server.baseUrl, 2);
    await server.server.app.close();
    closed = true;
    await Promise.all(callers.map((c) => c.waitClosed(10_000)));
    for (const caller of callers) assert.is((await server.recordOf(caller.callSid)).outcome, 'handed-over-on-shutdown');
  } finally {
    if (!closed) await server.server.app.close();
    await server.close();
  }
});

t('SIGTERM with live calls and Redis down: callers handed over, the process exits 0', async () => {
  const redis = await startOwnRedis();
  const dataDir = mkdtempSync(join(tmpdir(), 'carevox-drain-'));
  const child = spawn(process.execPath, ['--import', 'tsx', resolve('src/main.ts')], {
    env: {
      ...process.env, HOST: '127.0.0.1', PORT: '0', SIP_PORT: '0', SIP_TLS_PORT: '0', DATA_DIR: dataDir, REDIS_URL: redis.url, DRAIN_SECONDS: '1',
      TRANSFER_NUMBER: FRONT_DESK, LOG_LEVEL: 'info', DATABASE_URL: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once('exit', (code, signal) => done({ code, signal })));
  try {
    // Ready means every listener is up (HTTP, then SIP) and the signal handlers are installed.
    await until('the server to be ready', () => output.includes('carevox is ready to take calls'), 60_000);
    const baseUrl = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)![1]!;
    const caller = await TwilioCaller.dial({ baseUrl });
    await caller.waitFor('greeting audio', () => caller.mediaCount() > 10, 20_000);

    await redis.kill();
    child.kill('SIGTERM');
    await caller.waitClosed(30_000);
    assert.is(caller.closeCode, 1000, 'the server ended the stream');
    assert.match(await postAfterStream(baseUrl, caller.callSid), DIAL, 'handed to the front desk');
    const timeout = new Promise<'timeout'>((r) => { setTimeout(() => r('timeout'), 60_000).unref(); });
    const result = await Promise.race([exited, timeout]);
    assert.equal(result, { code: 0, signal: null }, `the process exited cleanly; output:\n${output.slice(-2000)}`);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await redis.kill();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

t.run();
