/**
 * A caller books an appointment with the keypad alone, over the real Twilio WebSocket, on a server with no
 * speech recognition (the default install): caller ID + date of birth, type, provider, time, explicit yes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestServer } from './support/server.js';
import { TwilioCaller } from './support/twilio-caller.js';

const ALEX = { id: 'demo-1', phone: '+15555550123', dob: '01151985' }; // a demo patient of the embedded EMR

test('books an appointment by keypad only over the Twilio WebSocket', async () => {
  const server = await startTestServer();
  try {
    const before = await server.services.emr.listAppointments(ALEX.id);
    const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl, from: ALEX.phone });
    await caller.waitFor('greeting', () => caller.mediaCount() > 20, 20_000);
    await caller.waitForBotQuiet();
    await caller.press('1');            // main menu: book
    await caller.press(ALEX.dob + '#'); // caller ID found: confirm with date of birth
    await caller.press('1');            // first appointment type
    await caller.press('9');            // whoever is available first
    await caller.press('1');            // first available time
    await caller.press('1');            // take the first offer
    await caller.press('1');            // yes, book it
    await caller.waitForBotQuiet();
    const after = await server.services.emr.listAppointments(ALEX.id);
    assert.is(after.length, before.length + 1, 'exactly one appointment was booked');
    const said = (await server.hangUp(caller)).botSentences.map((s) => s.text).join(' ');
    assert.match(said, /You are all set/, 'the caller heard the booking confirmed');
    assert.not.ok(server.rawLogs().includes('Rivera'), 'the patient name is not logged');
  } finally {
    await server.close();
  }
});

test('the pound pressed after a date of birth that completed by itself does not cut off the answer', async () => {
  const server = await startTestServer();
  try {
    const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl, from: ALEX.phone });
    await caller.waitFor('greeting', () => caller.mediaCount() > 20, 20_000);
    await caller.waitForBotQuiet();
    await caller.press('2'); // main menu: my appointments
    await caller.waitForBotQuiet();
    const clearsBefore = caller.received.filter((e) => e.kind === 'clear').length;
    // Eight digits complete the entry; the pound the prompt asked for follows while the answer is starting.
    for (const digit of ALEX.dob) { caller.pressDigit(digit); await caller.pause(120); }
    await caller.pause(250);
    caller.pressDigit('#');
    await caller.waitForBotQuiet(1_000);
    assert.is(caller.received.filter((e) => e.kind === 'clear').length, clearsBefore, 'nothing the bot said was cleared');
    const record = await server.hangUp(caller);
    const answer = record.botSentences.find((s) => /upcoming appointment/.test(s.text));
    assert.ok(answer, 'the appointments answer was said');
    assert.not.ok(answer!.truncated, 'and heard to the end');
    assert.is(record.dtmf, 10, 'every key reached carevox');
  } finally {
    await server.close();
  }
});

test.run();
