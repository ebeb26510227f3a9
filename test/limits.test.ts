/**
 * Sockets and calls that must not pile up, and webhook input that must not reach a token or a log
 * (issue 9, items 4 and 5). Real server, real sockets; small configured limits, and every wait is on a
 * condition with a generous timeout (no timing asserts).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { loadConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { buildConnected, buildMedia, buildStart } from '../src/media/twilio/protocol.js';
import { buildServer } from '../src/server.js';
import { createServices } from '../src/services.js';
import { testStoreHandle } from '../src/store/testing.js';
import { Writable } from 'node:stream';
import { startTestServer, type TestServer } from './support/server.js';
import { parseStreamTwiml, postVoiceWebhook, TwilioCaller } from './support/twilio-caller.js';

const FRONT_DESK = '+15550001111';
const sid = (prefix: string, n: number) => prefix + (Date.now().toString(16) + n.toString(16).padStart(8, '0')).padStart(32, '0');
let seq = 0;

function post(server: TestServer, path: string, params: Record<string, string>) {
  return fetch(`${server.baseUrl}${path}`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params).toString(),
  });
}

async function openSocket(server: TestServer, options: WebSocket.ClientOptions = {}): Promise<WebSocket & { closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(`${server.baseUrl.replace('http', 'ws')}/twilio/media`, options) as WebSocket & { closed: Promise<{ code: number; reason: string }> };
  ws.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  return ws;
}

function within<T>(promise: Promise<T>, what: string, ms = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms); });
  // Cleared once settled: a pending 15 s timer would keep the test process alive after its summary.
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A stream started by hand (the webhook's token, then `start`), so the test decides what media follows. */
async function startedStream(server: TestServer, options: WebSocket.ClientOptions = {}) {
  const callSid = sid('CA', ++seq);
  const streamSid = sid('MZ', seq);
  const { twiml } = await postVoiceWebhook({ baseUrl: server.baseUrl }, { CallSid: callSid, From: '+15550102030' });
  const ws = await openSocket(server, options);
  ws.send(buildConnected());
  ws.send(buildStart({ streamSid, callSid, accountSid: 'AC' + '0'.repeat(32), customParameters: parseStreamTwiml(twiml).parameters, sequenceNumber: 1 }));
  let n = 2;
  const sendMedia = () => ws.send(buildMedia({ streamSid, sequenceNumber: n, chunk: n - 1, timestampMs: (n++ - 2) * 20, payload: new Uint8Array(160).fill(0xff) }));
  await waitUntil(() => server.server.registry.sessions().length > 0 || ws.readyState !== WebSocket.OPEN, 'the call to start');
  return { ws, callSid, sendMedia };
}

