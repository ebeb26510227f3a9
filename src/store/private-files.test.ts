import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { openStore } from './index.js';

/** Every path under `root` (root included) whose mode lets group or other read, write or enter it. */
function openToOthers(root: string): string[] {
  const found: string[] = [];
  const visit = (path: string) => {
    const stat = lstatSync(path);
    if (stat.mode & 0o077) found.push(`${(stat.mode & 0o777).toString(8)} ${path}`);
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(root);
  return found;
}

const t = suite<{ root: string }>('embedded store file modes', { root: '' });
t.before.each((ctx) => {
  ctx.root = mkdtempSync(join(tmpdir(), 'carevox-modes-'));
  chmodSync(ctx.root, 0o755); // the parent is not what is checked; make sure its mode cannot hide a leak
});
t.after.each((ctx) => {
  rmSync(ctx.root, { recursive: true, force: true });
});

t('a fresh data directory: DATA_DIR 0700, key 0600, every PGlite file and directory owner-only', async ({ root }) => {
  const dataDir = join(root, 'data');
  // No key configured: the store generates encryption.key into DATA_DIR, as on a first `npm start`.
  const store = await openStore({ dataDir, keyId: 'k1' });
  try {
    await store.calls.start('call-modes', 'node-a');
    await store.turns.append('call-modes', 0, 'caller', 'a turn that must not be readable by other users');
    await store.calls.end('call-modes', 'completed');
  } finally {
    await store.close();
  }
  assert.is(lstatSync(dataDir).mode & 0o777, 0o700);
  assert.is(lstatSync(join(dataDir, 'encryption.key')).mode & 0o777, 0o600);
  assert.ok(readdirSync(join(dataDir, 'pglite')).length > 5, 'PGlite wrote its data directory');
  assert.equal(openToOthers(dataDir), []);
});

t('a data directory left 0666/0777 by an older version is tightened when the store opens it', async ({ root }) => {
  const dataDir = join(root, 'data');
  // What the previous code did: mkdir, then PGlite with its default filesystem (files 0666); a loose key file.
  mkdirSync(join(dataDir, 'pglite'), { recursive: true, mode: 0o777 });
  const old = await PGlite.create({ dataDir: join(dataDir, 'pglite') });
  await old.close();
  writeFileSync(join(dataDir, 'encryption.key'), `${Buffer.alloc(32, 7).toString('base64')}\n`, { mode: 0o644 });
  chmodSync(dataDir, 0o777);
  assert.ok(openToOthers(dataDir).length > 100, 'the old layout is open to others (precondition)');

  const store = await openStore({ dataDir, keyId: 'k1' });
  try {
    await store.calls.start('call-old', 'node-a');
  } finally {
    await store.close();
  }
  assert.equal(openToOthers(dataDir), []);
});

t.run();
