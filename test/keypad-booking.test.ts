/**
 * A caller books an appointment with the keypad alone, over the real Twilio WebSocket, on a server with no
 * speech recognition (the default install): caller ID + date of birth, type, provider, time, explicit yes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestServer } from './support/server.js';
import { TwilioCaller } from './support/twilio-caller.js';

const ALEX = { id: 'demo-1', phone: '+15555550123', dob: '01151985' }; // a demo patient of the embedded EMR

async function waitForBotQuiet(caller: TwilioCaller): Promise<void> {
  await caller.waitFor('bot to finish speaking', () => {
    const last = caller.received.at(-1);
    return last !== undefined && caller.bufferedMs === 0 && performance.now() - last.at > 400;
  }, 60_000);
}

/** Keys in `digits`, then waits for the bot's answer to start; like a caller who knows the menus, the next
 *  key may cut the answer short (a key press always interrupts the bot). */
async function press(caller: TwilioCaller, digits: string): Promise<void> {
  for (const digit of digits) {
    caller.pressDigit(digit);
    await caller.pause(120);
  }
  const from = caller.received.length;
  await caller.waitFor('the bot to answer', () => caller.mediaCount(from) > 25, 10_000);
}

test('books an appointment by keypad only over the Twilio WebSocket', async () => {
  const server = await startTestServer();
  try {
    const before = await server.services.emr.listAppointments(ALEX.id);
    const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl, from: ALEX.phone });
    await caller.waitFor('greeting', () => caller.mediaCount() > 20, 20_000);
    await waitForBotQuiet(caller);
    await press(caller, '1');            // main menu: book
    await press(caller, ALEX.dob + '#'); // caller ID found: confirm with date of birth
    await press(caller, '1');            // first appointment type
    await press(caller, '9');            // whoever is available first
    await press(caller, '1');            // first available time
    await press(caller, '1');            // take the first offer
    await press(caller, '1');            // yes, book it
    await waitForBotQuiet(caller);
    const after = await server.services.emr.listAppointments(ALEX.id);
    assert.is(after.length, before.length + 1, 'exactly one appointment was booked');
    const said = (await server.hangUp(caller)).botSentences.map((s) => s.text).join(' ');
    assert.match(said, /You are all set/, 'the caller heard the booking confirmed');
    assert.not.ok(server.rawLogs().includes('Rivera'), 'the patient name is not logged');
  } finally {
    await server.close();
  }
});

test.run();
