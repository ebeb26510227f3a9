/**
 * A failed start-up ends the process: the real entry point (`node --import tsx src/main.ts`, what `npm start`
 * runs) is started as a child with a broken setting, and must exit non-zero with exactly one line on stderr that
 * names the cause (no stack trace, no secrets), having closed whatever it had started.
 *
 * The bound each run gets is a limit on "never exits" (the failure this guards against kept the process alive
 * indefinitely), not a speed check; it is generous because this machine may be busy.
 */
import { createSocket } from 'node:dgram';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Server, Socket } from 'node:net';
import { listenOnLoopback, runEntryPoint, unusedPort, type EntryPointResult } from './support/entry-point.js';

const HANG_BOUND_MS = 60_000;
const KEY = randomBytes(32).toString('base64');
const DB_PASSWORD = 'pw-that-must-not-be-printed';

const t = suite<{ dir: string }>('start-up failures', { dir: '' });
t.before.each((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'carevox-startup-'));
});
t.after.each((ctx) => {
  rmSync(ctx.dir, { recursive: true, force: true });
});

async function start(dir: string, env: Record<string, string>): Promise<EntryPointResult> {
  const port = await unusedPort();
  return runEntryPoint('src/main.ts', {
    HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', DATA_DIR: join(dir, 'data'), ...env,
  }, HANG_BOUND_MS);
}

/** Exited by itself with `code`, and stderr is exactly one `carevox: ...` line matching `cause`, no stack. */
function assertOneLineFailure(result: EntryPointResult, code: number, cause: RegExp): void {
  assert.is(result.hung, false, `still running after ${HANG_BOUND_MS} ms; stderr: ${result.stderr}`);
  assert.is(result.code, code, `exit status; stderr: ${result.stderr}`);
  assert.is(result.stderrLines.length, 1, `exactly one line on stderr, got:\n${result.stderr}`);
  const line = result.stderrLines[0]!;
  assert.match(line, /^carevox: /);
  assert.match(line, cause);
  assert.not.match(result.stderr, /\n\s+at /, 'no stack trace');
  assert.not.ok(result.stderr.includes(KEY), 'the encryption key is never printed');
  assert.not.ok(result.stderr.includes(DB_PASSWORD), 'the database password is never printed');
}

t('DATA_DIR that cannot be created (inside a regular file: ENOTDIR, which stops root too)', async ({ dir }) => {
  // As root, chmod does not stop writes, so an unwritable directory is made with a path under a regular file.
  const file = join(dir, 'a-file');
  writeFileSync(file, 'not a directory');
  const result = await start(dir, { DATA_DIR: join(file, 'data') });
  assertOneLineFailure(result, 1, /^carevox: DATA_DIR .*a-file\/data is not writable: ENOTDIR/);
});

t('DATABASE_URL where nothing listens: the connection refusal, with host and port', async ({ dir }) => {
  const port = await unusedPort();
  const result = await start(dir, { DATABASE_URL: `postgres://carevox:${DB_PASSWORD}@127.0.0.1:${port}/carevox`, DATA_ENCRYPTION_KEY: KEY, AUDIT_HMAC_KEY: KEY });
  assertOneLineFailure(result, 1, new RegExp(`^carevox: cannot open the store: PostgreSQL at 127\\.0\\.0\\.1:${port} refused the connection \\(ECONNREFUSED\\)$`));
});

