import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { testStoreHandle } from './testing.js';

const CAREVOX = fileURLToPath(new URL('../../bin/carevox.mjs', import.meta.url));

/** `carevox ...` as an operator runs it: a child process with only the store's environment. */
function carevox(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CAREVOX, ...args], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('carevox audit verify: exit 0 on a good store, 1 with what broke on a tampered one, refused while the store is open', async () => {
  const handle = testStoreHandle('pglite');
  const env = { DATA_DIR: handle.options.dataDir, DATA_ENCRYPTION_KEY: handle.options.encryptionKey!, AUDIT_HMAC_KEY: handle.options.auditKey! };
  try {
    let store = await handle.open();
    for (let i = 0; i < 4; i++) await store.audit.append({ actor: 'assistant', action: 'patient.lookup', patientId: String(i) });
    const rows = await store.audit.list();

    // While this process holds the embedded store, the command must not open it underneath.
    const busy = await carevox(['audit', 'verify'], env);
    assert.is(busy.code, 1, busy.stderr);
    assert.match(busy.stderr, new RegExp(`in use by process ${process.pid}`));
    await store.close();

    const good = await carevox(['audit', 'verify'], env);
    assert.is(good.code, 0, good.stderr);
    assert.match(good.stdout, /^audit log OK: 4 entries, head signed at \d{4}-\d\d-\d\dT/);
    const json = await carevox(['audit', 'verify', '--json'], env);
    assert.is(json.code, 0, json.stderr);
    const verdict = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.equal([verdict.ok, verdict.status, verdict.entries], [true, 'ok', 4]);
    assert.equal((verdict.head as Record<string, unknown>).lastId, rows[3]!.id);

    // The newest entry removed by someone who can disable the trigger.
    store = await handle.open();
    await sql`alter table audit_log disable trigger user`.execute(store.db);
    await store.db.deleteFrom('audit_log').where('id', '=', rows[3]!.id).execute();
    await store.close();
    const tampered = await carevox(['audit', 'verify'], env);
    assert.is(tampered.code, 1, tampered.stderr);
    assert.match(tampered.stdout, /^audit log BROKEN \(tail-deleted\)/);
    const tamperedJson = JSON.parse((await carevox(['audit', 'verify', '--json'], env)).stdout) as Record<string, unknown>;
    assert.equal([tamperedJson.ok, tamperedJson.reason, tamperedJson.entries], [false, 'tail-deleted', 3]);

    // Without the key the command cannot vouch for anything.
    const wrongKey = await carevox(['audit', 'verify'], { ...env, AUDIT_HMAC_KEY: Buffer.alloc(32, 7).toString('base64') });
    assert.is(wrongKey.code, 1);
    assert.match(wrongKey.stdout, /BROKEN \(head-signature\)/);

    const usage = await carevox(['audit', 'nonsense'], env);
    assert.is(usage.code, 2);
    assert.match(usage.stderr, /usage: carevox audit verify/);
    const help = await carevox(['audit', '--help'], env);
    assert.is(help.code, 0);
    assert.match(help.stdout, /--json/);
  } finally {
    await handle.destroy();
  }
});

test.run();
