import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CallRecorder, storeCallRecordWriter, type CallRecordWriter, type RecordOperation } from './call-recorder.js';
import { openStore } from './store.js';
import { startTcpProxy, TEST_DATABASE_URL, testStoreHandle } from './testing.js';

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A writer at the database edge that fails while `down` is set (a fake only for the queue logic). */
function switchableWriter() {
  const written: RecordOperation[] = [];
  const state = { down: false, error: Object.assign(new Error('write ENOSPC'), { code: 'ENOSPC' }) as Error, refuse: new Set<number>() };
  const op = async (o: RecordOperation) => {
    if (state.down) throw state.error;
    if (o.kind === 'turn' && state.refuse.has(o.seq)) throw Object.assign(new Error('insert violates foreign key constraint'), { code: '23503' });
    written.push(o);
  };
  const writer: CallRecordWriter = {
    startCall: (callId, _nodeId, d) => op({ kind: 'start', callId, transport: d.transport, at: d.startedAt }),
    appendTurn: (callId, seq, speaker, text, at) => op({ kind: 'turn', callId, seq, speaker, text, at }),
    endCall: (callId, outcome, at) => op({ kind: 'end', callId, outcome, at }),
  };
  return { writer, written, state };
}

const queue = suite('call recorder queue');

queue('writes at once; while the store fails it queues, says degraded, keeps the bound; then drains in order', async () => {
  const { writer, written, state } = switchableWriter();
  const logs: { msg: string; obj: unknown }[] = [];
  const logger = { warn: (obj: unknown, msg: string) => logs.push({ obj, msg }), error: (obj: unknown, msg: string) => logs.push({ obj, msg }), info: (obj: unknown, msg: string) => logs.push({ obj, msg }) } as never;
  const recorder = new CallRecorder({ writer, nodeId: 'node-a', maxQueued: 4, logger, retryInitialMs: 5, retryMaxMs: 20 });
  recorder.started('CA1', { transport: 'twilio' });
  recorder.turn('CA1', 0, 'caller', 'my date of birth is 1980-02-03');
  await recorder.whenIdle();
  assert.equal(written.map((o) => o.kind), ['start', 'turn']);
  assert.equal(recorder.status(), { state: 'ok', queued: 0, dropped: 0, lastError: null });

  state.down = true;
  for (let seq = 1; seq <= 7; seq++) recorder.turn('CA1', seq, 'bot', `sentence ${seq}`);
  await until(() => recorder.status().lastError !== null, 'the failure to be noticed');
  const degraded = recorder.status();
  assert.is(degraded.state, 'degraded');
  assert.is(degraded.queued, 4, 'the bound holds');
  assert.is(degraded.dropped, 3, 'what did not fit is counted');
  assert.is(degraded.lastError?.message, 'write ENOSPC');
  recorder.ended('CA1', 'caller-hung-up'); // pushes out one more, the oldest
  assert.is(recorder.status().dropped, 4);

  state.down = false;
  await until(() => recorder.status().queued === 0, 'the queue to drain');
  assert.is(recorder.status().state, 'ok');
  assert.equal(written.slice(2).map((o) => (o.kind === 'turn' ? o.seq : o.kind)), [5, 6, 7, 'end'], 'the newest kept, in order; the oldest dropped');
  const text = JSON.stringify(logs);
  assert.ok(logs.some((l) => l.msg === 'call record dropped'));
  assert.not.ok(text.includes('1980') || text.includes('sentence'), 'no record text in the logs');
  await recorder.close();
});

queue('a write the database refuses for good is dropped and counted, not retried forever', async () => {
  const { writer, written, state } = switchableWriter();
  state.refuse.add(1);
  const recorder = new CallRecorder({ writer, nodeId: 'n', maxQueued: 10, retryInitialMs: 5 });
  recorder.turn('CA2', 0, 'caller', 'a');
  recorder.turn('CA2', 1, 'bot', 'b');
  recorder.turn('CA2', 2, 'caller', 'c');
  await recorder.whenIdle();
  assert.equal(written.map((o) => (o as { seq: number }).seq), [0, 2]);
  assert.is(recorder.status().dropped, 1);
  await recorder.close();
});

queue('close writes what is queued when the store comes back in time, and gives up after its grace period', async () => {
  const { writer, written, state } = switchableWriter();
  const recorder = new CallRecorder({ writer, nodeId: 'n', maxQueued: 10, retryInitialMs: 5, retryMaxMs: 10 });
  state.down = true;
  recorder.started('CA3');
  await until(() => recorder.status().lastError !== null, 'the failure');
  setTimeout(() => { state.down = false; }, 50);
  await recorder.close(10_000);
  assert.equal(written.map((o) => o.kind), ['start']);

  const stuck = new CallRecorder({ writer, nodeId: 'n', maxQueued: 10, retryInitialMs: 5, retryMaxMs: 10 });
  state.down = true;
  stuck.started('CA4');
  await stuck.close(100); // must return although the store never comes back
  assert.is(stuck.status().queued, 1);
});

