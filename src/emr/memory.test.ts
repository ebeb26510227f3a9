import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultClinicConfig } from '../dialog/clinic.js';
import { computeFreeSlots, createMemoryEmr } from './memory.js';
import { EmrError, type Appointment, type Patient } from './types.js';

const clinic = defaultClinicConfig();
/** Monday 23 November 2026, 9:00 in New York (minimum notice 60 min). */
const NOW = new Date('2026-11-23T14:00:00Z');
const patients: Patient[] = [
  { id: '1', firstName: 'Jane', lastName: 'Doe', dob: '1981-03-03', phones: ['+15555550101'] },
  { id: '2', firstName: 'John', lastName: 'Smith', dob: '1975-07-04', phones: ['(555) 555-0102'] },
];
const booked: Appointment = {
  id: 'a1', patientId: '1', providerId: 'patel', typeId: 'checkup', date: '2026-11-25', time: '09:00', durationMin: 30, status: 'booked',
};

function emr(extra: Partial<Parameters<typeof createMemoryEmr>[0]> = {}) {
  return createMemoryEmr({ clinic, patients, appointments: [booked], now: () => NOW, ...extra });
}

test('patients by phone in any stored format, and by name + DOB', async () => {
  const memory = emr();
  assert.equal((await memory.findPatientsByPhone('+1 555 555 0102')).map((p) => p.id), ['2']);
  assert.equal((await memory.findPatientsByPhone('5555550101')).map((p) => p.id), ['1']);
  assert.equal(await memory.findPatientsByPhone('+15550000000'), []);
  assert.equal(await memory.findPatientsByPhone(''), []);
  assert.equal((await memory.findPatientsByNameDob('jane', 'DOE', '1981-03-03')).map((p) => p.id), ['1']);
  assert.equal(await memory.findPatientsByNameDob('jane', 'doe', '1981-03-04'), []);
  assert.equal(await memory.findPatientsByNameDob('jane', 'smith', '1981-03-03'), []);
});

test('availability: weekly schedule minus booked appointments, minimum notice, provider types, limits', () => {
  // Wednesday: Patel works 09:00-12:00 and 13:00-17:00; the booked 09:00 check-up blocks the 09:00 and 09:15 starts.
  const wednesday = computeFreeSlots(clinic, [booked], { typeId: 'checkup', providerId: 'patel', fromDate: '2026-11-25', toDate: '2026-11-25', limit: 100 }, NOW);
  assert.equal(wednesday.slice(0, 3).map((s) => s.time), ['09:30', '09:45', '10:00']);
  assert.ok(!wednesday.some((s) => s.time === '11:45'), 'a 30-minute visit cannot start at 11:45 in a block ending at 12:00');
  assert.ok(wednesday.some((s) => s.time === '11:30'));
  assert.ok(!wednesday.some((s) => s.time === '12:00' || s.time === '12:30'), 'lunch is not in the schedule');
  assert.is(wednesday[wednesday.length - 1]!.time, '16:30');
  // Today (Monday 09:00): nothing before 10:00 because of the 60-minute notice.
  const today = computeFreeSlots(clinic, [], { typeId: 'sick', fromDate: '2026-11-23', toDate: '2026-11-23', limit: 1 }, NOW);
  assert.equal(today.map((s) => [s.time, s.providerId]), [['10:00', 'patel']]);
  // Nurse practitioner Lee sees sick visits and follow-ups only.
  assert.equal(computeFreeSlots(clinic, [], { typeId: 'checkup', providerId: 'lee', fromDate: '2026-11-24', toDate: '2026-11-30', limit: 5 }, NOW), []);
  // Time window and Sunday closed.
  const afternoons = computeFreeSlots(clinic, [], { typeId: 'followup', providerId: 'nguyen', fromDate: '2026-11-28', toDate: '2026-11-30', earliestTime: '12:00', latestTime: '17:00', limit: 3 }, NOW);
  assert.equal(afternoons.map((s) => `${s.date} ${s.time}`), ['2026-11-30 12:00', '2026-11-30 12:15', '2026-11-30 12:30']);
  // Cancelled appointments free their slot.
  const cancelled = { ...booked, status: 'cancelled' as const };
  assert.is(computeFreeSlots(clinic, [cancelled], { typeId: 'checkup', providerId: 'patel', fromDate: '2026-11-25', toDate: '2026-11-25', limit: 1 }, NOW)[0]!.time, '09:00');
  assert.equal(computeFreeSlots(clinic, [], { typeId: 'nope', fromDate: '2026-11-25', toDate: '2026-11-25', limit: 1 }, NOW), []);
});

