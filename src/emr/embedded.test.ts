/**
 * The embedded EMR on the real store, PGlite and PostgreSQL: durable across a restart, shared by two nodes on one
 * database, one winner when two nodes book the same (or an overlapping) time at once, nothing readable at rest,
 * idempotent seeding, and an audit row for every patient-data access.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultClinicConfig } from '../dialog/clinic.js';
import { Keyring, openStore, type Store } from '../store/index.js';
import { testStoreHandle, type TestStoreHandle } from '../store/testing.js';
import { DEMO_PATIENTS, EmbeddedEmr } from './embedded.js';
import { EmrError, type Patient, type Slot } from './types.js';

const clinic = defaultClinicConfig();
/** Monday 2030-03-04 08:00 in New York. */
const NOW = () => new Date('2030-03-04T13:00:00Z');
const ALEX = DEMO_PATIENTS[0]!;
const FAMILY: Patient = { id: 'p-3', firstName: 'Robin', lastName: "O'Neil", dob: '1990-12-25', phones: ['(555) 555-0123', '555.555.0199'] };
const PATIENTS = [...DEMO_PATIENTS, FAMILY];

const slot = (time: string, date = '2030-03-05', providerId = 'nguyen', typeId = 'sick', durationMin = 20): Slot =>
  ({ providerId, typeId, date, time, durationMin });

function emrOn(store: Store, callId?: string): EmbeddedEmr {
  const emr = new EmbeddedEmr({ store, clinic, now: NOW });
  return callId ? emr.forCall(callId) : emr;
}

/** Awaits every promise; returns how many fulfilled and the codes of the EmrErrors among the rejections. */
async function settle(promises: Promise<unknown>[]): Promise<{ won: number; codes: string[] }> {
  const results = await Promise.allSettled(promises);
  const codes = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    .map((r) => (r.reason instanceof EmrError ? r.reason.code : String(r.reason)));
  return { won: results.filter((r) => r.status === 'fulfilled').length, codes };
}

