/**
 * One stream per token (issue 9, item 12): a second socket with a call's token, while the call is live or
 * after it ended, on this node or another, is refused with 1008 and never touches the real call; a changed
 * caller number is refused; with Redis down the call still goes ahead and a replay on the same node is refused.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestServer, type TestServer } from './support/server.js';
import { startOwnRedis } from './support/redis-server.js';
import { parseStreamTwiml, postVoiceWebhook, TwilioCaller } from './support/twilio-caller.js';

const FRONT_DESK = '+15550004444';
const SECRET = 'stream-token-test-secret-0123456789';

async function replay(server: TestServer, original: TwilioCaller, parameters = original.parameters): Promise<TwilioCaller> {
  const replayed = await TwilioCaller.openStream({ baseUrl: server.baseUrl, callSid: original.callSid, parameters });
  await replayed.waitClosed(10_000);
  return replayed;
}

async function afterStream(server: TestServer, callSid: string): Promise<string> {
  const response = await fetch(`${server.baseUrl}/twilio/after-stream`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ CallSid: callSid }).toString(), signal: AbortSignal.timeout(10_000),
  });
  return response.text();
}

const t = suite('stream token replay');

t('a replayed token is refused while the call is live and after it ended; the real transfer and turns stand', async () => {
  const server = await startTestServer({ twilio: { transferNumber: FRONT_DESK } });
  try {
    const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl, from: '+15551112222' });
    await caller.waitFor('greeting audio', () => caller.mediaCount() > 10, 20_000);

    const concurrent = await replay(server, caller);
    assert.is(concurrent.closeCode, 1008);
    assert.match(concurrent.closeReason, /already used/);
    assert.is(concurrent.mediaCount(), 0, 'the replay heard nothing');
    assert.ok(caller.isOpen, 'the real call goes on');

    caller.pressDigit('0');
    await caller.waitClosed(30_000);
    const after = await replay(server, caller);
    assert.is(after.closeCode, 1008, 'replay after the call ended');

    assert.match(await afterStream(server, caller.callSid), new RegExp(`<Dial[^>]*>\\${FRONT_DESK}</Dial>`), 'the transfer stands');
    const record = await server.recordOf(caller.callSid);
    assert.is(record.outcome, 'transfer');
    let stored = await server.services.store.calls.get(caller.callSid);
    for (let i = 0; i < 100 && !stored?.endedAt; i++) {
      await new Promise((r) => setTimeout(r, 50));
      stored = await server.services.store.calls.get(caller.callSid);
    }
    assert.is(stored?.outcome, 'transfer');
    const turns = await server.services.store.turns.list(caller.callSid);
    assert.is(turns.length, record.turns.length, 'every turn of the real call is stored');
    assert.ok(turns.length > 0);
    assert.is(server.logs.filter((l) => l.msg === 'call summary' && l.callId === caller.callSid).length, 1, 'one call, one summary');
    assert.not.ok(server.rawLogs().includes('duplicate key'));
  } finally {
    await server.close();
  }
});

t('a changed caller number is refused (the number is covered by the token signature)', async () => {
  const server = await startTestServer();
  try {
    const callSid = 'CA' + '1'.repeat(32);
    const { twiml } = await postVoiceWebhook({ baseUrl: server.baseUrl }, { CallSid: callSid, From: '+15553334444' });
    const parameters = parseStreamTwiml(twiml).parameters;
    const tampered = await TwilioCaller.openStream({ baseUrl: server.baseUrl, callSid, parameters: { ...parameters, from: '+15559990000' } });
    await tampered.waitClosed(10_000);
    assert.is(tampered.closeCode, 1008);
    assert.match(tampered.closeReason, /bad-signature/);
    // The untampered parameters still open the call: the refusal did not consume the token.
    const genuine = await TwilioCaller.openStream({ baseUrl: server.baseUrl, callSid, parameters });
    await genuine.waitFor('greeting audio', () => genuine.mediaCount() > 10, 20_000);
    await genuine.hangUp();
  } finally {
    await server.close();
  }
});

t('two nodes sharing Redis: a token used on one node is refused on the other', async () => {
  const config = { redis: { url: 'redis://127.0.0.1:6379' }, twilio: { callTokenSecret: SECRET } };
  const nodeA = await startTestServer(config);
  const nodeB = await startTestServer(config);
  try {
    const caller = await TwilioCaller.dial({ baseUrl: nodeA.baseUrl });
    await caller.waitFor('greeting audio', () => caller.mediaCount() > 10, 20_000);
    const elsewhere = await replay(nodeB, caller);
    assert.is(elsewhere.closeCode, 1008);
    assert.match(elsewhere.closeReason, /already used/);
    assert.ok(caller.isOpen);
    await caller.hangUp();
  } finally {
    await Promise.all([nodeA.close(), nodeB.close()]);
  }
});

t('Redis down at start: the call goes ahead, and a replay on this node is still refused', async () => {
  const redis = await startOwnRedis();
  const server = await startTestServer({ redis: { url: redis.url } });
  try {
    await redis.kill();
    const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl });
    await caller.waitFor('greeting audio', () => caller.mediaCount() > 10, 20_000);
    const replayed = await replay(server, caller);
    assert.is(replayed.closeCode, 1008);
    assert.ok(caller.isOpen);
    assert.ok(server.logs.some((l) => typeof l.msg === 'string' && l.msg.includes('stream token consumed on this node only')));
    await caller.hangUp();
  } finally {
    await server.close();
    await redis.kill();
  }
});

t('start-up warns once when TWILIO_AUTH_TOKEN is unset (anyone reaching the webhook can get a stream token)', async () => {
  const warning = (server: TestServer) => server.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('TWILIO_AUTH_TOKEN is unset'));
  const open = await startTestServer();
  const signed = await startTestServer({ twilio: { authToken: 'test-auth-token-0123456789' } });
  try {
    const lines = warning(open);
    assert.is(lines.length, 1);
    assert.is(lines[0]!.level, 40, 'a warning');
    assert.is(warning(signed).length, 0);
  } finally {
    await Promise.all([open.close(), signed.close()]);
  }
});

t.run();
