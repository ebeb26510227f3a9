import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import { loadConfig } from '../config/index.js';
import { defaultClinicConfig } from '../dialog/clinic.js';
import { createLogger } from '../log.js';
import { testStoreHandle } from '../store/testing.js';
import { startOpenEmrDouble } from './double/index.js';
import { OpenEmrConfigError } from './http.js';
import { createOpenEmrService } from './service.js';
import { DOUBLE_MAPPING } from './double/index.js';
import { FIXED_NOW } from './testing.js';

test('two nodes on PostgreSQL + Redis: node B\'s worker books what node A\'s caller confirmed; A hears the result; logs hold no patient data', async () => {
  const double = await startOpenEmrDouble();
  const handle = testStoreHandle('postgres');
  const storeA = await handle.open();
  const storeB = await handle.open();
  const logLines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { logLines.push(String(chunk)); cb(); } });
  const logger = createLogger('debug', sink);
  const config = loadConfig({
    EMR_ENGINE: 'openemr', OPENEMR_BASE_URL: double.url, OPENEMR_ALLOW_INSECURE_HTTP: 'true', OPENEMR_CLIENT_ID: double.client.clientId,
    OPENEMR_CLIENT_SECRET: double.client.clientSecret, OPENEMR_USERNAME: double.apiUser.username, OPENEMR_PASSWORD: double.apiUser.password,
    REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', EMR_REQUEST_TIMEOUT_MS: '2000',
  });
  const clinic = defaultClinicConfig();
  const common = { config, clinic, mapping: DOUBLE_MAPPING, logger, now: () => FIXED_NOW, writeWaitMs: 10_000, worker: { pollMs: 50, leaseMs: 10_000, jobTimeoutMs: 5000 } };
  const nodeA = createOpenEmrService({ ...common, store: storeA, nodeId: 'node-a' });
  const nodeB = createOpenEmrService({ ...common, store: storeB, nodeId: 'node-b' });
  try {
    nodeB.worker.start(); // only node B runs a worker
    const call = nodeA.forCall('call-multi-1', '+15555550101');
    await call.prefetch('+15555550101');
    const [jane] = (await call.findPatientsByPhone('+15555550101')).filter((p) => p.firstName === 'Jane');
    assert.ok(jane);
    const [slot] = await call.findAvailability({ typeId: 'checkup', providerId: 'patel', fromDate: '2030-03-04', toDate: '2030-03-04', limit: 1 });
    const booked = await call.book(jane!.id, slot!, 'req-multi-1');
    assert.equal([booked.date, booked.time, booked.providerId], ['2030-03-04', '09:00', 'patel']);
    assert.is(double.appointments().length, 1);
    const job = await storeA.jobs.get('req-multi-1');
    assert.is(job?.status, 'succeeded');
    assert.is(job?.callId, 'call-multi-1');
    const audit = await storeA.audit.list({ callId: 'call-multi-1' });
    assert.ok(audit.some((r) => r.action === 'patient.search.phone'));
    assert.ok((await storeA.audit.list()).some((r) => r.action === 'appointment.book' && r.actor === 'emr-worker'));
    assert.equal(await storeA.audit.verifyChain(), { ok: true, checked: (await storeA.audit.list()).length });
    // The prefetch went to Redis, sealed: node B (e.g. the node holding the media stream) answers from it.
    const cached = await nodeB.sharedState.get('prefetch:call-multi-1');
    assert.ok(cached && !cached.includes('Jane'), 'prefetch cached and sealed');
    const before = double.requests.length;
    const onB = nodeB.forCall('call-multi-1');
    assert.ok((await onB.findPatientsByPhone('+15555550101')).some((p) => p.id === jane!.id));
    assert.is(double.requests.length, before, 'served from the shared prefetch cache');
    await call.close();
    assert.is(await nodeB.sharedState.get('prefetch:call-multi-1'), undefined, 'dropped at call end');
    const logs = logLines.join('');
    const stored = JSON.parse((await storeA.tokens.load('openemr'))!.value) as { accessToken: string; refreshToken: string };
    assert.not.ok(logs.includes(stored.accessToken) || logs.includes(stored.refreshToken), 'tokens never logged');
    assert.ok(logs.includes('EMR job done'), 'the worker logged');
    for (const secret of ['Jane', 'Doe', '1980-02-03', '5555550101', '555-555-0101', double.apiUser.password, 'access_token']) {
      assert.not.ok(logs.includes(secret), `no ${secret} in logs`);
    }
  } finally {
    await nodeA.close();
    await nodeB.close();
    await storeA.close();
    await storeB.close();
    await handle.destroy();
    await double.close();
  }
});

test('openemr engine without a mapping for every provider is refused at start-up', async () => {
  const handle = testStoreHandle('pglite');
  const store = await handle.open();
  try {
    const config = loadConfig({ EMR_ENGINE: 'openemr', OPENEMR_BASE_URL: 'https://emr.example.org', OPENEMR_CLIENT_ID: 'c' });
    assert.throws(() => createOpenEmrService({ config, store, clinic: defaultClinicConfig(), mapping: { providers: { patel: '2' }, appointmentTypes: {} } }),
      (err: unknown) => err instanceof OpenEmrConfigError && /providers\.nguyen/.test((err as Error).message));
  } finally {
    await store.close();
    await handle.destroy();
  }
});

test.run();
