/**
 * Store faults under a live call, against a real server and a real database: a PostgreSQL connection terminated by
 * the database (pg_terminate_backend), and the database unreachable (a TCP proxy in front of it cut and
 * restored), and a full disk under the embedded store. The process stays up, the call goes on, its record is
 * written once the store is back.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { closeSync, cpSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openStore, type Store } from '../src/store/index.js';
import { startTcpProxy, TEST_DATABASE_URL, testStoreHandle, type TcpProxy, type TestStoreHandle } from '../src/store/testing.js';
import { loadFixture } from './support/fixtures.js';
import { startTestServer, type TestServer } from './support/server.js';
import { TwilioCaller } from './support/twilio-caller.js';
import { createTranscriptDouble } from './support/transcript-double.js';

const hours = loadFixture('what-are-your-hours');

interface Health { status: string; store: { kind: string; state: string; queued: number; dropped: number; lastError: { message: string } | null } }

async function health(server: TestServer): Promise<Health> {
  const response = await fetch(`${server.baseUrl}/health`);
  assert.is(response.status, 200, 'a degraded store still takes calls');
  return await response.json() as Health;
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The caller speaks and the bot answers: the call is unaffected. */
async function askAndHearReply(caller: TwilioCaller): Promise<void> {
  const before = caller.received.length;
  await caller.say(hours.samples);
  await caller.waitFor('a spoken reply', () => caller.mediaCount(before) > 25, 15_000);
}

async function greeted(caller: TwilioCaller): Promise<void> {
  await caller.waitFor('greeting audio', () => caller.mediaCount() > 25, 15_000);
  // At least one sentence heard (its mark echoed): a bot turn is recorded.
  await caller.waitFor('a greeting sentence heard', () => caller.echoedMarks.length >= 1, 15_000);
}

/** Every turn of the call's in-memory record is in the database, in order, and the outcome too. */
async function assertRecordStored(direct: Store, server: TestServer, caller: TwilioCaller): Promise<void> {
  const record = await server.recordOf(caller.callSid);
  const stored = await direct.turns.list(caller.callSid);
  assert.equal(stored.map((t) => [t.seq, t.speaker, t.text]), record.turns.map((t, i) => [i, t.speaker, t.text]), 'no turn lost');
  assert.ok(record.turns.some((t) => t.speaker === 'caller' && t.text === hours.transcript), 'the caller turn is among them');
  const call = await direct.calls.get(caller.callSid);
  assert.is(call?.outcome, 'caller-hung-up');
  assert.is(call?.transport, 'twilio');
}

const faults = suite('store faults during a live call');

faults('pg_terminate_backend on the server\'s connections: the process stays up, the call goes on, records are written after reconnect', async () => {
  const applicationName = `carevox_fault_${process.pid}_${randomBytes(4).toString('hex')}`;
  const handle = testStoreHandle('postgres');
  const direct = await handle.open();
  const url = new URL(handle.options.databaseUrl!);
  url.searchParams.set('application_name', applicationName);
  const store = await openStore({ ...handle.options, databaseUrl: url.toString() });
  const asr = createTranscriptDouble([{ audio: hours.samples, transcript: hours.transcript! }]);
  const server = await startTestServer({ server: { nodeId: 'node-fault-a' } }, { engines: { asr }, store });
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl });
    await greeted(caller);
    await until('the call row', async () => (await direct.calls.get(caller.callSid)) !== undefined);
    assert.is((await direct.calls.get(caller.callSid))?.nodeId, 'node-fault-a');

    const killed = await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [applicationName]);
    assert.ok(killed.rowCount! >= 1, 'the server had connections to terminate');

    await askAndHearReply(caller);
    assert.ok(caller.isOpen, 'the call is still up');
    await until('the caller turn written after reconnect', async () =>
      (await direct.turns.list(caller.callSid)).some((t) => t.speaker === 'caller'));
    await server.hangUp(caller);
    await until('the records written', () => server.services.recorder.status().queued === 0);
    await assertRecordStored(direct, server, caller);
    assert.is((await health(server)).status, 'ok');
  } finally {
    await admin.end();
    await server.close();
    await store.close();
    await direct.close();
    await handle.destroy();
  }
});

