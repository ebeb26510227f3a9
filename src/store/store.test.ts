import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { statSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { openStore, DecryptError, StaleTokenError, KeyringError, type Store } from './index.js';
import { TEST_DATABASE_URL, testStoreHandle, type TestStoreHandle } from './testing.js';

for (const kind of ['pglite', 'postgres'] as const) {
  const t = suite<{ handle: TestStoreHandle; store: Store }>(`store (${kind})`, {} as never);
  t.before(async (ctx) => {
    ctx.handle = testStoreHandle(kind);
    ctx.store = await ctx.handle.open();
  });
  t.after(async (ctx) => {
    await ctx.store.close();
    await ctx.handle.destroy();
  });

  t('turn text is encrypted at rest and read back transparently', async ({ store }) => {
    await store.calls.start('call-1', 'node-a');
    await store.turns.append('call-1', 1, 'caller', 'I need to book for Jane Doe born 1980-02-03');
    await store.turns.append('call-1', 2, 'bot', 'Sure.');
    const raw = await store.db.selectFrom('turns').select(['text_enc', 'key_id']).orderBy('seq').execute();
    assert.is(raw.length, 2);
    assert.not.ok(raw[0]!.text_enc.includes('Jane'));
    assert.is(raw[0]!.key_id, 'k1');
    const turns = await store.turns.list('call-1');
    assert.equal(turns.map((x) => x.text), ['I need to book for Jane Doe born 1980-02-03', 'Sure.']);
    await store.calls.end('call-1', 'completed');
    assert.is((await store.calls.get('call-1'))?.outcome, 'completed');
  });

  t('a tampered ciphertext is rejected, not returned', async ({ store }) => {
    const row = await store.db.selectFrom('turns').select(['id', 'text_enc']).where('seq', '=', 2).executeTakeFirstOrThrow();
    const bytes = Buffer.from(row.text_enc, 'base64');
    bytes[bytes.length - 1] ^= 1;
    await store.db.updateTable('turns').set({ text_enc: bytes.toString('base64') }).where('id', '=', row.id).execute();
    try {
      await store.turns.list('call-1');
      assert.unreachable('should throw');
    } catch (err) {
      assert.instance(err, DecryptError);
    }
    await store.db.deleteFrom('turns').where('id', '=', row.id).execute();
  });

  t('key rotation: old rows open with the retired key and re-encrypt under the new one', async (ctx) => {
    const { handle } = ctx;
    await ctx.store.close(); // PGlite is single-process: one open store per data directory at a time
    const newKey = randomBytes(32).toString('hex');
    const rotated = await openStore({ ...handle.options, keyId: 'k2', encryptionKey: newKey, previousKeys: `k1:${handle.options.encryptionKey}` });
    try {
      assert.is((await rotated.turns.list('call-1'))[0]!.text, 'I need to book for Jane Doe born 1980-02-03');
      await rotated.turns.append('call-1', 3, 'caller', 'thanks');
      assert.is(await rotated.turns.reencrypt(), 1);
      const keyIds = await rotated.db.selectFrom('turns').select('key_id').execute();
      assert.ok(keyIds.every((r) => r.key_id === 'k2'));
      assert.equal((await rotated.turns.list('call-1')).map((x) => x.text), ['I need to book for Jane Doe born 1980-02-03', 'thanks']);
    } finally {
      await rotated.close();
    }
    ctx.store = await handle.open();
    {
      // The old-key-only store can no longer read rows sealed under k2.
      try {
        await ctx.store.turns.list('call-1');
        assert.unreachable('old keyring must not open k2 rows');
      } catch (err) {
        assert.instance(err, DecryptError);
      }
    }
  });

  t('tokens are encrypted and saved compare-and-swap', async ({ store }) => {
    const v1 = await store.tokens.save('openemr', JSON.stringify({ refresh_token: 'secret-refresh-1' }));
    const raw = await store.db.selectFrom('oauth_tokens').select('token_enc').executeTakeFirstOrThrow();
    assert.not.ok(raw.token_enc.includes('secret-refresh'));
    const v2 = await store.tokens.save('openemr', JSON.stringify({ refresh_token: 'secret-refresh-2' }), v1);
    assert.is(v2, v1 + 1);
    try {
      await store.tokens.save('openemr', JSON.stringify({ refresh_token: 'stale' }), v1);
      assert.unreachable('stale version must be refused');
    } catch (err) {
      assert.instance(err, StaleTokenError);
    }
    const loaded = await store.tokens.load('openemr');
    assert.equal(JSON.parse(loaded!.value), { refresh_token: 'secret-refresh-2' });
    assert.is(loaded!.version, v2);
  });

  t('audit log chains hashes, verifies, refuses edits and detects tampering', async ({ store }) => {
    for (let i = 0; i < 5; i++) {
      await store.audit.append({ actor: 'assistant', action: 'patient.lookup', callId: 'call-1', patientId: String(i), detail: { z: 1, a: [i], matched: i } });
    }
    await Promise.all([1, 2, 3].map((i) => store.audit.append({ actor: 'worker', action: 'appointment.book', patientId: String(i) })));
    const check = await store.audit.verifyChain();
    assert.equal(check, { ok: true, checked: 8 });
    const rows = await store.audit.list();
    assert.is(rows[0]!.prevHash, '0'.repeat(64));
    for (let i = 1; i < rows.length; i++) assert.is(rows[i]!.prevHash, rows[i - 1]!.hash);
    try {
      await store.db.updateTable('audit_log').set({ action: 'nothing' }).where('id', '=', rows[2]!.id).execute();
      assert.unreachable('update must be refused');
    } catch (err) {
      assert.match(String((err as Error).message), /append-only/);
    }
    try {
      await store.db.deleteFrom('audit_log').where('id', '=', rows[2]!.id).execute();
      assert.unreachable('delete must be refused');
    } catch (err) {
      assert.match(String((err as Error).message), /append-only/);
    }
    // Someone with table-owner rights disables the trigger and rewrites history: the chain shows it.
    await sql`alter table audit_log disable trigger audit_log_no_change`.execute(store.db);
    await store.db.updateTable('audit_log').set({ patient_id: '999' }).where('id', '=', rows[3]!.id).execute();
    await sql`alter table audit_log enable trigger audit_log_no_change`.execute(store.db);
    const broken = await store.audit.verifyChain();
    assert.is(broken.ok, false);
    assert.is(broken.brokenAt, rows[3]!.id);
  });

  t('jobs: idempotent enqueue, encrypted payload, claim with lease, retry, finish', async ({ store }) => {
    const first = await store.jobs.enqueue({ requestId: 'req-1', callId: 'call-1', kind: 'book', payload: { patientId: '1', note: 'Jane' }, maxAttempts: 3 });
    const again = await store.jobs.enqueue({ requestId: 'req-1', callId: 'call-1', kind: 'book', payload: { patientId: '1' }, maxAttempts: 3 });
    assert.ok(first.created);
    assert.not.ok(again.created);
    assert.is(again.job.id, first.job.id);
    const raw = await store.db.selectFrom('emr_jobs').select('payload_enc').executeTakeFirstOrThrow();
    assert.not.ok(raw.payload_enc.includes('Jane'));

    const claimed = await store.jobs.claim('w1', 60_000);
    assert.is(claimed?.requestId, 'req-1');
    assert.is(claimed?.attempts, 1);
    assert.equal(claimed?.payload, { patientId: '1', note: 'Jane' });
    assert.is(await store.jobs.claim('w2', 60_000), undefined, 'a leased job is not claimable');
    assert.ok(await store.jobs.saveProgress(claimed!.id, 'w1', { step: 'booked', appointmentId: '7' }));
    assert.not.ok(await store.jobs.saveProgress(claimed!.id, 'w2', {}), 'only the lease owner writes');
    assert.ok(await store.jobs.retryLater(claimed!.id, 'w1', 'timeout', 0));
    const reclaimed = await store.jobs.claim('w2', 60_000);
    assert.is(reclaimed?.attempts, 2);
    assert.equal(reclaimed?.progress, { step: 'booked', appointmentId: '7' });
    assert.not.ok(await store.jobs.complete(reclaimed!.id, 'w1', {}), 'old owner lost the lease');
    assert.ok(await store.jobs.complete(reclaimed!.id, 'w2', { appointmentId: '7' }));
    const done = await store.jobs.get('req-1');
    assert.is(done?.status, 'succeeded');
    assert.equal(done?.result, { appointmentId: '7' });
  });

  t('jobs: an expired lease (dead worker) makes the job claimable again; delayed retries wait', async ({ store }) => {
    await store.jobs.enqueue({ requestId: 'req-2', kind: 'cancel', payload: {}, maxAttempts: 2 });
    const claimed = await store.jobs.claim('dead-worker', 1);
    assert.is(claimed?.requestId, 'req-2');
    await new Promise((r) => setTimeout(r, 20));
    const taken = await store.jobs.claim('w3', 60_000);
    assert.is(taken?.requestId, 'req-2');
    assert.ok(await store.jobs.retryLater(taken!.id, 'w3', 'http 500', 60_000));
    assert.is(await store.jobs.claim('w3', 60_000), undefined, 'not due yet');
    const pending = await store.jobs.list('pending');
    assert.is(pending.length, 1);
    assert.is(pending[0]!.lastError, 'http 500');
  });

  t.run();
}

const embedded = suite('store embedded key');

embedded('the embedded store generates its key once, mode 0600, and reuses it', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'carevox-key-'));
  try {
    const logs: string[] = [];
    const logger = { warn: (o: unknown, m: string) => logs.push(`${JSON.stringify(o)} ${m}`), info: () => {} } as never;
    const first = await openStore({ dataDir, keyId: 'k1', logger });
    await first.calls.start('c');
    await first.turns.append('c', 1, 'caller', 'hello');
    await first.close();
    const keyPath = join(dataDir, 'encryption.key');
    assert.is(statSync(keyPath).mode & 0o777, 0o600);
    const key = readFileSync(keyPath, 'utf8').trim();
    assert.is(Buffer.from(key, 'base64').length, 32);
    // Two keys are generated: the encryption key and the audit HMAC key, each 0600 and never logged.
    const auditKeyPath = join(dataDir, 'audit.key');
    assert.is(statSync(auditKeyPath).mode & 0o777, 0o600);
    const auditKey = readFileSync(auditKeyPath, 'utf8').trim();
    assert.is(logs.length, 2);
    for (const secret of [key, auditKey]) assert.not.ok(logs.some((l) => l.includes(secret)), 'a key itself is never logged');
    const second = await openStore({ dataDir, keyId: 'k1', logger });
    assert.is((await second.turns.list('c'))[0]!.text, 'hello');
    await second.close();
    assert.is(logs.length, 2, 'no second key generated');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

embedded('PostgreSQL needs an explicit key', async () => {
  try {
    await openStore({ dataDir: '/nonexistent', keyId: 'k1', databaseUrl: 'postgres://127.0.0.1/test' });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, KeyringError);
  }
});

