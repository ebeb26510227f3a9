import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kysely, Migrator, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import {
  AuditIntegrityError, AuditKeyError, AuditKeys, GENESIS_HASH, StoreLockedError, auditHash, openStore,
  type AuditRecord, type Store,
} from './index.js';
import { CodeMigrationProvider } from './migrations.js';
import type { Database } from './schema.js';
import { testStoreHandle, TEST_DATABASE_URL, type TestStoreHandle } from './testing.js';

/** Runs `tamper` with the append-only triggers off, as the table owner (the app's own role) can. */
async function asOwner(store: Store, tamper: (db: Kysely<Database>) => Promise<void>): Promise<void> {
  await sql`alter table audit_log disable trigger user`.execute(store.db);
  await sql`alter table audit_head disable trigger user`.execute(store.db);
  try {
    await tamper(store.db);
  } finally {
    await sql`alter table audit_log enable trigger user`.execute(store.db);
    await sql`alter table audit_head enable trigger user`.execute(store.db);
  }
}

/** Rewrites rows from `from` on so every link holds again, hashing with `hash` (what an attacker without the key can do). */
async function rechain(db: Kysely<Database>, rows: AuditRecord[], from: number,
  hash: (prev: string, r: AuditRecord) => string, alg?: 'sha256'): Promise<void> {
  let prev = from === 0 ? GENESIS_HASH : rows[from - 1]!.hash;
  for (const r of rows.slice(from)) {
    const next = hash(prev, r);
    await db.updateTable('audit_log').set({ prev_hash: prev, hash: next, ...(alg ? { alg } : {}) }).where('id', '=', r.id).execute();
    prev = next;
  }
}

const plain = (prev: string, r: AuditRecord) => auditHash(prev, { at: r.at, actor: r.actor, action: r.action, callId: r.callId, patientId: r.patientId, detail: r.detail });

async function appendMany(store: Store, n: number): Promise<AuditRecord[]> {
  for (let i = 0; i < n; i++) await store.audit.append({ actor: 'assistant', action: 'patient.lookup', callId: 'call-a', patientId: String(i), detail: { matches: i } });
  return store.audit.list();
}

async function refusedWith(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await promise;
  } catch (err) {
    assert.match(String((err as Error).message), pattern);
    return;
  }
  assert.unreachable(`should be refused (${pattern})`);
}