async function waitUntil(predicate: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// ---- item 4: sockets and calls ----------------------------------------------------------------------------

const sockets = suite<{ server: TestServer }>('sockets and calls', {} as never);
sockets.before.each(async (ctx) => {
  ctx.server = await startTestServer({
    twilio: { transferNumber: FRONT_DESK },
    limits: { startTimeoutMs: 300, mediaTimeoutMs: 500, pingIntervalMs: 200, maxPendingSockets: 2, maxCalls: 1 },
  });
});
sockets.after.each(async (ctx) => { await ctx.server.close(); });

sockets('a socket that never sends start is closed', async ({ server }) => {
  const ws = await openSocket(server);
  ws.send(buildConnected());
  const { code, reason } = await within(ws.closed, 'the server to close the idle socket');
  assert.is(code, 1000);
  assert.is(reason, 'no-start');
});

sockets('sockets waiting for start beyond the cap are refused at once; the others are not', async ({ server }) => {
  const waiting = [await openSocket(server), await openSocket(server)];
  const third = await openSocket(server);
  const { code } = await within(third.closed, 'the refusal');
  assert.is(code, 1013, 'try again later');
  assert.ok(waiting.every((ws) => ws.readyState === WebSocket.OPEN), 'the sockets within the cap stay until their own timeout');
  await Promise.all(waiting.map((ws) => within(ws.closed, 'the start timeout')));
  // Room again once they are gone.
  const next = await openSocket(server);
  assert.is((await within(next.closed, 'its own start timeout')).reason, 'no-start');
});

sockets('a call whose media stops is ended as an error, and the caller is sent to the front desk', async ({ server }) => {
  const { ws, callSid, sendMedia } = await startedStream(server);
  for (let i = 0; i < 5; i++) sendMedia();
  const { reason } = await within(ws.closed, 'the server to end the silent call');
  assert.is(reason, 'no-media');
  assert.is((await server.recordOf(callSid, 15_000)).outcome, 'error');
  const after = await (await post(server, '/twilio/after-stream', { CallSid: callSid })).text();
  assert.match(after, new RegExp(`<Dial[^>]*>\\${FRONT_DESK}</Dial>`));
});

sockets('a peer that stops answering pings is dropped; one that answers stays', async () => {
  // Long start and media timeouts here, so only the pings can end a call.
  const server = await startTestServer({ limits: { startTimeoutMs: 60_000, mediaTimeoutMs: 60_000, pingIntervalMs: 200 } });
  try {
    const deaf = await startedStream(server, { autoPong: false });
    let pings = 0;
    deaf.ws.on('ping', () => pings++);
    const { code } = await within(deaf.ws.closed, 'the server to drop the deaf peer');
    assert.is(code, 1006, 'terminated, no close handshake');
    assert.ok(pings >= 1);
    assert.is((await server.recordOf(deaf.callSid, 15_000)).outcome, 'error');
    // A client that answers pings (as every WebSocket client must) is still up after many of them, media or not.
    const quiet = await startedStream(server);
    let answered = 0;
    quiet.ws.on('ping', () => answered++);
    await waitUntil(() => answered >= 5, 'five pings');
    assert.is(quiet.ws.readyState, WebSocket.OPEN);
    quiet.ws.close();
    await within(quiet.ws.closed, 'the close');
  } finally {
    await server.close();
  }
});

sockets('over the call limit the webhook dials the front desk and /health says full', async ({ server }) => {
  const first = await TwilioCaller.dial({ baseUrl: server.baseUrl });
  await first.waitFor('the first call to start', () => first.mediaCount() > 0, 20_000);
  const health = await fetch(`${server.baseUrl}/health`);
  assert.is(health.status, 503);
  assert.is((await health.json() as { status: string }).status, 'full');
  const { twiml } = await postVoiceWebhook({ baseUrl: server.baseUrl }, { CallSid: sid('CA', ++seq), From: '+15550102031' });
  assert.match(twiml, new RegExp(`<Dial[^>]*>\\${FRONT_DESK}</Dial>`));
  assert.not.match(twiml, /<Stream/);
  await server.hangUp(first);
  await waitUntil(() => server.server.registry.activeCount === 0, 'the call to end');
  assert.is((await (await fetch(`${server.baseUrl}/health`)).json() as { status: string }).status, 'ok');
  const { twiml: again } = await postVoiceWebhook({ baseUrl: server.baseUrl }, { CallSid: sid('CA', ++seq), From: '+15550102032' });
  assert.match(again, /<Stream/);
});

sockets.run();

// ---- item 5: webhook input -------------------------------------------------------------------------------

const webhook = suite<{ server: TestServer }>('webhook input', {} as never);
webhook.before(async (ctx) => { ctx.server = await startTestServer({ twilio: { transferNumber: FRONT_DESK } }); });
webhook.after(async (ctx) => { await ctx.server.close(); });

webhook('From, To and CallSid of every real shape are accepted', async ({ server }) => {
  for (const from of ['+15557654321', 'anonymous', 'client:alice_01', 'sip:bob@example.sip.twilio.com;transport=tls', '266696687']) {
    const response = await post(server, '/twilio/voice', { CallSid: sid('CA', ++seq), From: from, To: '+15550000000' });
    assert.is(response.status, 200, from);
    assert.match(await response.text(), /<Stream/);
  }
});

webhook('oversized or malformed params: 400 naming the field, one log line, never the value', async ({ server }) => {
  const longNumber = '+1' + '5'.repeat(498);
  const cases: Array<[Record<string, string>, string]> = [
    [{ CallSid: 'CA' + 'f'.repeat(398), From: '+15557654321' }, 'CallSid'],
    [{ CallSid: 'CA-not-hex-' + 'z'.repeat(23), From: '+15557654321' }, 'CallSid'],
    [{ From: '+15557654321' }, 'CallSid'],
    [{ CallSid: sid('CA', ++seq), From: longNumber }, 'From'],
    [{ CallSid: sid('CA', ++seq), From: '<script>+15557654399' }, 'From'],
    [{ CallSid: sid('CA', ++seq), From: '+15557654321', To: 'x'.repeat(300) }, 'To'],
  ];
  for (const [params, field] of cases) {
    const firstLog = server.logs.length;
    const response = await post(server, '/twilio/voice', params);
    assert.is(response.status, 400, field);
    assert.match(await response.text(), new RegExp(`^invalid ${field}: `));
    const lines = server.logs.slice(firstLog).filter((l) => l.field !== undefined);
    assert.is(lines.length, 1, `one log line for ${field}`);
    assert.is(lines[0]!.field, field);
  }
  const raw = server.rawLogs();
  for (const value of [longNumber, '<script>+15557654399', 'z'.repeat(23), 'f'.repeat(398)]) assert.not.ok(raw.includes(value), 'the value is never logged');
  const after = await post(server, '/twilio/after-stream', { CallSid: 'CA' + 'f'.repeat(398) });
  assert.is(after.status, 400);
});

webhook.run();

// ---- item 5: an unexpected throw is a logged 500 ----------------------------------------------------------

const errors = suite('route errors', {});
errors('a route that throws answers 500 and logs the error class, not its message or the request', async () => {
  const raw: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { raw.push(chunk.toString()); done(); } });
  const config = loadConfig({}, { server: { host: '127.0.0.1', port: 0 } });
  const logger = createLogger('info', sink);
  const handle = testStoreHandle('pglite');
  const store = await handle.open();
  const services = await createServices(config, logger, { store });
  const { app } = await buildServer({
    config, logger, ...services,
    healthDetails: () => { throw new TypeError('patient +15557654321 broke it'); },
  });
  try {
    const response = await app.inject({ method: 'GET', url: '/health' });
    assert.is(response.statusCode, 500);
    assert.is(response.body, 'internal error');
    const lines = raw.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const failed = lines.filter((l) => l.msg === 'request failed');
    assert.is(failed.length, 1);
    assert.is(failed[0]!.errorKind, 'TypeError');
    assert.is(failed[0]!.route, '/health');
    assert.not.ok(raw.join('').includes('+15557654321'), 'the error message (which may quote patient data) is not logged');
  } finally {
    await app.close();
    await services.close();
    await store.close();
    await handle.destroy();
  }
});
errors.run();
