import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from './config/index.js';
import { defaultClinicConfig } from './dialog/clinic.js';
import { StoreError } from './store/store.js';
import { checkBeforeEngines, describeCause, formatStartupFailure, startupExitCode, StartupError } from './startup.js';

function systemError(message: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(message), fields);
}

const t = suite('start-up failure lines');

t('a StoreError prints its cause chain; a connection refusal is said in words with its address', () => {
  const refused = systemError('connect ECONNREFUSED 10.0.0.5:5432', { code: 'ECONNREFUSED', address: '10.0.0.5', port: 5432 });
  const err = StartupError.because('store', 'cannot open the store', new StoreError('database migration failed', { cause: refused }));
  assert.is(formatStartupFailure(err), 'carevox: cannot open the store: database migration failed: 10.0.0.5:5432 refused the connection (ECONNREFUSED)');
  assert.is(startupExitCode(err), 1);
});

t('every address tried for a host name (AggregateError) is named once', () => {
  const v6 = systemError('connect ECONNREFUSED ::1:5999', { code: 'ECONNREFUSED', address: '::1', port: 5999 });
  const v4 = systemError('connect ECONNREFUSED 127.0.0.1:5999', { code: 'ECONNREFUSED', address: '127.0.0.1', port: 5999 });
  assert.is(describeCause(new AggregateError([v6, v4, v4], '')), '::1:5999 refused the connection (ECONNREFUSED) / 127.0.0.1:5999 refused the connection (ECONNREFUSED)');
});

t('multi-line messages become one line; an error that is not a StartupError still gets the prefix', () => {
  assert.is(formatStartupFailure(new Error('first\n  - second')), 'carevox: start-up failed: first; - second');
  assert.is(startupExitCode(new Error('x')), 1);
});

t('a cause already quoted by the message above it is not repeated', () => {
  const inner = new Error('disk full');
  assert.is(describeCause(new Error('write failed: disk full', { cause: inner })), 'write failed: disk full');
});

const checks = suite<{ dir: string }>('checks before the engines start', { dir: '' });
checks.before.each((ctx) => { ctx.dir = mkdtempSync(join(tmpdir(), 'carevox-checks-')); });
checks.after.each((ctx) => { rmSync(ctx.dir, { recursive: true, force: true }); });

checks('an OpenEMR mapping without an id for a clinic provider is a configuration failure (exit 2)', async ({ dir }) => {
  const clinic = defaultClinicConfig();
  const mappingFile = join(dir, 'mapping.json');
  const types = Object.fromEntries(clinic.appointmentTypes.map((type, i) => [type.id, String(10 + i)]));
  writeFileSync(mappingFile, JSON.stringify({ providers: {}, appointmentTypes: types }));
  const config = loadConfig({
    DATA_DIR: join(dir, 'data'), EMR_ENGINE: 'openemr', OPENEMR_BASE_URL: 'https://emr.example.org', OPENEMR_CLIENT_ID: 'carevox',
    OPENEMR_MAPPING_FILE: mappingFile,
  });
  try {
    await checkBeforeEngines(config);
    assert.unreachable('the mapping is incomplete');
  } catch (err) {
    assert.instance(err, StartupError);
    assert.is((err as StartupError).stage, 'emr');
    assert.match((err as Error).message, new RegExp(`OpenEMR mapping lacks providers\\.${clinic.providers[0]!.id}`));
    assert.is(startupExitCode(err), 2);
  }
});

checks('a complete configuration passes and hands back the clinic and mapping it checked', async ({ dir }) => {
  const clinic = defaultClinicConfig();
  const mappingFile = join(dir, 'mapping.json');
  writeFileSync(mappingFile, JSON.stringify({
    providers: Object.fromEntries(clinic.providers.map((p, i) => [p.id, String(i + 1)])),
    appointmentTypes: Object.fromEntries(clinic.appointmentTypes.map((type, i) => [type.id, String(10 + i)])),
  }));
  const config = loadConfig({
    DATA_DIR: join(dir, 'data'), EMR_ENGINE: 'openemr', OPENEMR_BASE_URL: 'https://emr.example.org', OPENEMR_CLIENT_ID: 'carevox',
    OPENEMR_MAPPING_FILE: mappingFile,
  });
  const result = await checkBeforeEngines(config);
  assert.is(result.clinic.name, clinic.name);
  assert.ok(result.emrMapping?.providers[clinic.providers[0]!.id]);
});

t.run();
checks.run();