for (const kind of ['pglite', 'postgres'] as const) {
  const t = suite<{ handle: TestStoreHandle; store: Store }>(`audit hardening (${kind})`, {} as never);
  t.before.each(async (ctx) => {
    ctx.handle = testStoreHandle(kind);
    ctx.store = await ctx.handle.open();
  });
  t.after.each(async (ctx) => {
    await ctx.store.close();
    await ctx.handle.destroy();
  });

  t('TRUNCATE of the log, and removing its head, are refused by the database', async ({ store }) => {
    await appendMany(store, 3);
    await refusedWith(sql`truncate audit_log`.execute(store.db), /append-only/);
    await refusedWith(sql`truncate audit_head`.execute(store.db), /never removed/);
    await refusedWith(store.db.deleteFrom('audit_head').execute(), /never removed/);
    assert.equal(await store.audit.verifyChain(), { ok: true, checked: 3 });
  });

  t('an edited entry re-hashed with plain sha256 is detected, also when relabelled as a legacy row', async ({ store }) => {
    const rows = await appendMany(store, 5);
    await asOwner(store, async (db) => {
      await db.updateTable('audit_log').set({ patient_id: '999' }).where('id', '=', rows[2]!.id).execute();
      rows[2] = { ...rows[2]!, patientId: '999' };
      await rechain(db, rows, 2, plain);
    });
    const edited = await store.audit.verifyChain();
    assert.is(edited.ok, false);
    assert.is(edited.reason, 'row-modified');
    assert.is(edited.brokenAt, rows[2]!.id);
    assert.is(edited.checked, 2);

    // The whole chain rewritten as "written before the key": the signed head still remembers it was keyed.
    await asOwner(store, (db) => rechain(db, rows, 0, plain, 'sha256'));
    const downgraded = await store.audit.verifyChain();
    assert.is(downgraded.ok, false);
    assert.is(downgraded.reason, 'row-modified');
    assert.is(downgraded.brokenAt, rows[0]!.id);
    // Nothing more is signed over a chain that does not verify.
    await refusedWith(store.audit.append({ actor: 'assistant', action: 'patient.lookup' }), /does not match the signed head/);
  });

  t('an attacker\'s HMAC with another key, and a head re-signed with it, are detected', async ({ store }) => {
    const rows = await appendMany(store, 4);
    const wrong = new AuditKeys(randomBytes(32));
    await asOwner(store, async (db) => {
      await db.updateTable('audit_log').set({ action: 'nothing.happened' }).where('id', '=', rows[1]!.id).execute();
      rows[1] = { ...rows[1]!, action: 'nothing.happened' };
      await rechain(db, rows, 1, (prev, r) => wrong.rowHash(prev, { id: r.id, at: r.at, actor: r.actor, action: r.action, callId: r.callId, patientId: r.patientId, detail: r.detail }));
    });
    const rowCheck = await store.audit.verifyChain();
    assert.equal([rowCheck.ok, rowCheck.reason, rowCheck.brokenAt], [false, 'row-modified', rows[1]!.id]);

    const head = await store.db.selectFrom('audit_head').selectAll().executeTakeFirstOrThrow();
    const forged = wrong.signHead({ entries: head.entries, lastId: head.last_id, lastHash: head.last_hash, keyedFrom: head.keyed_from, signedAt: new Date().toISOString() });
    await store.db.updateTable('audit_head').set({ signed_at: forged.signedAt, signature: forged.signature }).execute();
    const headCheck = await store.audit.verifyChain();
    assert.equal([headCheck.ok, headCheck.reason], [false, 'head-signature']);
  });

  t('deleting the newest entries is detected, and appending on top of the gap is refused', async ({ store }) => {
    const rows = await appendMany(store, 6);
    await asOwner(store, async (db) => { await db.deleteFrom('audit_log').where('id', '>', rows[3]!.id).execute(); });
    const check = await store.audit.verifyChain();
    assert.is(check.ok, false);
    assert.is(check.reason, 'tail-deleted');
    assert.is(check.checked, 4);
    assert.match(check.problem!, new RegExp(`up to entry ${rows[5]!.id}`));
    try {
      await store.audit.append({ actor: 'assistant', action: 'patient.lookup' });
      assert.unreachable('append must not sign over the gap');
    } catch (err) {
      assert.instance(err, AuditIntegrityError);
      assert.is((err as AuditIntegrityError).reason, 'tail-deleted');
    }
  });

  t('an older signed head put back after deleting the newest entries is caught by the local head file', async ({ store }) => {
    await appendMany(store, 3);
    const old = await store.db.selectFrom('audit_head').selectAll().executeTakeFirstOrThrow();
    const rows = await appendMany(store, 2);
    await asOwner(store, async (db) => {
      await db.deleteFrom('audit_log').where('id', '>', old.last_id).execute();
      await db.updateTable('audit_head').set({ ...old, id: 1 }).execute();
    });
    // The database alone is consistent again (3 entries under a genuine signature)...
    const check = await store.audit.verifyChain();
    // ...but this node signed a head with 5.
    assert.is(check.ok, false);
    assert.is(check.reason, 'tail-deleted');
    assert.match(check.problem!, new RegExp(`head file .* up to entry ${rows[4]!.id}`));
  });

  t('truncation with the trigger disabled is detected, also with the head emptied too', async (ctx) => {
    await appendMany(ctx.store, 3);
    await asOwner(ctx.store, async () => { await sql`truncate audit_log`.execute(ctx.store.db); });
    const truncated = await ctx.store.audit.verifyChain();
    assert.equal([truncated.ok, truncated.reason, truncated.checked], [false, 'truncated', 0]);

    await asOwner(ctx.store, async () => { await sql`truncate audit_head`.execute(ctx.store.db); });
    // A new process on this node reads the head it kept outside the database.
    await ctx.store.close();
    ctx.store = await openStore(ctx.handle.options);
    const wiped = await ctx.store.audit.verifyChain();
    assert.equal([wiped.ok, wiped.reason], [false, 'truncated']);
    await refusedWith(ctx.store.audit.append({ actor: 'assistant', action: 'patient.lookup' }), /this node saw 3 entries/);
  });

  t('entries without a head are reported as such', async ({ store }) => {
    await appendMany(store, 2);
    await asOwner(store, async (db) => { await db.deleteFrom('audit_head').execute(); });
    const check = await store.audit.verifyChain();
    assert.equal([check.ok, check.reason], [false, 'head-missing']);
  });

  t.run();
}

const pgOnly = suite('audit hardening (PostgreSQL nodes)');

pgOnly('concurrent appends from two nodes keep one valid chain and a matching signed head', async () => {
  const handle = testStoreHandle('postgres');
  const otherDataDir = mkdtempSync(join(tmpdir(), 'carevox-node-b-'));
  const nodeA = await handle.open();
  const nodeB = await openStore({ ...handle.options, dataDir: otherDataDir });
  try {
    const perNode = 25;
    await Promise.all([nodeA, nodeB].map((node, n) => Promise.all(Array.from({ length: perNode }, (_, i) =>
      node.audit.append({ actor: `node-${n}`, action: 'patient.lookup', patientId: String(i) })))));
    for (const node of [nodeA, nodeB]) assert.equal(await node.audit.verifyChain(), { ok: true, checked: 2 * perNode });
    const rows = await nodeA.audit.list();
    assert.is(new Set(rows.map((r) => r.prevHash)).size, rows.length, 'no two entries chain to the same predecessor');
    const report = await nodeB.audit.verify();
    assert.is(report.head!.entries, 2 * perNode);
    assert.is(report.head!.lastId, rows[rows.length - 1]!.id);
    assert.is(report.head!.lastHash, rows[rows.length - 1]!.hash);
    // Each node's local copy is a head it signed itself, and consistent with the chain.
    assert.ok(report.localHead && report.localHead.entries <= 2 * perNode);
  } finally {
    await nodeA.close();
    await nodeB.close();
    await handle.destroy();
    rmSync(otherDataDir, { recursive: true, force: true });
  }
});

