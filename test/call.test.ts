/**
 * Full calls over a real WebSocket: the Twilio double dials a real carevox server (real VAD, flite TTS,
 * receptionist dialog); only the ASR is the transcript double keyed on the fixtures' own audio.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadFixture } from './support/fixtures.js';
import { startTestServer, type TestServer } from './support/server.js';
import { TwilioCaller } from './support/twilio-caller.js';
import { createTranscriptDouble } from './support/transcript-double.js';

const CALLER_NUMBER = '+15551239876';
const hours = loadFixture('what-are-your-hours');
const stop = loadFixture('no-wait-stop');
const cough = loadFixture('cough');
const hmm = loadFixture('hmm');

const call = suite<{ server: TestServer }>('twilio call', { server: undefined as unknown as TestServer });

call.before(async (ctx) => {
  const asr = createTranscriptDouble([hours, stop].map((f) => ({ audio: f.samples, transcript: f.transcript! })));
  ctx.server = await startTestServer({}, { engines: { asr } });
});
call.after(async (ctx) => { await ctx.server.close(); });

call('greets, answers a spoken question, and answers the keypad', async ({ server }) => {
  const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl, from: CALLER_NUMBER });
  await caller.waitFor('greeting audio', () => caller.mediaCount() > 25);
  await caller.waitForBotQuiet();
  const greetingMarks = caller.echoedMarks.length;
  assert.ok(greetingMarks >= 1, 'a mark per sentence is echoed after the greeting plays');
  assert.ok(caller.echoedMarks.every((m) => !m.cleared), 'nothing was cleared');

  const beforeQuestion = caller.received.length;
  await caller.say(hours.samples);
  await caller.waitFor('a spoken reply', () => caller.mediaCount(beforeQuestion) > 25, 10_000);
  await caller.waitForBotQuiet();

  const beforeKey = caller.received.length;
  caller.pressDigit('7'); // hours and location on the main menu
  await caller.waitFor('a keypad reply', () => caller.mediaCount(beforeKey) > 25, 10_000);
  const record = await server.hangUp(caller);
  assert.is(record.outcome, 'caller-hung-up');
  assert.is(record.dtmf, 1);
  assert.ok(record.botSentences.length >= 3, 'greeting and replies were played');
  assert.ok(record.botSentences.some((s) => /hour|open/i.test(s.text)), 'the spoken question about hours was answered');

  // The conversation is stored, encrypted at rest: readable through the store, not in the table.
  let turns = await server.services.store.turns.list(caller.callSid);
  for (let i = 0; i < 50 && !turns.some((t) => t.speaker === 'caller'); i++) {
    await new Promise((r) => setTimeout(r, 100));
    turns = await server.services.store.turns.list(caller.callSid);
  }
  assert.ok(turns.some((t) => t.speaker === 'caller' && t.text === hours.transcript), 'the caller turn is stored');
  assert.ok(turns.some((t) => t.speaker === 'bot'), 'the bot turns are stored');
  const raw = await server.services.store.db.selectFrom('turns').selectAll().where('call_id', '=', caller.callSid).execute();
  assert.not.ok(raw.some((r) => Buffer.from(r.text_enc as unknown as Uint8Array).toString('latin1').includes('hours')), 'no plaintext at rest');

  // Every outbound media frame is 20 ms of mu-law.
  assert.ok(caller.received.filter((e) => e.kind === 'media').every((e) => e.bytes === 160));
  // Patient data stays out of the logs: neither the caller's number nor what they said.
  const logs = server.rawLogs();
  assert.not.ok(logs.includes(CALLER_NUMBER.slice(2)), 'caller number not logged');
  assert.not.ok(logs.includes(hours.transcript!), 'transcript not logged');
  const summary = server.logs.find((l) => l.msg === 'call summary' && l.callId === caller.callSid);
  assert.ok(summary, 'a per-call summary line with the call id');
  assert.ok(server.logs.filter((l) => l.callId === caller.callSid).every((l) => typeof l.streamSid === 'string'), 'stream id on every call line');
});

call('barge-in: caller speech clears the bot and truncates the sentence being heard', async ({ server }) => {
  const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl, from: CALLER_NUMBER });
  await caller.waitFor('greeting audio', () => caller.mediaCount() > 40);
  await caller.pause(600); // well into the greeting
  // How fast the clear comes is measured by bench/ (barge-in latency), not asserted here.
  await caller.say(stop.samples);
  await caller.waitFor('clear', () => caller.received.some((e) => e.kind === 'clear'), 20_000);
  const clear = caller.received.find((e) => e.kind === 'clear')!;
  // The interrupting speech is the caller's next turn and gets an answer.
  await caller.waitFor('reply after barge-in', () => caller.received.some((e) => e.kind === 'media' && e.at > clear.at + 100), 10_000);
  const record = await server.hangUp(caller);
  assert.is(record.bargeIns, 1);
  const truncated = record.botSentences.find((s) => s.truncated);
  assert.ok(truncated, 'the interrupted sentence is recorded as truncated');
  assert.ok(truncated!.heardText.length < truncated!.text.length, 'only the words heard are kept');
  assert.ok(truncated!.text.startsWith(truncated!.heardText), 'heard text is a prefix of the sentence');
});

call('a cough over the bot changes nothing: no clear, the greeting plays on', async ({ server }) => {
  const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl, from: CALLER_NUMBER });
  await caller.waitFor('greeting audio', () => caller.mediaCount() > 40);
  await caller.say(cough.samples);
  await caller.waitForBotQuiet();
  assert.not.ok(caller.received.some((e) => e.kind === 'clear'), 'no clear was sent');
  assert.ok(caller.echoedMarks.length >= 1 && caller.echoedMarks.every((m) => !m.cleared), 'every sentence played');
  const record = await server.hangUp(caller);
  assert.is(record.bargeIns, 0);
  assert.not.ok(record.botSentences.some((s) => s.truncated));
});

call('a "hmm" over the bot does not interrupt it: at most a brief pause, then it resumes and no sentence is lost', async ({ server }) => {
  const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl, from: CALLER_NUMBER });
  await caller.waitFor('greeting audio', () => caller.mediaCount() > 40);
  const { startedAt } = await caller.say(hmm.samples);
  await caller.waitForBotQuiet();
  const record = await server.hangUp(caller);
  assert.is(record.bargeIns, 0, 'not a barge-in');
  assert.not.ok(record.botSentences.some((s) => s.truncated), 'no sentence was cut off');
  const clear = caller.received.find((e) => e.kind === 'clear');
  if (clear) {
    // Barge-in is fast, so a "hmm" may pause the bot; then it must carry on from where the caller stopped hearing.
    assert.ok(clear.at >= startedAt, 'paused by the hmm, not before it');
    assert.ok(caller.received.some((e) => e.kind === 'media' && e.at > clear.at), 'the bot resumed after the pause');
  }
  const heard = record.botSentences.map((s) => s.heardText).join(' ');
  assert.match(heard, /ask about our hours and location\.$/, 'the greeting and the menu were heard to their last word');
});

call('a word too short to barge in pauses the bot, which then resumes where the caller stopped hearing', async ({ server }) => {
  // Reference: the same greeting with nothing said over it.
  const quiet = await TwilioCaller.dial({ baseUrl: server.baseUrl, from: CALLER_NUMBER });
  await quiet.waitFor('greeting audio', () => quiet.mediaCount() > 40);
  await quiet.waitForBotQuiet();
  await quiet.hangUp();
  const greetingMs = heardMs(quiet);

  // The first 250 ms of "no wait stop": long enough to pause the bot, too short to take the turn.
  const word = stop.samples.subarray(8 * stop.segments[0]!.startMs, 8 * (stop.segments[0]!.startMs + 250));
  const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl, from: CALLER_NUMBER });
  await caller.waitFor('greeting audio', () => caller.mediaCount() > 40);
  await caller.say(word);
  await caller.waitFor('clear', () => caller.received.some((e) => e.kind === 'clear'), 20_000);
  const clearAt = caller.received.find((e) => e.kind === 'clear')!.at;
  await caller.waitFor('the bot to resume', () => caller.received.some((e) => e.kind === 'media' && e.at > clearAt), 20_000);
  await caller.waitForBotQuiet();
  const record = await server.hangUp(caller);
  assert.is(record.bargeIns, 0, 'not a barge-in');
  assert.not.ok(record.botSentences.some((s) => s.truncated), 'no sentence was cut off');
  // Everything the quiet caller heard, this caller heard too: the unplayed part was sent again.
  const heard = heardMs(caller);
  assert.ok(Math.abs(heard - greetingMs) <= 40, `heard ${heard} ms of a ${greetingMs} ms greeting`);
});

function heardMs(caller: TwilioCaller): number {
  return caller.heard.reduce((ms, h) => ms + h.samples.length / 8, 0);
}

call('a keypad press while the bot speaks interrupts it', async ({ server }) => {
  const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl, from: CALLER_NUMBER });
  await caller.waitFor('greeting audio', () => caller.mediaCount() > 40);
  caller.pressDigit('7');
  await caller.waitFor('clear', () => caller.received.some((e) => e.kind === 'clear'), 20_000);
  await caller.hangUp();
});

call.run();
