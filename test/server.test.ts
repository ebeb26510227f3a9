/**
 * The server's HTTP surface and the Twilio stream's robustness: webhook signatures, TwiML, stream
 * authentication, malformed frames, concurrency and teardown. Real server, real sockets.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import v8 from 'node:v8';
import vm from 'node:vm';
import WebSocket from 'ws';
import { computeTwilioSignature } from '../src/media/twilio/signature.js';
import { buildConnected, buildStart } from '../src/media/twilio/protocol.js';
import { loadFixture } from './support/fixtures.js';
import { startTestServer, type TestServer } from './support/server.js';
import { parseStreamTwiml, postVoiceWebhook, TwilioCaller } from './support/twilio-caller.js';
import { createTranscriptDouble } from './support/transcript-double.js';

const AUTH_TOKEN = 'test-auth-token-0123456789';
const hours = loadFixture('what-are-your-hours');

const http = suite<{ server: TestServer }>('http surface', { server: undefined as unknown as TestServer });
http.before(async (ctx) => {
  ctx.server = await startTestServer({ twilio: { authToken: AUTH_TOKEN, transferNumber: '+15550001111' } });
});
http.after(async (ctx) => { await ctx.server.close(); });

http('GET /health answers 200 with the engines and their fallbacks', async ({ server }) => {
  const response = await fetch(`${server.baseUrl}/health`);
  assert.is(response.status, 200);
  const body = await response.json() as { status: string; engines: { asr: { available: boolean; reason?: string }; tts: { engine: string }; vad: string } };
  assert.is(body.status, 'ok');
  assert.is(body.engines.tts.engine, 'flite');
  assert.is(body.engines.asr.available, false, 'no ASR engine is configured by default');
  assert.ok(body.engines.asr.reason, 'the reason speech is unavailable is reported');
  assert.match(body.engines.vad, /silero/i);
});

http('GET /metrics exposes the per-hop histograms', async ({ server }) => {
  const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
  assert.match(text, /# TYPE carevox_hop_latency_ms histogram/);
  assert.match(text, /carevox_barge_in_latency_ms/);
  assert.match(text, /carevox_active_calls 0/);
});

http('the voice webhook needs a valid X-Twilio-Signature when TWILIO_AUTH_TOKEN is set', async ({ server }) => {
  const params = { CallSid: 'CA' + 'a'.repeat(32), From: '+15557654321', To: '+15550000000' };
  const unsigned = await fetch(`${server.baseUrl}/twilio/voice`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params).toString(),
  });
  assert.is(unsigned.status, 403);
  const host = new URL(server.baseUrl).host;
  const forged = computeTwilioSignature('wrong-token', `https://${host}/twilio/voice`, params);
  const bad = await fetch(`${server.baseUrl}/twilio/voice`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': forged },
    body: new URLSearchParams(params).toString(),
  });
  assert.is(bad.status, 403);
  const { twiml } = await postVoiceWebhook({ baseUrl: server.baseUrl, authToken: AUTH_TOKEN }, params);
  const stream = parseStreamTwiml(twiml);
  assert.is(stream.url, `wss://${host}/twilio/media`, 'a wss:// URL with no query string');
  assert.ok(stream.parameters.token && stream.parameters.token.length > 20, 'a per-call token parameter');
  assert.is(stream.parameters.from, params.From, 'the caller number as a parameter');
  assert.match(twiml, /<Connect>\s*<Stream[^>]*>[\s\S]*<\/Stream>\s*<\/Connect>/);
  assert.match(twiml, /<Redirect method="POST">https:\/\/[^<]+\/twilio\/after-stream<\/Redirect>/);
});

http('after the stream: a transferred call, or one whose outcome is unknown, is dialled to the front desk; a finished call hangs up', async ({ server }) => {
  const callSid = 'CA' + 'b'.repeat(32);
  const host = new URL(server.baseUrl).host;
  const post = async (params: Record<string, string>) => {
    const signature = computeTwilioSignature(AUTH_TOKEN, `https://${host}/twilio/after-stream`, params);
    const response = await fetch(`${server.baseUrl}/twilio/after-stream`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
      body: new URLSearchParams(params).toString(),
    });
    return response.text();
  };
  server.server.registry.ended({ callId: callSid, outcome: 'transfer' });
  assert.match(await post({ CallSid: callSid }), /<Dial[^>]*>\+15550001111<\/Dial>/);
  const finished = 'CA' + '7'.repeat(32);
  server.server.registry.ended({ callId: finished, outcome: 'completed' });
  assert.match(await post({ CallSid: finished }), /<Hangup\/>/);
  assert.match(await post({ CallSid: 'CA' + 'c'.repeat(32) }), /<Dial[^>]*>\+15550001111<\/Dial>/, 'unknown: a person, never silence');
});

http('with REDIS_URL, the after-stream webhook routes a transfer decided on another node', async () => {
  const config = { redis: { url: 'redis://127.0.0.1:6379' }, twilio: { transferNumber: '+15550002222' } };
  const nodeA = await startTestServer(config);
  const nodeB = await startTestServer(config);
  try {
    const callSid = `CA${(Date.now().toString(16) + Math.random().toString(16).slice(2, 10)).padStart(32, '0')}`; // unique across runs (shared Redis)
    nodeA.server.registry.ended({ callId: callSid, outcome: 'transfer' });
    await new Promise((r) => setTimeout(r, 100));
    const response = await fetch(`${nodeB.baseUrl}/twilio/after-stream`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ CallSid: callSid }).toString(),
    });
    assert.match(await response.text(), /<Dial[^>]*>\+15550002222<\/Dial>/);
  } finally {
    await nodeA.close();
    await nodeB.close();
  }
});

http.run();

const stream = suite<{ server: TestServer }>('twilio stream', { server: undefined as unknown as TestServer });
stream.before(async (ctx) => {
  const asr = createTranscriptDouble([{ audio: hours.samples, transcript: hours.transcript! }]);
  ctx.server = await startTestServer({}, { engines: { asr } });
});
stream.after(async (ctx) => { await ctx.server.close(); });

stream('a stream with a missing or forged token is closed at start', async ({ server }) => {
  for (const token of ['', 'forged.token.value']) {
    const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl, token });
    await caller.waitClosed();
    assert.is(caller.closeCode, 1008);
    assert.match(caller.closeReason, /invalid stream token/);
    assert.is(caller.mediaCount(), 0, 'no audio for an unauthenticated stream');
  }
});

stream('a stream whose token belongs to another call is refused', async ({ server }) => {
  // Same caller number as the double dials with, so only the call differs (a changed number is 'bad-signature').
  const { twiml } = await postVoiceWebhook({ baseUrl: server.baseUrl }, { CallSid: 'CA' + 'd'.repeat(32), From: '+15551230000' });
  const otherCallsToken = parseStreamTwiml(twiml).parameters.token!;
  const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl, token: otherCallsToken });
  await caller.waitClosed();
  assert.is(caller.closeCode, 1008);
  assert.match(caller.closeReason, /wrong-call/);
});

stream('a start that is not mu-law 8 kHz mono is refused with the reason', async ({ server }) => {
  for (const mediaFormat of [
    { encoding: 'audio/x-alaw', sampleRate: 8000, channels: 1 },
    { encoding: 'audio/x-mulaw', sampleRate: 16000, channels: 1 },
  ]) {
    const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl, mediaFormat });
    await caller.waitClosed();
    assert.is(caller.closeCode, 1003);
    assert.match(caller.closeReason, /unsupported media format/);
  }
});

stream('malformed and unexpected frames are counted and the call goes on', async ({ server }) => {
  const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl });
  await caller.waitFor('greeting audio', () => caller.mediaCount() > 10);
  const garbage: (string | Buffer)[] = [
    Buffer.from([1, 2, 3]), // binary frame (Twilio error 31950)
    '{not json',
    JSON.stringify({ event: 'telepathy', streamSid: caller.streamSid }),
    JSON.stringify({ event: 'media', streamSid: caller.streamSid, sequenceNumber: '9' }), // no media
    JSON.stringify({ event: 'media', streamSid: 'MZ-someone-else', sequenceNumber: '9', media: { track: 'inbound', chunk: '1', timestamp: '1', payload: '//8=' } }),
    JSON.stringify({ event: 'media', streamSid: caller.streamSid, sequenceNumber: '9', media: { track: 'inbound', chunk: '1', timestamp: '1', payload: '***' } }),
    JSON.stringify({ event: 'dtmf', streamSid: caller.streamSid, sequenceNumber: '9', dtmf: { track: 'inbound_track' } }),
    buildStart({ streamSid: caller.streamSid, callSid: caller.callSid, accountSid: 'AC1', sequenceNumber: 99 }), // a second start
  ];
  for (const frame of garbage) caller.sendRaw(frame);
  const before = caller.received.length;
  await caller.say(hours.samples);
  await caller.waitFor('reply after garbage', () => caller.mediaCount(before) > 25 || caller.received.slice(before).some((e) => e.kind === 'clear'), 10_000);
  assert.ok(caller.isOpen, 'the call is still up');
  assert.is((await server.hangUp(caller)).malformedFrames, garbage.length);
  const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
  for (const reason of ['binary-frame', 'invalid-json', 'unknown-event', 'missing-field', 'wrong-stream', 'invalid-field', 'duplicate-start']) {
    assert.match(metrics, new RegExp(`carevox_malformed_frames_total\\{reason="${reason}"\\} [1-9]`), reason);
  }
});

stream('frames before start are counted, not fatal', async ({ server }) => {
  const ws = new WebSocket(`${server.baseUrl.replace('http', 'ws')}/twilio/media`);
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  ws.send(buildConnected());
  ws.send(JSON.stringify({ event: 'media', streamSid: 'MZ1', sequenceNumber: '1', media: { track: 'inbound', chunk: '1', timestamp: '0', payload: '//8=' } }));
  await new Promise((r) => setTimeout(r, 100));
  assert.is(ws.readyState, WebSocket.OPEN);
  ws.close();
  await new Promise((r) => ws.once('close', r));
  const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
  assert.match(metrics, /carevox_malformed_frames_total\{reason="before-start"\} [1-9]/);
});

stream('50 concurrent calls: each is greeted, heard and answered, with no error', async ({ server }) => {
  const firstLog = server.logs.length;
  const callers = await Promise.all(Array.from({ length: 50 }, (_, i) => TwilioCaller.dial({ baseUrl: server.baseUrl, from: `+1555000${String(i).padStart(4, '0')}` })));
  await Promise.all(callers.map((c) => c.waitFor('greeting audio', () => c.mediaCount() > 10, 20_000)));
  const marks = callers.map((c) => c.received.length);
  await Promise.all(callers.map((c) => c.say(hours.samples)));
  await Promise.all(callers.map((c, i) => c.waitFor('reply', () => c.received.slice(marks[i]).some((e) => e.kind === 'clear') || c.mediaCount(marks[i]) > 60, 30_000)));
  await Promise.all(callers.map((c) => c.hangUp()));
  await callers[0]!.waitFor('every call torn down', () => server.server.registry.activeCount === 0, 10_000);
  const errors = server.logs.slice(firstLog).filter((l) => typeof l.level === 'number' && l.level >= 40 && l.msg !== 'speech recognition unavailable');
  assert.equal(errors.map((l) => `${String(l.msg)} ${JSON.stringify(l.error ?? l.err ?? l.stage ?? "")}`), [], 'no warnings or errors logged');
  assert.is(callers.filter((c) => c.closeCode !== 1000 && c.closeCode !== 1005).length, 0);
});

stream('a thousand short calls leave nothing behind', async ({ server }) => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const run = async (count: number) => {
    for (let i = 0; i < count; i += 25) {
      await Promise.all(Array.from({ length: 25 }, async () => {
        const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl });
        await caller.waitFor('first audio', () => caller.mediaCount() > 0, 10_000);
        await caller.hangUp();
      }));
    }
    await new Promise((r) => setTimeout(r, 200));
    gc();
    return process.memoryUsage().heapUsed;
  };
  const warm = await run(200);
  const after = await run(800);
  assert.is(server.server.registry.activeCount, 0);
  assert.match(await (await fetch(`${server.baseUrl}/metrics`)).text(), /carevox_active_calls 0/);
  const growthMb = (after - warm) / 1024 / 1024;
  assert.ok(growthMb < 20, `heap grew ${growthMb.toFixed(1)} MB over 800 calls`);
});

stream.run();