test('book is idempotent by request id and refuses a taken slot', async () => {
  const memory = emr();
  const slot = { providerId: 'patel', typeId: 'checkup', date: '2026-11-25', time: '10:00', durationMin: 30 };
  const first = await memory.book('2', slot, 'req-1');
  const again = await memory.book('2', slot, 'req-1');
  assert.is(again.id, first.id);
  assert.is(memory.allAppointments().filter((a) => a.patientId === '2').length, 1);
  await rejectsWith(memory.book('1', slot, 'req-2'), 'conflict');
  await rejectsWith(memory.book('1', { ...slot, time: '10:15' }, 'req-3'), 'conflict');
  await rejectsWith(memory.book('9', { ...slot, time: '14:00' }, 'req-4'), 'not-found');
  assert.equal((await memory.listAppointments('2')).map((a) => a.time), ['10:00']);
});

test('cancel and reschedule: only the patient\'s own appointment, idempotent', async () => {
  const memory = emr();
  await rejectsWith(memory.cancel('2', 'a1', 'c-1'), 'not-found');
  await memory.cancel('1', 'a1', 'c-2');
  await memory.cancel('1', 'a1', 'c-2');
  assert.is(memory.allAppointments().find((a) => a.id === 'a1')!.status, 'cancelled');

  const other = emr();
  const target = { providerId: 'patel', typeId: 'checkup', date: '2026-11-25', time: '09:15', durationMin: 30 };
  // Moving to an overlapping time is fine: the old appointment does not block its own move.
  const moved = await other.reschedule('1', 'a1', target, 'r-1');
  const repeat = await other.reschedule('1', 'a1', target, 'r-1');
  assert.is(repeat.id, moved.id);
  const mine = await other.listAppointments('1');
  assert.equal(mine.map((a) => [a.id, a.status, a.time]), [['a1', 'cancelled', '09:00'], [moved.id, 'booked', '09:15']]);
});

test('staff messages are stored once per request id', async () => {
  const memory = emr();
  await memory.sendStaffMessage({ patientId: '1', kind: 'refill', subject: 'Refill', body: 'metformin' }, 'm-1');
  await memory.sendStaffMessage({ patientId: '1', kind: 'refill', subject: 'Refill', body: 'metformin' }, 'm-1');
  await memory.sendStaffMessage({ kind: 'callback', subject: 'Call back', body: 'no patient' }, 'm-2');
  assert.equal(memory.staffMessages().map((m) => [m.requestId, m.kind]), [['m-1', 'refill'], ['m-2', 'callback']]);
});

test('fault injection: per operation, a limited count, then recovery; latency', async () => {
  const memory = emr({ failWith: { code: 'timeout', operations: ['findAvailability'], count: 2 } });
  const query = { typeId: 'checkup', fromDate: '2026-11-25', toDate: '2026-11-25', limit: 1 };
  assert.equal((await memory.findPatientsByPhone('+15555550101')).length, 1, 'other operations still work');
  await rejectsWith(memory.findAvailability(query), 'timeout');
  await rejectsWith(memory.findAvailability(query), 'timeout');
  assert.is((await memory.findAvailability(query)).length, 1);
  assert.is(memory.callCount('findAvailability'), 3);
  memory.setFault({ code: 'unavailable' });
  await rejectsWith(memory.listAppointments('1'), 'unavailable');
  memory.setFault(undefined);
  memory.setLatency({ listAppointments: 60 });
  let settled = false;
  const pending = memory.listAppointments('1').then(() => { settled = true; });
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.is(settled, false, 'the answer is held back by the injected latency');
  await pending;
  assert.is(settled, true);
});

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, EmrError);
    assert.is((err as EmrError).code, code);
    return;
  }
  assert.unreachable(`expected an EmrError ${code}`);
}

test.run();
