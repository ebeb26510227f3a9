/**
 * The embedded EMR (the default, no EMR configured) over real calls on the Twilio WebSocket: every call that
 * identifies the caller by date of birth leaves audit rows under its call id, and a message left on a call is
 * in the store, encrypted, after the server restarts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EmbeddedEmr } from '../src/emr/index.js';
import { defaultClinicConfig } from '../src/dialog/clinic.js';
import { testStoreHandle } from '../src/store/testing.js';
import { startTestServer, type TestServer } from './support/server.js';
import { TwilioCaller } from './support/twilio-caller.js';

const ALEX = { id: 'demo-1', phone: '+15555550123', dob: '01151985' }; // a demo patient, seeded on start

/** One call from Alex's number: a main-menu choice, identified by date of birth, then `after` keys. */
async function callAndIdentify(server: TestServer, menuKey: string, after: string[] = []): Promise<{ callSid: string; said: string }> {
  const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl, from: ALEX.phone });
  await caller.waitFor('greeting', () => caller.mediaCount() > 20, 20_000);
  await caller.waitForBotQuiet();
  // Like a caller who knows the menus: each key may cut the bot's answer short (a key press interrupts it).
  for (const keys of [menuKey, `${ALEX.dob}#`, ...after]) await caller.press(keys);
  // A generous quiet: on a busy machine the EMR answer may come well after the filler ("One moment").
  await caller.waitForBotQuiet(1500);
  const record = await server.hangUp(caller);
  return { callSid: caller.callSid, said: record.botSentences.map((s) => s.text).join(' ') };
}

test('calls identified by date of birth are audited; a message left on a call survives a server restart', async () => {
  const handle = testStoreHandle('pglite');
  let store = await handle.open();
  let server = await startTestServer({}, { store });
  try {
    const listed = [await callAndIdentify(server, '2'), await callAndIdentify(server, '2')];
    const messaged = await callAndIdentify(server, '6', ['1']); // leave a message: the keypad caller asks for a call back
    // Identified, and told so. (The message call's "Thank you" may be cut short by its next key, as a caller who
    // knows the menu would; its identification shows in the message being filed under Alex, below.)
    for (const call of listed) assert.ok(/Thank you, Alex/.test(call.said), `identified: ${call.said}`);
    for (const call of [...listed, messaged]) {
      const audit = await store.audit.list({ callId: call.callSid });
      const lookup = audit.find((a) => a.action === 'patient.search.phone');
      assert.ok(lookup, `the caller-ID lookup of ${call.callSid} is audited`);
      assert.equal(lookup!.detail.patientIds, [ALEX.id]);
    }
    for (const call of listed) {
      const audit = await store.audit.list({ callId: call.callSid });
      assert.ok(audit.some((a) => a.action === 'appointment.list' && a.patientId === ALEX.id), 'the appointment list is audited');
    }
    assert.match(messaged.said, /Your message has been sent/);
    const sent = await store.audit.list({ callId: messaged.callSid });
    assert.ok(sent.some((a) => a.action === 'message.send' && a.patientId === ALEX.id), 'leaving the message is audited');
    assert.not.ok(JSON.stringify(await store.audit.list()).includes('Rivera'), 'the audit log holds ids, never the data');

    // Restart: the first server and its store go away; a new server opens the same data directory.
    await server.close();
    await store.close();
    store = await handle.open();
    server = await startTestServer({}, { store });
    const requests = await new EmbeddedEmr({ store, clinic: defaultClinicConfig() }).staffRequests({ callId: messaged.callSid });
    assert.is(requests.length, 1, 'the message is still there');
    assert.equal([requests[0]!.kind, requests[0]!.patientId, requests[0]!.state], ['callback', ALEX.id, 'new']);
    assert.match(requests[0]!.body, ALEX.phone, 'with the number to call back');
    const raw = JSON.stringify(await store.db.selectFrom('emr_staff_requests').selectAll().execute());
    assert.not.ok(raw.includes(ALEX.phone.slice(2)), 'stored encrypted');
    assert.is((await store.db.selectFrom('emr_patients').select('id').execute()).length, 2, 'the restart did not seed the demo patients again');
  } finally {
    await server.close();
    await store.close();
    await handle.destroy();
  }
});

test.run();
