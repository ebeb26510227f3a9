/**
 * Redis down must not break a transfer to a person (issue 9, item 3). Each test runs its own redis-server
 * and kills or freezes it; the shared Redis is never touched.
 */
import { suite } from 'uvu';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import * as assert from 'uvu/assert';
import { startTestServer } from './support/server.js';
import { startOwnRedis } from './support/redis-server.js';
import { TwilioCaller } from './support/twilio-caller.js';

const FRONT_DESK = '+15550003333';
/** Twilio abandons the after-stream request at 15 s; an answer must come well before (protocol bound). */
const TWILIO_PATIENCE_MS = 10_000;
const DIAL = new RegExp(`<Dial[^>]*>\\${FRONT_DESK}</Dial>`);

async function afterStream(baseUrl: string, callSid: string): Promise<string> {
  const response = await fetch(`${baseUrl}/twilio/after-stream`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ CallSid: callSid, CallStatus: 'in-progress' }).toString(),
    signal: AbortSignal.timeout(TWILIO_PATIENCE_MS),
  });
  assert.is(response.status, 200);
  return response.text();
}

async function health(baseUrl: string): Promise<{ code: number; body: { status: string; sharedState: { backend: string; status: string } } }> {
  const response = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(TWILIO_PATIENCE_MS) });
  return { code: response.status, body: await response.json() as never };
}

const t = suite('redis outage');

t('Redis killed mid-call: the caller who pressed 0 is dialled to the front desk; /health says degraded', async () => {
  const redis = await startOwnRedis();
  const server = await startTestServer({ redis: { url: redis.url }, twilio: { transferNumber: FRONT_DESK } });
  try {
    const before = await health(server.baseUrl);
    assert.is(before.code, 200);
    assert.is(before.body.status, 'ok');
    assert.equal(before.body.sharedState, { backend: 'redis', status: 'ok' });

    const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl });
    const hungUp = await TwilioCaller.dial({ baseUrl: server.baseUrl });
    await caller.waitFor('greeting audio', () => caller.mediaCount() > 10 && hungUp.mediaCount() > 10, 20_000);
    await redis.kill();

    caller.pressDigit('0');
    await caller.waitClosed(30_000); // the server ends the stream after the transfer prompt
    assert.match(await afterStream(server.baseUrl, caller.callSid), DIAL, 'this node knows the outcome without Redis');

    await server.hangUp(hungUp);
    assert.match(await afterStream(server.baseUrl, hungUp.callSid), /<Hangup\/>/, 'a call that ended normally still hangs up');

    const unknown = await afterStream(server.baseUrl, 'CA' + 'e'.repeat(32));
    assert.match(unknown, DIAL, 'an outcome nobody can give goes to a person, never silence');

    const during = await health(server.baseUrl);
    assert.is(during.code, 200, 'degraded still takes calls');
    assert.is(during.body.status, 'degraded');
    assert.is(during.body.sharedState.status, 'degraded');
    assert.ok(server.logs.some((l) => l.msg === 'after-stream: call outcome unknown; sending the caller to the front desk'));
  } finally {
    await server.close();
    await redis.kill();
  }
});

t('a hung Redis (no replies): another node answers the after-stream in time, dialling the front desk', async () => {
  const redis = await startOwnRedis();
  const config = { redis: { url: redis.url }, twilio: { transferNumber: FRONT_DESK } };
  const nodeA = await startTestServer(config);
  const nodeB = await startTestServer(config);
  try {
    const routed = 'CA' + Date.now().toString(16).padStart(32, '0');
    nodeA.server.registry.ended({ callId: routed, outcome: 'transfer' });
    // With Redis answering, the outcome reaches the other node (wait for the write to land, not a duration).
    const spy = new Redis(redis.url);
    try {
      for (let i = 0; i < 500 && (await spy.get(`carevox:call-outcome:${routed}`)) === null; i++) await delay(10);
    } finally {
      spy.disconnect();
    }
    assert.match(await afterStream(nodeB.baseUrl, routed), DIAL, 'routed through Redis');

    redis.freeze();
    const lost = 'CA' + 'f'.repeat(32);
    nodeA.server.registry.ended({ callId: lost, outcome: 'transfer' }); // the write cannot land
    assert.match(await afterStream(nodeB.baseUrl, lost), DIAL, 'unknown on B: a person, within Twilio\'s wait');
    const degraded = await health(nodeB.baseUrl);
    assert.is(degraded.code, 200);
    assert.is(degraded.body.status, 'degraded');
  } finally {
    redis.thaw();
    await Promise.all([nodeA.close(), nodeB.close()]);
    await redis.kill();
  }
});

t.run();