embedded.run();

const shared = suite('store on a shared PostgreSQL database');

/** A scratch database whose `public` (and one more schema) already hold another application's Kysely tables. */
async function scratchDatabaseWithOtherApp(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `carevox_shared_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try { await admin.query(`create database ${name}`); } finally { await admin.end(); }
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  const other = new pg.Client({ connectionString: url.toString() });
  await other.connect();
  try {
    await other.query('create schema other_app');
    for (const schema of ['public', 'other_app']) {
      // Exactly what Kysely's Migrator leaves behind for an application that has run its own migrations.
      await other.query(`create table ${schema}.kysely_migration (name varchar(255) primary key, timestamp varchar(255) not null)`);
      await other.query(`create table ${schema}.kysely_migration_lock (id varchar(255) primary key, is_locked integer not null default 0)`);
      await other.query(`insert into ${schema}.kysely_migration values ('2024_01_01_other_app_init', '2024-01-01T00:00:00.000Z')`);
      await other.query(`insert into ${schema}.kysely_migration_lock values ('migration_lock', 0)`);
      await other.query(`create table ${schema}.calls (id serial primary key, other_app_column text)`);
    }
  } finally {
    await other.end();
  }
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      try { await c.query(`drop database if exists ${name} with (force)`); } finally { await c.end(); }
    },
  };
}

shared('migrations run in carevox\'s own schema, beside another application\'s Kysely tables in public', async () => {
  const db = await scratchDatabaseWithOtherApp();
  try {
    const options = { dataDir: '/nonexistent', keyId: 'k1', encryptionKey: randomBytes(32).toString('base64'), databaseUrl: db.url };
    const first = await openStore(options); // no schema given: the default, `carevox`
    await first.calls.start('call-1', 'node-a');
    await first.turns.append('call-1', 0, 'caller', 'hello');
    await first.close();
    const again = await openStore(options); // re-opening finds its own migrations done
    assert.is((await again.turns.list('call-1'))[0]!.text, 'hello');
    await again.close();

    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const tables = await c.query<{ table_schema: string; table_name: string }>(
        `select table_schema, table_name from information_schema.tables where table_schema in ('public', 'other_app', 'carevox') order by 1, 2`);
      const bySchema = (schema: string) => tables.rows.filter((r) => r.table_schema === schema).map((r) => r.table_name);
      assert.ok(bySchema('carevox').includes('turns') && bySchema('carevox').includes('kysely_migration'), 'carevox keeps its tables and migrations in its schema');
      assert.equal(bySchema('public'), ['calls', 'kysely_migration', 'kysely_migration_lock'], 'nothing added to public');
      for (const schema of ['public', 'other_app']) {
        const migrations = await c.query(`select name from ${schema}.kysely_migration`);
        assert.equal(migrations.rows.map((r) => r.name), ['2024_01_01_other_app_init'], `the other application's migrations in ${schema} are untouched`);
        assert.is((await c.query(`select count(*)::int as n from ${schema}.calls`)).rows[0].n, 0);
      }
      const ours = await c.query('select name from carevox.kysely_migration order by name');
      assert.equal(ours.rows.map((r) => r.name), ['0001_initial', '0002_call_records']);
    } finally {
      await c.end();
    }
  } finally {
    await db.drop();
  }
});

shared('a dropped PostgreSQL connection (pg_terminate_backend) is not fatal: the next query reconnects', async () => {
  const applicationName = `carevox_drop_${process.pid}_${randomBytes(4).toString('hex')}`;
  const handle = testStoreHandle('postgres');
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set('application_name', applicationName);
  const logs: string[] = [];
  const logger = { warn: (_o: unknown, m: string) => logs.push(m), info: () => {}, error: () => {} } as never;
  const store = await openStore({ ...handle.options, databaseUrl: url.toString(), logger });
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    // Several connections open and idle in the pool.
    await Promise.all([1, 2, 3].map((i) => store.calls.start(`call-${i}`, 'node-a')));
    const killed = await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [applicationName]);
    assert.ok(killed.rowCount! >= 1, 'the store had connections to terminate');
    await waitUntil(() => logs.some((m) => m.includes('PostgreSQL connection lost')), 10_000, 'the pool to notice');
    await store.calls.end('call-1', 'completed');
    assert.is((await store.calls.get('call-1'))?.outcome, 'completed');
  } finally {
    await admin.end();
    await store.close();
    await handle.destroy();
  }
});

async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

shared.run();