faults('PostgreSQL unreachable: records queue and /health says degraded, the call is unaffected; once back the queue drains and nothing is lost', async () => {
  let proxy: TcpProxy | undefined;
  let handle: TestStoreHandle | undefined;
  const stores: Store[] = [];
  let server: TestServer | undefined;
  try {
    proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(TEST_DATABASE_URL).port || 5432) });
    handle = testStoreHandle('postgres');
    const direct = await handle.open();
    stores.push(direct);
    const store = await openStore({ ...handle.options, databaseUrl: proxy.urlFor(handle.options.databaseUrl!) });
    stores.push(store);
    const asr = createTranscriptDouble([{ audio: hours.samples, transcript: hours.transcript! }]);
    server = await startTestServer({}, { engines: { asr }, store });

    const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl });
    await greeted(caller);
    await until('the call row', async () => (await direct.calls.get(caller.callSid)) !== undefined);

    await proxy.cut();
    await askAndHearReply(caller); // the call does not wait on the store
    const s = server;
    await until('/health to say degraded', async () => {
      const h = await health(s);
      return h.status === 'degraded' && h.store.state === 'degraded' && h.store.queued > 0;
    });
    const during = await health(server);
    assert.ok(during.store.lastError?.message, 'the failure is named');
    assert.not.ok(JSON.stringify(during).includes(hours.transcript!), 'no record text in /health');
    assert.ok(caller.isOpen);
    await server.hangUp(caller); // the end is queued too

    await proxy.restore();
    await until('the queue to drain', async () => (await health(s)).store.queued === 0, 60_000);
    const after = await health(server);
    assert.is(after.status, 'ok');
    assert.is(after.store.dropped, 0);
    await assertRecordStored(direct, server, caller);
  } finally {
    await server?.close();
    for (const s of stores) await s.close();
    await proxy?.close();
    await handle?.destroy();
  }
});

/**
 * A small tmpfs to fill up (needs the right to mount: root in the test container). Returns undefined where
 * that is not possible, and the disk-full test is then left out (said so on stderr).
 */
function mountSmallDisk(sizeMb: number): { dir: string; fill(): void; free(): void; unmount(): void } | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'carevox-full-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0700`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  const filler = join(dir, 'filler');
  return {
    dir,
    fill: () => {
      const fd = openSync(filler, 'a');
      const chunk = Buffer.alloc(256 * 1024);
      try { for (;;) writeSync(fd, chunk); } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      } finally { closeSync(fd); }
    },
    free: () => rmSync(filler, { force: true }),
    unmount: () => { execFileSync('umount', ['-l', dir]); rmSync(dir, { recursive: true, force: true }); },
  };
}

const disk = mountSmallDisk(64);
if (disk) {
  faults('disk full under the embedded store: records queue and /health says degraded, the call is unaffected; with space again nothing is lost', async () => {
    const handle = testStoreHandle('pglite');
    let server: TestServer | undefined;
    let store: Store | undefined;
    try {
      await handle.prepare(); // a migrated data directory, copied onto the small disk
      cpSync(join(handle.options.dataDir, 'pglite'), join(disk.dir, 'pglite'), { recursive: true });
      store = await openStore({ ...handle.options, dataDir: disk.dir });
      const asr = createTranscriptDouble([{ audio: hours.samples, transcript: hours.transcript! }]);
      server = await startTestServer({}, { engines: { asr }, store });
      const s = server;
      const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl });
      await greeted(caller);
      await until('the greeting written', () => s.services.recorder.status().queued === 0);

      disk.fill();
      // Rows that fit in a table's last page still get written on a full disk; records of another call,
      // too big for what is left, make the store need new pages (as a busy node's would) and fail.
      s.services.recorder.started('CA-other-call');
      for (let seq = 0; seq < 200; seq++) s.services.recorder.turn('CA-other-call', seq, 'caller', 'x'.repeat(2000));
      await askAndHearReply(caller); // the call does not wait on the store
      await until('/health to say degraded', async () => {
        const h = await health(s);
        return h.status === 'degraded' && h.store.queued > 0;
      });
      assert.match((await health(server)).store.lastError?.message ?? '', /No space left on device/);
      assert.ok(caller.isOpen);
      await server.hangUp(caller);

      disk.free();
      await until('the queue to drain', async () => (await health(s)).store.queued === 0, 60_000);
      assert.is((await health(server)).status, 'ok');
      assert.is((await health(server)).store.dropped, 0);
      await assertRecordStored(store, server, caller);
      assert.is((await store.turns.list('CA-other-call')).length, 200);
    } finally {
      await server?.close();
      await store?.close();
      await handle.destroy();
      disk.unmount();
    }
  });
} else {
  console.error('store faults: the disk-full test needs to mount a tmpfs (root); left out here');
}

faults.run();
