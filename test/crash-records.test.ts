/**
 * A crash (kill -9) of a real server process with a live call: the call's row and the turns so far are
 * already in the embedded store (written as they happened); on the next start the call is marked
 * interrupted, and a call that had ended keeps its outcome.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { INTERRUPTED_OUTCOME } from '../src/store/index.js';
import { testStoreHandle } from '../src/store/testing.js';
import { loadFixture } from './support/fixtures.js';
import { startServerProcess } from './support/server-process.js';
import { startTestServer } from './support/server.js';
import { TwilioCaller } from './support/twilio-caller.js';

const hours = loadFixture('what-are-your-hours');
const NODE_ID = 'node-crash-test';

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Waits until the bot has finished speaking and the caller has heard it all (every mark echoed). */
async function botQuiet(caller: TwilioCaller): Promise<void> {
  await caller.waitFor('the bot to finish speaking', () => {
    const last = caller.received.at(-1);
    return last !== undefined && caller.bufferedMs === 0 && performance.now() - last.at > 500;
  }, 30_000);
}

const crash = suite('call records survive kill -9');

crash('a live call\'s row and turns so far are stored when the process dies; the next start marks it interrupted', async () => {
  const handle = testStoreHandle('pglite');
  await handle.prepare();
  const server = await startServerProcess({
    DATA_DIR: handle.options.dataDir, DATA_ENCRYPTION_KEY: handle.options.encryptionKey!, NODE_ID,
    CHILD_TRANSCRIPTS: 'what-are-your-hours',
  }, 120_000);
  let ended: TwilioCaller | undefined;
  let live: TwilioCaller | undefined;
  let heardBeforeKill = 0;
  try {
    ended = await TwilioCaller.dial({ baseUrl: server.baseUrl });
    await ended.waitFor('greeting audio', () => ended!.mediaCount() > 25, 30_000);
    await ended.hangUp();

    live = await TwilioCaller.dial({ baseUrl: server.baseUrl });
    await botQuiet(live);
    const before = live.received.length;
    await live.say(hours.samples);
    await live.waitFor('the reply', () => live!.mediaCount(before) > 25, 30_000);
    await botQuiet(live);
    // Everything the server knows so far has been written (not a precondition of the design, which loses at
    // most the turn in flight, but it makes the expected turns exact).
    await until('the record queue to be empty', async () => {
      const health = await (await fetch(`${server.baseUrl}/health`)).json() as { store: { queued: number } };
      return health.store.queued === 0;
    });
    heardBeforeKill = live.echoedMarks.filter((m) => !m.cleared).length;
  } finally {
    await server.kill();
  }
  // A reprompt could begin meanwhile: what the caller heard by the kill bounds what can be stored.
  const heardByKill = live!.echoedMarks.filter((m) => !m.cleared).length;

  const store = await handle.open();
  try {
    const call = await store.calls.get(live!.callSid);
    assert.ok(call, 'the live call\'s row was written at its start');
    assert.is(call!.endedAt, null);
    assert.is(call!.nodeId, NODE_ID);
    const turns = await store.turns.list(live!.callSid);
    assert.equal(turns.map((t) => t.seq), turns.map((_t, i) => i), 'turns numbered without gaps from 0');
    assert.ok(turns.some((t) => t.speaker === 'caller' && t.text === hours.transcript), 'what the caller said is stored');
    const botTurns = turns.filter((t) => t.speaker === 'bot').length;
    assert.ok(botTurns >= heardBeforeKill && botTurns <= heardByKill, `every sentence the caller heard is stored (${botTurns}, heard ${heardBeforeKill}..${heardByKill})`);
    assert.ok(heardBeforeKill >= 2, 'the greeting and the answer were heard');
    assert.is((await store.calls.get(ended!.callSid))?.outcome, 'caller-hung-up', 'the ended call has its outcome');

    // The next start of this node (here: in-process, on the same data) marks the dead call interrupted.
    const restarted = await startTestServer({ server: { nodeId: NODE_ID } }, { store });
    await restarted.close();
    const after = await store.calls.get(live!.callSid);
    assert.is(after?.outcome, INTERRUPTED_OUTCOME);
    assert.ok(after?.endedAt, 'with an end time');
    assert.is((await store.calls.get(ended!.callSid))?.outcome, 'caller-hung-up', 'an ended call is left alone');
    assert.ok(restarted.logs.some((l) => l.msg === 'calls left unended by a previous process marked interrupted' && l.calls === 1));
  } finally {
    await store.close();
    await handle.destroy();
  }
});

crash.run();
