/**
 * Whole calls over Asterisk's AudioSocket protocol on a real TCP connection: the test plays Asterisk (UUID,
 * slin frames every 20 ms, DTMF, hangup) against a real carevox server (real VAD, flite TTS, receptionist);
 * only the ASR is the transcript double keyed on the fixtures' own audio.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from 'node:net';
import { AudioSocketCaller } from './support/audiosocket-caller.js';
import { loadFixture } from './support/fixtures.js';
import { startTestServer, type TestServer } from './support/server.js';
import { createTranscriptDouble } from './support/transcript-double.js';
import { rawFrame } from '../src/sip-bridge/audiosocket/protocol.js';

const hours = loadFixture('what-are-your-hours');
const stop = loadFixture('no-wait-stop');

const call = suite<{ server: TestServer; port: number }>('audiosocket call', { server: undefined as unknown as TestServer, port: 0 });

call.before(async (ctx) => {
  const asr = createTranscriptDouble([hours, stop].map((f) => ({ audio: f.samples, transcript: f.transcript! })));
  ctx.server = await startTestServer({ audiosocket: { port: 0 } }, { engines: { asr } });
  ctx.port = ctx.server.bridges.audioSocketPort!;
});
call.after(async (ctx) => { await ctx.server.close(); });

call('greets in paced 20 ms slin frames, answers speech and the keypad, and ends on hangup', async ({ server, port }) => {
  const caller = await AudioSocketCaller.dial(port);
  await caller.waitFor('greeting audio', () => caller.audibleFrames() > 25, 20_000);
  await caller.waitForBotQuiet();
  assert.ok(caller.received.every((f) => f.samples.length === 160), 'every frame is 20 ms at 8 kHz');
  // Paced, not burst: the greeting's frames arrive at the rate they play (bench/ measures the jitter).
  const first = caller.received[0]!;
  const last = caller.received[caller.received.length - 1]!;
  assert.ok(last.at - first.at >= (caller.received.length - 4) * 20, `${caller.received.length} frames arrived in ${Math.round(last.at - first.at)} ms`);

  const beforeQuestion = caller.received.length;
  caller.say(hours.samples);
  await caller.waitFor('a spoken reply', () => caller.audibleFrames(beforeQuestion) > 25, 15_000);
  await caller.waitForBotQuiet();

  const beforeKey = caller.received.length;
  caller.pressDigit('7'); // hours and location on the main menu
  await caller.waitFor('a keypad reply', () => caller.audibleFrames(beforeKey) > 25, 10_000);
  await caller.hangUp();
  const record = await server.recordOf(caller.uuid);
  assert.is(record.outcome, 'caller-hung-up');
  assert.is(record.dtmf, 1);
  assert.ok(record.turns.some((t) => t.speaker === 'caller' && t.text === hours.transcript), `the spoken question was heard: ${JSON.stringify(record.turns)}`);
  assert.ok(record.botSentences.some((s) => /hour|open/i.test(s.text)), 'and answered');
  assert.ok(server.logs.some((l) => l.msg === 'call summary' && l.callId === caller.uuid));
});

call('speaking over the bot silences it: the queued audio is dropped at once', async ({ server, port }) => {
  const caller = await AudioSocketCaller.dial(port);
  await caller.waitFor('greeting audio', () => caller.audibleFrames() > 30, 20_000);
  caller.say(stop.samples);
  const record = await (async () => {
    await caller.waitFor('the caller to finish', () => !caller.speaking, 10_000);
    await caller.waitForBotQuiet(300);
    await caller.hangUp();
    return server.recordOf(caller.uuid);
  })();
  assert.ok(record.bargeIns >= 1, 'a barge-in was recorded');
  assert.ok(record.botSentences.some((s) => s.truncated), 'the sentence being heard was cut off');
});

call('malformed frames are counted and ignored; the call goes on', async ({ server, port }) => {
  const caller = await AudioSocketCaller.dial(port);
  await caller.waitFor('greeting audio', () => caller.audibleFrames() > 10, 20_000);
  caller.write(rawFrame(0x42, Buffer.from('junk')));
  caller.write(rawFrame(0x10, Buffer.alloc(3))); // odd audio length
  caller.write(rawFrame(0x03, Buffer.from('xy'))); // not one digit
  const before = caller.received.length;
  await caller.waitFor('audio still flowing', () => caller.received.length > before + 20, 5000);
  await caller.hangUp();
  const record = await server.recordOf(caller.uuid);
  assert.is(record.malformedFrames, 3);
  assert.is(record.outcome, 'caller-hung-up');
});

call('a connection that never sends its UUID is closed; one from outside the allow-list is refused', async ({ port }) => {
  const refused = await startTestServer({ audiosocket: { port: 0 }, sip: { allow: '192.0.2.0/24' } });
  try {
    const socket = connect({ host: '127.0.0.1', port: refused.bridges.audioSocketPort! });
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const metrics = await refused.services.metrics.registry.getSingleMetricAsString('carevox_calls_refused_total');
    assert.match(metrics, /transport="audiosocket",reason="source-not-allowed"} 1/);
  } finally {
    await refused.close();
  }
  const silent = connect({ host: '127.0.0.1', port });
  const closedAt = await new Promise<number>((resolve) => silent.once('close', () => resolve(performance.now())));
  assert.ok(closedAt > 0);
});

call.run();