for (const kind of ['pglite', 'postgres'] as const) {
  const t = suite<{ handle: TestStoreHandle; store: Store }>(`embedded EMR (${kind})`, {} as never);
  t.before.each(async (ctx) => {
    ctx.handle = testStoreHandle(kind);
    ctx.store = await ctx.handle.open();
  });
  t.after.each(async (ctx) => {
    await ctx.store.close().catch(() => undefined);
    await ctx.handle.destroy();
  });

  t('seeding is idempotent: twice, and from two gateways at once, creates each patient once', async ({ store }) => {
    assert.is(await emrOn(store).seedPatients(PATIENTS), 3);
    assert.is(await emrOn(store).seedPatients(PATIENTS), 0);
    const again = await Promise.all([emrOn(store).seedPatients(PATIENTS), emrOn(store).seedPatients(PATIENTS)]);
    assert.equal(again, [0, 0]);
    assert.is((await store.db.selectFrom('emr_patients').select('id').execute()).length, 3);
    assert.is((await store.db.selectFrom('emr_patient_phones').select('patient_id').execute()).length, 4);
  });

  t('lookups by phone (any stored shape) and by name + DOB go through the blind index; each access is audited', async ({ store }) => {
    await emrOn(store).seedPatients(PATIENTS);
    const emr = emrOn(store, 'call-lookup');
    assert.equal((await emr.findPatientsByPhone('+1 (555) 555-0123')).map((p) => p.id), ['demo-1', 'p-3'], 'a shared family line');
    assert.equal((await emr.findPatientsByPhone('5555550199')).map((p) => p.id), ['p-3']);
    assert.equal(await emr.findPatientsByPhone('+15550000000'), []);
    assert.equal(await emr.findPatientsByPhone('12'), []);
    const [alex] = await emr.findPatientsByNameDob('alex', 'RIVERA', '1985-01-15');
    assert.equal(alex, ALEX);
    assert.equal((await emr.findPatientsByNameDob('Rob', 'oneil', '1990-12-25')).map((p) => p.id), ['p-3']);
    assert.equal(await emr.findPatientsByNameDob('alex', 'rivera', '1985-01-16'), []);
    assert.equal(await emr.findPatientsByNameDob('sam', 'rivera', '1985-01-15'), []);
    const audit = await store.audit.list({ callId: 'call-lookup' });
    assert.equal(audit.map((a) => a.action), [
      'patient.search.phone', 'patient.search.phone', 'patient.search.phone', 'patient.search.phone',
      'patient.search.name-dob', 'patient.search.name-dob', 'patient.search.name-dob', 'patient.search.name-dob',
    ]);
    assert.equal(audit[0]!.detail, { matches: 2, patientIds: ['demo-1', 'p-3'] });
    assert.not.ok(JSON.stringify(audit).includes('Rivera') || JSON.stringify(audit).includes('1985'), 'ids and counts only');
  });

  t('book, list, reschedule, cancel: idempotent on the request id, audited with the patient id', async ({ store }) => {
    await emrOn(store).seedPatients(PATIENTS);
    const emr = emrOn(store, 'call-book');
    const booked = await emr.book('demo-1', slot('09:00'), 'req-1');
    assert.equal(await emr.book('demo-1', slot('09:00'), 'req-1'), booked, 'a retried request returns the same booking');
    try {
      await emr.book('p-3', slot('09:00'), 'req-2');
      assert.unreachable('the slot is taken');
    } catch (err) {
      assert.is((err as EmrError).code, 'conflict');
    }
    const free = await emr.findAvailability({ typeId: 'sick', providerId: 'nguyen', fromDate: '2030-03-05', toDate: '2030-03-05', limit: 3 });
    assert.equal(free.map((s) => s.time), ['08:30', '09:30', '09:45'], '08:45 and 09:15 would overlap the 09:00 visit');
    const moved = await emr.reschedule('demo-1', booked.id, slot('10:00'), 'req-3');
    assert.equal((await emr.listAppointments('demo-1')).map((a) => [a.time, a.status]), [['09:00', 'cancelled'], ['10:00', 'booked']]);
    await emr.cancel('demo-1', moved.id, 'req-4');
    await emr.cancel('demo-1', moved.id, 'req-4');
    assert.equal((await emr.listAppointments('demo-1')).map((a) => a.status), ['cancelled', 'cancelled']);
    try {
      await emr.cancel('p-3', booked.id, 'req-5');
      assert.unreachable('not their appointment');
    } catch (err) {
      assert.is((err as EmrError).code, 'not-found');
    }
    const audit = await store.audit.list({ callId: 'call-book' });
    assert.equal(audit.map((a) => [a.action, a.patientId]), [
      ['appointment.book', 'demo-1'], ['appointment.book', 'demo-1'], ['appointment.reschedule', 'demo-1'], ['appointment.list', 'demo-1'],
      ['appointment.cancel', 'demo-1'], ['appointment.cancel', 'demo-1'], ['appointment.list', 'demo-1'],
    ]);
  });

  t('a booking and a message survive a restart (a second store opened on the same data)', async ({ handle, store }) => {
    await emrOn(store).seedPatients(PATIENTS);
    const booked = await emrOn(store, 'call-1').book('demo-1', slot('11:00'), 'req-r1');
    await emrOn(store, 'call-1').sendStaffMessage({ patientId: 'demo-1', kind: 'refill', subject: 'Refill: lisinopril', body: 'To the pharmacy on file.' }, 'req-r2');
    await store.close();
    const reopened = await openStore(handle.options);
    try {
      assert.is(await emrOn(reopened).seedPatients(PATIENTS), 0, 'the seed is already there');
      const emr = emrOn(reopened);
      assert.equal(await emr.listAppointments('demo-1'), [booked]);
      const free = await emr.findAvailability({ typeId: 'sick', providerId: 'nguyen', fromDate: '2030-03-05', toDate: '2030-03-05', limit: 100 });
      assert.not.ok(free.some((s) => s.time === '11:00'), 'the booked time is not offered again');
      const [request] = await emr.staffRequests();
      assert.equal({ ...request!, createdAt: undefined, id: undefined }, {
        id: undefined, createdAt: undefined, requestId: 'req-r2', kind: 'refill', callId: 'call-1', patientId: 'demo-1',
        subject: 'Refill: lisinopril', body: 'To the pharmacy on file.', state: 'new',
      });
      assert.ok(await emr.setStaffRequestState(request!.id, 'in_progress'));
      assert.equal((await emr.staffRequests({ state: 'in_progress' })).map((r) => r.requestId), ['req-r2']);
      assert.equal(await emr.staffRequests({ state: 'new' }), []);
      assert.not.ok(await emr.setStaffRequestState(9999, 'done'));
    } finally {
      await reopened.close();
    }
  });

  t('encrypted columns hold no plaintext: names, DOB, phones, notes and messages', async ({ store }) => {
    await emrOn(store).seedPatients(PATIENTS);
    const emr = emrOn(store, 'call-raw');
    await emr.book('demo-1', slot('09:00'), 'req-x1');
    await emr.sendStaffMessage({ patientId: 'demo-1', kind: 'message', subject: 'Message from the phone assistant', body: 'My knee still hurts after the fall' }, 'req-x2');
    await emr.sendStaffMessage({ kind: 'callback', subject: 'Call-back request', body: 'Caller number: +15555550177.' }, 'req-x3');
    const raw = JSON.stringify(await Promise.all([
      store.db.selectFrom('emr_patients').selectAll().execute(),
      store.db.selectFrom('emr_patient_phones').selectAll().execute(),
      store.db.selectFrom('emr_appointments').selectAll().execute(),
      store.db.selectFrom('emr_staff_requests').selectAll().execute(),
    ]));
    for (const secret of ['Alex', 'Rivera', 'Robin', 'Neil', '1985-01-15', '1985', '5555550123', '555-0123', '0199', '0177', 'knee', 'phone assistant', 'Call-back', 'Booked by']) {
      assert.not.ok(raw.toLowerCase().includes(secret.toLowerCase()), `"${secret}" is stored in plaintext`);
    }
    assert.ok(raw.includes('demo-1') && raw.includes('"kind":"callback"'), 'ids and kinds stay readable for staff tooling');
    const other = new EmbeddedEmr({ store: { ...store, keyring: Keyring.fromConfig('k1', Buffer.alloc(32, 7).toString('base64')) }, clinic, now: NOW });
    assert.equal(await other.findPatientsByPhone('+15555550123'), [], 'without the store key the blind index finds nothing');
  });

  t('concurrent bookings of one slot, and of overlapping times, from two gateways: exactly one wins', async ({ handle, store }) => {
    await emrOn(store).seedPatients(PATIENTS);
    // Two nodes: on PostgreSQL a second store (its own pool) on the same schema; PGlite is one process's database.
    const second = kind === 'postgres' ? await openStore(handle.options) : store;
    try {
      const a = emrOn(store, 'node-a');
      const b = emrOn(second, 'node-b');
      for (const [i, time] of ['09:00', '10:00', '11:00', '14:00', '15:00'].entries()) {
        const same = await settle([a.book('demo-1', slot(time), `a-${i}`), b.book('p-3', slot(time), `b-${i}`)]);
        assert.equal(same, { won: 1, codes: ['conflict'] }, `same slot ${time}`);
      }
      // A 30-minute check-up at 09:00 and a 20-minute sick visit at 09:15 overlap with Doctor Patel on Wednesday.
      const overlap = await settle([
        a.book('demo-1', slot('09:00', '2030-03-06', 'patel', 'checkup', 30), 'a-overlap'),
        b.book('p-3', slot('09:15', '2030-03-06', 'patel', 'sick', 20), 'b-overlap'),
      ]);
      assert.equal(overlap, { won: 1, codes: ['conflict'] });
      const booked = await second.db.selectFrom('emr_appointments').select(['provider_id', 'date', 'time']).where('status', '=', 'booked').execute();
      assert.is(booked.length, 6);
      // What node A booked, node B sees (and does not offer).
      const seen = await b.findAvailability({ typeId: 'sick', providerId: 'nguyen', fromDate: '2030-03-05', toDate: '2030-03-05', limit: 100 });
      for (const time of ['09:00', '10:00', '11:00', '14:00', '15:00']) assert.not.ok(seen.some((s) => s.time === time), time);
    } finally {
      if (second !== store) await second.close();
    }
  });

  t('an audit log that cannot be written refuses the access', async ({ store }) => {
    await emrOn(store).seedPatients(PATIENTS);
    const broken = new EmbeddedEmr({ store: { ...store, audit: { append: async () => { throw new Error('disk full'); } } as never }, clinic, now: NOW });
    try {
      await broken.findPatientsByPhone('+15555550123');
      assert.unreachable('no audit, no data');
    } catch (err) {
      assert.is((err as EmrError).code, 'unavailable');
    }
  });

  t.run();
}