queue('a write that hangs (no error yet) makes the status degraded once the oldest record has waited past stallMs', async () => {
  let clock = Date.parse('2030-01-01T10:00:00Z');
  let release!: () => void;
  const hanging = new Promise<void>((resolve) => { release = resolve; });
  const writer: CallRecordWriter = { startCall: () => hanging, appendTurn: async () => {}, endCall: async () => {} };
  const recorder = new CallRecorder({ writer, nodeId: 'n', maxQueued: 10, stallMs: 5000, now: () => new Date(clock) });
  recorder.started('CA5');
  recorder.turn('CA5', 0, 'caller', 'x');
  assert.equal([recorder.status().state, recorder.status().queued], ['ok', 2], 'a short backlog is normal');
  clock += 5001;
  assert.equal([recorder.status().state, recorder.status().queued], ['degraded', 2]);
  release();
  await recorder.whenIdle();
  assert.equal([recorder.status().state, recorder.status().queued], ['ok', 0]);
  await recorder.close();
});

queue.run();

const pgOutage = suite('call recorder on PostgreSQL behind a proxy that goes away');

pgOutage('records queue while PostgreSQL is unreachable (bounded), and are written once it is back', async () => {
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(TEST_DATABASE_URL).port || 5432) });
  const handle = testStoreHandle('postgres');
  const direct = await handle.open(); // migrates the schema; the test reads back over its own connection
  const proxied = await openStore({ ...handle.options, databaseUrl: proxy.urlFor(handle.options.databaseUrl!) });
  const recorder = new CallRecorder({ writer: storeCallRecordWriter(proxied), nodeId: 'node-a', maxQueued: 5, retryInitialMs: 20, retryMaxMs: 200 });
  try {
    recorder.started('CA-pg', { transport: 'twilio' });
    recorder.turn('CA-pg', 0, 'caller', 'hello');
    recorder.turn('CA-pg', 1, 'bot', 'hi there');
    await recorder.whenIdle();
    assert.is((await direct.turns.list('CA-pg')).length, 2);

    await proxy.cut(); // every connection dropped, new ones refused
    for (let seq = 2; seq <= 9; seq++) recorder.turn('CA-pg', seq, seq % 2 ? 'bot' : 'caller', `turn ${seq}`);
    await until(() => recorder.status().lastError !== null, 'the outage to be noticed');
    assert.equal({ ...recorder.status(), lastError: undefined }, { state: 'degraded', queued: 5, dropped: 3, lastError: undefined });
    assert.is((await direct.turns.list('CA-pg')).length, 2, 'nothing got through meanwhile');

    await proxy.restore();
    recorder.ended('CA-pg', 'completed'); // one more than the bound: the oldest waiting (turn 5) goes
    await until(() => recorder.status().queued === 0, 'the queue to drain after PostgreSQL is back', 30_000);
    assert.is(recorder.status().state, 'ok');
    const turns = await direct.turns.list('CA-pg');
    assert.equal(turns.map((t) => t.seq), [0, 1, 6, 7, 8, 9], 'the newest five kept (the oldest dropped and counted)');
    assert.is(turns.find((t) => t.seq === 9)?.text, 'turn 9');
    assert.is(recorder.status().dropped, 4);
    assert.is((await direct.calls.get('CA-pg'))?.outcome, 'completed');
  } finally {
    await recorder.close(1000);
    await proxied.close();
    await direct.close();
    await proxy.close();
    await handle.destroy();
  }
});

pgOutage('turn and call writes are idempotent: a retried write whose first attempt landed adds nothing', async () => {
  const handle = testStoreHandle('pglite');
  const store = await handle.open();
  try {
    const writer = storeCallRecordWriter(store);
    const at = new Date('2030-01-01T10:00:00Z');
    for (let i = 0; i < 2; i++) {
      await writer.startCall('CA-idem', 'node-a', { transport: 'twilio', startedAt: at });
      await writer.appendTurn('CA-idem', 0, 'caller', 'hello', at);
      await writer.endCall('CA-idem', 'completed', at);
    }
    assert.is((await store.turns.list('CA-idem')).length, 1);
    const call = await store.calls.get('CA-idem');
    assert.equal([call?.outcome, call?.nodeId, call?.transport, call?.startedAt.toISOString()], ['completed', 'node-a', 'twilio', at.toISOString()]);
  } finally {
    await store.close();
    await handle.destroy();
  }
});

pgOutage.run();