t('DATABASE_URL of a server that accepts the connection and never answers: a bounded connect timeout', async ({ dir }) => {
  const sockets: Socket[] = [];
  const silent: Server = await listenOnLoopback((socket) => { sockets.push(socket); });
  try {
    const { port } = silent.address() as { port: number };
    const result = await start(dir, { DATABASE_URL: `postgres://carevox:${DB_PASSWORD}@127.0.0.1:${port}/carevox`, DATA_ENCRYPTION_KEY: KEY, AUDIT_HMAC_KEY: KEY });
    assertOneLineFailure(result, 1, new RegExp(`^carevox: cannot open the store: PostgreSQL at 127\\.0\\.0\\.1:${port} did not accept a connection in time`));
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});

t('clinic file that is not JSON, and one that breaks the schema', async ({ dir }) => {
  const notJson = join(dir, 'clinic.json');
  writeFileSync(notJson, '{ "name": ');
  assertOneLineFailure(await start(dir, { CLINIC_CONFIG: notJson }), 2, /^carevox: clinic file .*clinic\.json: not valid JSON/);

  const badSchema = join(dir, 'clinic-schema.json');
  writeFileSync(badSchema, JSON.stringify({ name: 'Clinic', timezone: 'America/New_York' }));
  assertOneLineFailure(await start(dir, { CLINIC_CONFIG: badSchema }), 2, /^carevox: clinic file .*clinic-schema\.json: .*(frontDeskNumber|hours|providers)/);
});

t('DATA_ENCRYPTION_KEY too short, and it or AUDIT_HMAC_KEY missing with DATABASE_URL', async ({ dir }) => {
  const short = randomBytes(16).toString('base64');
  const shortResult = await start(dir, { DATA_ENCRYPTION_KEY: short });
  assertOneLineFailure(shortResult, 2, /^carevox: DATA_ENCRYPTION_KEY is not usable: .*32 bytes.*got 16$/);
  assert.not.ok(shortResult.stderr.includes(short), 'the short key is not printed either');

  const port = await unusedPort();
  const missing = await start(dir, { DATABASE_URL: `postgres://carevox:${DB_PASSWORD}@127.0.0.1:${port}/carevox` });
  assertOneLineFailure(missing, 2, /^carevox: DATA_ENCRYPTION_KEY is required when DATABASE_URL is set/);

  const noAuditKey = await start(dir, { DATABASE_URL: `postgres://carevox:${DB_PASSWORD}@127.0.0.1:${port}/carevox`, DATA_ENCRYPTION_KEY: KEY });
  assertOneLineFailure(noAuditKey, 2, /^carevox: AUDIT_HMAC_KEY is required when DATABASE_URL is set/);
});

t('EMR_ENGINE=openemr with an http base URL, no client id and no mapping file: all named at once', async ({ dir }) => {
  const result = await start(dir, { EMR_ENGINE: 'openemr', OPENEMR_BASE_URL: 'http://emr.example.org' });
  assertOneLineFailure(result, 2, /^carevox: EMR_ENGINE=openemr: OPENEMR_BASE_URL must use https.*OPENEMR_CLIENT_ID is required.*OPENEMR_MAPPING_FILE is required/);
});

t('an invalid setting (PORT out of range) names the variable', async ({ dir }) => {
  const result = await start(dir, { PORT: '99999' });
  assertOneLineFailure(result, 2, /^carevox: invalid configuration: PORT \(server\.port\)/);
});

t('SIP port in use: one line naming the SIP listener and the port, and the process exits', async ({ dir }) => {
  const occupied = createSocket('udp4');
  await new Promise<void>((resolve) => occupied.bind(0, '127.0.0.1', () => resolve()));
  try {
    const { port } = occupied.address();
    const result = await start(dir, { SIP_PORT: String(port) });
    assertOneLineFailure(result, 1, new RegExp(`^carevox: cannot start the SIP / AudioSocket listeners: cannot listen for SIP on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
  } finally {
    occupied.close();
  }
});

t('port in use: fails after the store and engines started, closes them and exits', async ({ dir }) => {
  const occupied = await listenOnLoopback((socket) => socket.destroy());
  try {
    const { port } = occupied.address() as { port: number };
    const result = await start(dir, { PORT: String(port) });
    assertOneLineFailure(result, 1, new RegExp(`^carevox: port ${port} is in use \\(HOST=127\\.0\\.0\\.1, PORT=${port}\\)$`));
    // The engines had started (this warning comes from building them): exiting means they were closed.
    assert.match(result.stdout, /speech recognition unavailable/);
  } finally {
    await new Promise<void>((resolve) => occupied.close(() => resolve()));
  }
});

t('createServices failing after the VAD worker and flite processes started closes them: the process ends', async () => {
  const result = await runEntryPoint('test/support/services-failure.fixture.ts', { LOG_LEVEL: 'silent' }, HANG_BOUND_MS);
  assert.is(result.hung, false, `the process was kept alive after createServices failed; stdout: ${result.stdout}`);
  assert.match(result.stdout, /createServices failed: OpenEmrConfigError/);
  assert.is(result.code, 0, result.stderr);
});

t.run();
