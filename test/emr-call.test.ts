/**
 * Full calls over the Twilio WebSocket with EMR_ENGINE=openemr against the local OpenEMR double: the call keeps
 * talking when OpenEMR is down or slow (the EMR is never on the audio path).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DOUBLE_MAPPING, startOpenEmrDouble, type OpenEmrDouble } from '../src/emr/index.js';
import { startTestServer, type TestServer } from './support/server.js';
import { TwilioCaller } from './support/twilio-caller.js';

const JANE = '+15555550101'; // a patient seeded in the OpenEMR double

const emrCall = suite<{ double: OpenEmrDouble; server: TestServer }>('call with OpenEMR', {} as { double: OpenEmrDouble; server: TestServer });

emrCall.before(async (ctx) => {
  ctx.double = await startOpenEmrDouble();
  const mappingFile = join(mkdtempSync(join(tmpdir(), 'carevox-mapping-')), 'mapping.json');
  writeFileSync(mappingFile, JSON.stringify(DOUBLE_MAPPING));
  ctx.server = await startTestServer({
    emr: {
      engine: 'openemr', baseUrl: ctx.double.url, allowInsecureHttp: true, mappingFile, requestTimeoutMs: 1500,
      clientId: ctx.double.client.clientId, clientSecret: ctx.double.client.clientSecret,
      username: ctx.double.apiUser.username, password: ctx.double.apiUser.password,
    },
  });
});
emrCall.after(async (ctx) => {
  await ctx.server.close();
  await ctx.double.close();
});

async function botAnswers(caller: TwilioCaller, digits: string): Promise<void> {
  for (const digit of digits) { caller.pressDigit(digit); await caller.pause(120); }
  const from = caller.received.length;
  await caller.waitFor('the bot to answer', () => caller.mediaCount(from) > 25, 10_000);
}

async function untilQuiet(caller: TwilioCaller): Promise<void> {
  await caller.waitFor('bot quiet', () => caller.bufferedMs === 0 && performance.now() - (caller.received.at(-1)?.at ?? 0) > 400, 60_000);
}

emrCall('OpenEMR down: the caller is told honestly and offered a fallback; the call goes on', async ({ double, server }) => {
  double.faults.down = true;
  try {
    const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl, from: JANE });
    await caller.waitFor('greeting', () => caller.mediaCount() > 20, 20_000);
    await botAnswers(caller, '2'); // hear my appointments: needs the EMR (the caller-ID lookup already failed)
    await botAnswers(caller, '5555550101#'); // the number on file, as asked: the lookup fails again
    await untilQuiet(caller);
    assert.ok(caller.isOpen, 'still connected');
    const record = await server.hangUp(caller);
    const said = record.botSentences.map((s) => s.text).join(' ');
    assert.ok(/cannot reach our scheduling system|take a message|front desk/i.test(said), said);
  } finally {
    double.faults.down = false;
  }
});

emrCall('OpenEMR slow (5 s): a filler is said at once, the caller never hears dead air', async ({ double, server }) => {
  const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl, from: JANE });
  await caller.waitFor('greeting', () => caller.mediaCount() > 20, 20_000);
  await untilQuiet(caller);
  await botAnswers(caller, '2'); // hear my appointments: first confirm who is calling
  await untilQuiet(caller);
  await botAnswers(caller, '02031980'); // identified; the appointment list was prefetched at call start
  await botAnswers(caller, '1'); // yes, book one
  await botAnswers(caller, '1'); // appointment type
  await botAnswers(caller, '9'); // any provider
  await untilQuiet(caller);
  double.faults.latencyMs = 5000;
  try {
    const marksBefore = caller.echoedMarks.length;
    caller.pressDigit('1'); // first available time: an availability search, slow now (past the 1.5 s EMR timeout)
    // The filler and at least one sentence after it have played (the filler alone may be followed by a pause).
    await caller.waitFor('the bot to answer', () => caller.echoedMarks.length >= marksBefore + 2, 30_000);
    await untilQuiet(caller);
    const record = await server.hangUp(caller);
    const said = record.botSentences.map((s) => s.text);
    // No dead air: the filler is said while the search is still running, before the timed-out search's apology
    // (how soon it comes is the benchmark's business, not this test's).
    const filler = said.findIndex((text) => /One moment/.test(text));
    const apology = said.findIndex((text) => /cannot reach our scheduling system/.test(text));
    assert.ok(filler >= 0 && apology > filler, JSON.stringify(said));
  } finally {
    double.faults.latencyMs = 0;
  }
});

emrCall('OpenEMR down at the confirmation: the caller hears the booking is saved and will be completed, and it is', async ({ double, server }) => {
  const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl, from: JANE });
  await caller.waitFor('greeting', () => caller.mediaCount() > 20, 20_000);
  await untilQuiet(caller);
  for (const keys of ['1', '02031980#', '1', '9', '1']) await botAnswers(caller, keys); // book, DOB, type, any provider, first available
  await untilQuiet(caller); // the offers
  await botAnswers(caller, '1'); // the first offer
  await untilQuiet(caller); // "To confirm: ... Shall I book it?"
  const before = double.appointments().length;
  double.faults.down = true;
  try {
    caller.pressDigit('1'); // yes: the booking is queued durably, but OpenEMR cannot take it now
    // Bring OpenEMR back only once the dialog has its answer for the caller (so it cannot have been confirmed).
    await caller.waitFor('the dialog to hear the request is queued',
      () => server.logs.some((l) => l.msg === 'dialog EMR request failed' && l.code === 'queued'), 30_000);
  } finally {
    double.faults.down = false;
  }
  // The filler was long over by then: what plays from now on is the answer.
  const answeredAt = performance.now();
  await caller.waitFor('the answer', () => caller.received.some((e) => e.kind === 'media' && e.at > answeredAt), 20_000);
  await untilQuiet(caller);
  const record = await server.hangUp(caller);
  const said = record.botSentences.map((s) => s.text).join(' ');
  assert.match(said, /is saved and will be completed\. If it cannot be, our staff will call you to confirm/, said);
  assert.not.match(said, /cannot reach our scheduling system/);
  assert.not.match(said, /You are all set/);
  // The worker completes it once OpenEMR is back: the job succeeds and the appointment is in OpenEMR.
  const store = server.services.store;
  const deadline = performance.now() + 60_000;
  while (!(await store.jobs.list('succeeded')).some((j) => j.callId === caller.callSid && j.kind === 'book')) {
    if (performance.now() > deadline) throw new Error('timed out waiting for the queued booking to complete');
    await caller.pause(100);
  }
  assert.is(double.appointments().length, before + 1);
});

emrCall.run();