pgOnly('entries written before the chain was keyed still verify, and stay a prefix', async () => {
  const handle = testStoreHandle('postgres');
  const schema = handle.options.schema!;
  // A store as the previous version left it: only 0001_initial, three plain-sha256 entries.
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`create schema "${schema}"`);
  await admin.end();
  const old = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${schema}` }) }) });
  await new Migrator({ db: old, provider: new CodeMigrationProvider(), migrationTableSchema: schema }).migrateTo('0001_initial');
  let prev = GENESIS_HASH;
  for (let i = 0; i < 3; i++) {
    const row = { at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(), actor: 'assistant', action: 'patient.lookup', callId: null, patientId: String(i), detail: { i } };
    const hash = auditHash(prev, row);
    await sql`insert into audit_log (at, actor, action, call_id, patient_id, detail, prev_hash, hash)
      values (${row.at}, ${row.actor}, ${row.action}, ${row.callId}, ${row.patientId}, ${JSON.stringify(row.detail)}, ${prev}, ${hash})`.execute(old);
    prev = hash;
  }
  await old.destroy();

  const store = await openStore(handle.options); // runs 0004, which signs the head over the legacy rows
  try {
    assert.equal(await store.audit.verifyChain(), { ok: true, checked: 3 });
    const added = await store.audit.append({ actor: 'assistant', action: 'appointment.list', patientId: '1' });
    assert.is(added.alg, 'hmac-sha256');
    assert.is(added.prevHash, prev, 'the keyed chain continues the legacy one');
    assert.equal(await store.audit.verifyChain(), { ok: true, checked: 4 });
    assert.is((await store.audit.verify()).head!.keyedFrom, added.id);
    // A keyed entry passed off as a legacy one (plain sha256, which needs no key) is a downgrade.
    const rows = await store.audit.list();
    await asOwner(store, (db) => rechain(db, rows, 3, plain, 'sha256'));
    const check = await store.audit.verifyChain();
    assert.equal([check.ok, check.reason, check.brokenAt], [false, 'row-modified', added.id]);
  } finally {
    await store.close();
    await handle.destroy();
  }
});

pgOnly('a read-only store (the verify command) verifies and writes nothing', async () => {
  const handle = testStoreHandle('postgres');
  const store = await handle.open();
  const reader = await openStore({ ...handle.options, readOnly: true });
  try {
    await appendMany(store, 3);
    assert.equal(await reader.audit.verifyChain(), { ok: true, checked: 3 });
    await refusedWith(reader.audit.append({ actor: 'assistant', action: 'patient.lookup' }), /read-only/);
    await refusedWith(reader.calls.start('call-ro'), /read-only transaction/);
  } finally {
    await reader.close();
    await store.close();
    await handle.destroy();
  }
});

const embeddedLock = suite('embedded store lock');

embeddedLock('a data directory held by another live process is refused, and taken over once that process is gone', async () => {
  const handle = testStoreHandle('pglite');
  await handle.prepare();
  const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => holder.once('exit', () => resolve()));
  try {
    writeFileSync(join(handle.options.dataDir, 'pglite.lock'), `${holder.pid}\n`);
    try {
      await openStore(handle.options);
      assert.unreachable('the store is held by another process');
    } catch (err) {
      assert.instance(err, StoreLockedError);
      assert.is((err as StoreLockedError).pid, holder.pid);
    }
    holder.kill('SIGKILL');
    await exited;
    const store = await openStore(handle.options);
    assert.is(readFileSync(join(handle.options.dataDir, 'pglite.lock'), 'utf8').trim(), String(process.pid));
    await store.close();
    assert.not.ok(existsSync(join(handle.options.dataDir, 'pglite.lock')), 'released on close');
  } finally {
    holder.kill('SIGKILL');
    await handle.destroy();
  }
});

embeddedLock.run();

pgOnly('PostgreSQL needs an audit key from the environment', async () => {
  try {
    await openStore({ dataDir: '/nonexistent', keyId: 'k1', encryptionKey: randomBytes(32).toString('base64'), databaseUrl: TEST_DATABASE_URL });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, AuditKeyError);
    assert.match((err as Error).message, /AUDIT_HMAC_KEY/);
  }
});

pgOnly.run();
