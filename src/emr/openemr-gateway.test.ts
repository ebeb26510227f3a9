import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { OpenEmrContract } from './contract.js';
import { OpenEmrClient } from './openemr-client.js';
import { OpenEmrConfigError } from './http.js';
import { OAuthGrantError, OAuthTokenManager } from './oauth.js';
import { createEmrFixture, type EmrFixture } from './testing.js';
import { EmrError, type Slot } from './types.js';

const MONDAY = '2030-03-04';
const slot = (time: string, providerId = 'patel', typeId = 'sick', date = MONDAY): Slot => ({ providerId, typeId, date, time, durationMin: 20 });

async function rejects(promise: Promise<unknown>, check: (err: unknown) => void): Promise<void> {
  try {
    await promise;
  } catch (err) {
    check(err);
    return;
  }
  assert.unreachable('expected a rejection');
}

const emrCode = (code: string) => (err: unknown) => {
  assert.instance(err, EmrError);
  assert.is((err as EmrError).code, code);
};

const t = suite<{ f: EmrFixture; contract: OpenEmrContract }>('openemr gateway', {} as never);
t.before(async (ctx) => {
  ctx.contract = await OpenEmrContract.load();
  ctx.f = await createEmrFixture({ timeoutMs: 2000 });
});
t.after(async (ctx) => {
  await ctx.f.close();
});
t.before.each(({ f }) => {
  Object.assign(f.double.faults, { down: false, latencyMs: 0, serverErrors: 0, garbage: 0, lostWriteResponses: 0, tokenErrors: 0, failedDeletes: 0 });
});

t('phone lookup tries the stored formats and finds every patient on the line', async ({ f }) => {
  const found = await f.gateway.findPatientsByPhone('+1 (555) 555-0101');
  assert.equal(found.map((p) => `${p.firstName} ${p.lastName}`).sort(), ['Jane Doe', 'John Doe']);
  assert.equal(found.find((p) => p.firstName === 'Jane')?.phones, ['+15555550101']);
  assert.equal((await f.gateway.findPatientsByPhone('+15555550103')).map((p) => p.id), ['4']);
  assert.equal((await f.gateway.findPatientsByPhone('+15555550104')).map((p) => p.id), ['5']);
  assert.equal(await f.gateway.findPatientsByPhone('+15559999999'), []);
  assert.equal(await f.gateway.findPatientsByPhone('12'), []);
});

t('name + DOB lookup re-verifies what OpenEMR returns (substring names)', async ({ f }) => {
  assert.equal((await f.gateway.findPatientsByNameDob('anne', 'SMITH', '1965-05-09')).map((p) => p.id), ['4']);
  // OpenEMR returns both Anne Smith and Ann Smithers for "Ann Smith" (substrings): only the exact last name stays.
  assert.equal((await f.gateway.findPatientsByNameDob('Ann', 'Smith', '1965-05-09')).map((p) => p.id), ['4']);
  assert.equal(await f.gateway.findPatientsByNameDob('Jane', 'Do', '1980-02-03'), []);
  assert.equal(await f.gateway.findPatientsByNameDob('Jo', 'Doe', '1980-02-03'), [], 'a prefix of someone else\'s name does not pass');
  assert.equal(await f.gateway.findPatientsByNameDob('Jane', 'Doe', '1980-02-04'), []);
  await rejects(f.gateway.findPatientsByNameDob('Jane', 'Doe', '02/03/1980'), emrCode('invalid-response'));
});

t('the double reproduces the dropped-filter quirk the re-verification guards against', async ({ f }) => {
  const token = await f.auth.accessToken();
  const res = await fetch(`${f.double.url}/apis/default/api/patient?phone_mobile=5555550101`, { headers: { authorization: `Bearer ${token}` } });
  const body = await res.json() as { data: unknown[] };
  assert.is(body.data.length, f.double.patients().length);
  f.double.requests.pop(); // our own deliberate off-contract request
});

t('no appointments is 404-with-null, which reads as an empty list', async ({ f }) => {
  assert.equal(await f.gateway.listAppointments('3'), []);
});

t('availability = provider schedules minus booked appointments', async ({ f }) => {
  const before = await f.gateway.findAvailability({ typeId: 'sick', providerId: 'patel', fromDate: MONDAY, toDate: MONDAY, limit: 3 });
  assert.equal(before.map((s) => s.time), ['09:00', '09:15', '09:30']);
  f.double.addAppointment({ pc_pid: '6', pc_aid: '2', pc_catid: '5', pc_title: 'x', pc_hometext: '', pc_eventDate: MONDAY, pc_startTime: '09:00:00',
    pc_endTime: '09:30:00', pc_duration: '1800', pc_apptstatus: '-', pc_facility: '3', pc_billing_location: '3', facility_name: 'Clinic' });
  const after = await f.gateway.findAvailability({ typeId: 'sick', providerId: 'patel', fromDate: MONDAY, toDate: MONDAY, limit: 3 });
  assert.equal(after.map((s) => s.time), ['09:30', '09:45', '10:00']);
  const otherDoctor = await f.gateway.findAvailability({ typeId: 'sick', providerId: 'nguyen', fromDate: MONDAY, toDate: MONDAY, limit: 1 });
  assert.equal(otherDoctor.map((s) => s.time), ['09:00'], 'only the booked provider loses the slot');
});

t('book re-checks the slot, is idempotent per request id, and lists back', async ({ f }) => {
  const booked = await f.gateway.book('1', slot('10:00'), 'req-book-1');
  assert.equal({ ...booked, id: 'x' }, { id: 'x', patientId: '1', providerId: 'patel', typeId: 'sick', date: MONDAY, time: '10:00', durationMin: 20, status: 'booked' });
  const again = await f.gateway.book('1', slot('10:00'), 'req-book-1');
  assert.is(again.id, booked.id);
  assert.is(f.double.appointments().filter((a) => a.pc_pid === '1').length, 1);
  const created = f.double.appointments().find((a) => a.pc_eid === booked.id)!;
  assert.is(created.pc_startTime, '10:00:00');
  assert.is(created.pc_duration, '1200');
  await rejects(f.gateway.book('3', slot('10:00'), 'req-book-2'), emrCode('conflict'));
  await rejects(f.gateway.book('3', slot('10:15'), 'req-book-3'), emrCode('conflict'));
  const listed = await f.gateway.listAppointments('1');
  assert.equal(listed.map((a) => [a.id, a.time, a.providerId, a.typeId, a.durationMin]), [[booked.id, '10:00', 'patel', 'sick', 20]]);
});

t('a booking whose answer is lost is found, not doubled', async ({ f }) => {
  f.double.faults.lostWriteResponses = 1;
  const booked = await f.gateway.book('3', slot('11:00'), 'req-lost-1');
  const mine = f.double.appointments().filter((a) => a.pc_pid === '3');
  assert.equal(mine.map((a) => a.pc_eid), [booked.id]);
});

t('pc_startTime must be exactly HH:MM (the double enforces the quirk)', async ({ f }) => {
  const token = await f.auth.accessToken();
  const res = await fetch(`${f.double.url}/apis/default/api/patient/3/appointment`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ pc_catid: '5', pc_title: 'x', pc_duration: '900', pc_hometext: '', pc_apptstatus: '-', pc_eventDate: MONDAY,
      pc_startTime: '14:00:00', pc_facility: '3', pc_billing_location: '3', pc_aid: '2' }),
  });
  assert.is(res.status, 400);
  assert.ok(((await res.json()) as { validationErrors: Record<string, string> }).validationErrors.pc_startTime);
});

t('cancel verifies the appointment is the caller\'s', async ({ f }) => {
  const theirs = await f.gateway.book('6', slot('13:00'), 'req-6');
  await rejects(f.gateway.cancel('1', theirs.id, 'req-cancel-wrong'), emrCode('not-found'));
  assert.ok(f.double.appointments().some((a) => a.pc_eid === theirs.id), 'another patient\'s appointment survives');
  await f.gateway.cancel('6', theirs.id, 'req-cancel-6');
  assert.not.ok(f.double.appointments().some((a) => a.pc_eid === theirs.id));
});

t('reschedule books the new slot then cancels the old one', async ({ f }) => {
  const old = await f.gateway.book('4', slot('14:00'), 'req-4-old');
  const moved = await f.gateway.reschedule('4', old.id, slot('14:15'), 'req-4-move');
  const mine = f.double.appointments().filter((a) => a.pc_pid === '4');
  assert.equal(mine.map((a) => [a.pc_eid, a.pc_startTime]), [[moved.id, '14:15:00']], 'the new slot may overlap the old one it replaces');
});

t('reschedule compensates when the old appointment cannot be cancelled', async ({ f }) => {
  const old = await f.gateway.book('5', slot('15:00'), 'req-5-old');
  f.double.faults.failedDeletes = 1;
  await rejects(f.gateway.reschedule('5', old.id, slot('16:00'), 'req-5-move'), emrCode('unavailable'));
  const mine = f.double.appointments().filter((a) => a.pc_pid === '5');
  assert.equal(mine.map((a) => a.pc_eid), [old.id], 'the new booking was undone; the old one stands');
});

t('staff message goes to the configured recipient with an OpenEMR note type', async ({ f }) => {
  await f.gateway.sendStaffMessage({ patientId: '1', kind: 'refill', subject: 'Refill request', body: 'lisinopril 10 mg' }, 'req-msg-1');
  const message = f.double.messages().at(-1)!;
  assert.equal({ to: message.to, title: message.title, status: message.message_status, pid: message.pid },
    { to: 'nurse', title: 'Pharmacy', status: 'New', pid: '1' });
  assert.match(message.body, /lisinopril 10 mg/);
  await rejects(f.gateway.sendStaffMessage({ kind: 'message', subject: 's', body: 'b' }, 'req-msg-2'), emrCode('not-found'));
});

t('401 mid-call: a fresh token is fetched by refresh (rotation persisted) and the request succeeds', async ({ f }) => {
  await f.auth.accessToken();
  const storedBefore = JSON.parse((await f.store.tokens.load('openemr'))!.value) as { refreshToken: string };
  f.double.expireAccessTokens();
  const refreshesBefore = f.double.grants('refresh_token');
  assert.is((await f.gateway.listAppointments('3')).length, 1);
  assert.is(f.double.grants('refresh_token'), refreshesBefore + 1);
  const storedAfter = JSON.parse((await f.store.tokens.load('openemr'))!.value) as { refreshToken: string };
  assert.is.not(storedAfter.refreshToken, storedBefore.refreshToken);
  // The old refresh token was revoked by the rotation.
  const res = await fetch(`${f.double.url}/oauth2/default/token`, { method: 'POST', body: new URLSearchParams({
    grant_type: 'refresh_token', refresh_token: storedBefore.refreshToken, client_id: f.double.client.clientId, client_secret: f.double.client.clientSecret! }) });
  assert.is(res.status, 400);
});

t('concurrent requests after expiry share one refresh', async ({ f }) => {
  f.double.expireAccessTokens();
  const before = f.double.grants('refresh_token');
  await Promise.all([f.gateway.listAppointments('1'), f.gateway.listAppointments('3'), f.gateway.listAppointments('4')]);
  assert.is(f.double.grants('refresh_token'), before + 1);
});

t('revoked refresh token: password grant takes over where configured', async ({ f }) => {
  f.double.revokeRefreshTokens();
  f.double.expireAccessTokens();
  const before = f.double.grants('password');
  assert.is((await f.gateway.listAppointments('3')).length, 1);
  assert.is(f.double.grants('password'), before + 1);
});

t('revoked refresh token without password credentials: a typed error asking for emr login', async ({ f }) => {
  const loginOnly = new OAuthTokenManager({ baseUrl: f.double.url, site: 'default', clientId: f.double.client.clientId,
    clientSecret: f.double.client.clientSecret, scopes: 'openid offline_access api:oemr user/patient.read', tokens: f.store.tokens,
    timeoutMs: 2000, allowInsecureHttp: true, tokenName: 'login-only' });
  await rejects(loginOnly.accessToken(), (err) => {
    assert.instance(err, OAuthGrantError);
    assert.match((err as Error).message, /emr login/);
  });
});

t('faults surface as typed errors: 500, garbage JSON, down, slow', async ({ f }) => {
  f.double.faults.serverErrors = 1;
  await rejects(f.gateway.listAppointments('1'), emrCode('unavailable'));
  f.double.faults.garbage = 1;
  await rejects(f.gateway.listAppointments('1'), emrCode('invalid-response'));
  f.double.faults.down = true;
  await rejects(f.gateway.listAppointments('1'), emrCode('unavailable'));
  f.double.faults.down = false;
  f.double.faults.latencyMs = 5000;
  await rejects(f.gateway.listAppointments('1'), emrCode('timeout'));
  f.double.faults.latencyMs = 0;
  assert.is((await f.gateway.listAppointments('1')).length, 1, 'recovers once the EMR does');
});

t('every patient-data access is in the audit chain, without patient data', async ({ f }) => {
  const rows = await f.store.audit.list();
  const actions = new Set(rows.map((r) => r.action));
  for (const a of ['patient.search.phone', 'patient.search.name-dob', 'appointment.list', 'appointment.book', 'appointment.cancel', 'message.send']) {
    assert.ok(actions.has(a), `audited ${a}`);
  }
  const text = JSON.stringify(rows);
  for (const secret of ['Jane', 'Doe', '1980-02-03', '555-0101', 'lisinopril']) assert.not.ok(text.includes(secret), `no ${secret} in audit`);
  assert.equal(await f.store.audit.verifyChain(), { ok: true, checked: rows.length });
});

t('only https base URLs unless explicitly allowed', async ({ f }) => {
  assert.throws(() => new OpenEmrClient({ baseUrl: 'http://emr.example.org', site: 'default', auth: f.auth, timeoutMs: 100 }),
    (err: unknown) => err instanceof OpenEmrConfigError);
  new OpenEmrClient({ baseUrl: 'https://emr.example.org', site: 'default', auth: f.auth, timeoutMs: 100 });
});

t('contract: every request the client made in this suite matches OpenEMR\'s OpenAPI file', ({ f, contract }) => {
  const apiRequests = f.double.requests.filter((r) => r.path.startsWith('/apis/'));
  assert.ok(apiRequests.length > 50, `recorded ${apiRequests.length} API requests`);
  const kinds = new Set(f.double.requests.map((r) => `${r.method} ${r.path.replace(/\/\d+/g, '/{id}')}`));
  for (const k of ['GET /apis/default/api/patient', 'GET /apis/default/api/patient/{id}/appointment', 'POST /apis/default/api/patient/{id}/appointment',
    'DELETE /apis/default/api/patient/{id}/appointment/{id}', 'GET /apis/default/api/appointment', 'POST /apis/default/api/patient/{id}/message',
    'POST /oauth2/default/token']) assert.ok(kinds.has(k), `exercised ${k}`);
  assert.equal(contract.check(f.double.requests), []);
});

t.run();

const contract = suite('openemr contract checker');
contract('flags requests that break the spec', async () => {
  const c = await OpenEmrContract.load();
  const problems = c.check([
    { method: 'GET', path: '/apis/default/api/patient', query: { phone_mobile: '1' }, contentType: undefined, body: undefined, authorized: true },
    { method: 'POST', path: '/apis/default/api/patient/1/appointment', query: {}, contentType: 'application/json', body: { pc_startTime: 900 }, authorized: true },
    { method: 'PUT', path: '/apis/default/api/patient/1/appointment/2', query: {}, contentType: 'application/json', body: {}, authorized: true },
    { method: 'POST', path: '/apis/default/api/patient/1/message', query: {}, contentType: 'application/json', body: { body: 'x' }, authorized: false },
  ]);
  const text = problems.map((p) => `${p.request}: ${p.problem}`).join('\n');
  assert.match(text, /phone_mobile/);
  assert.match(text, /pc_catid/);
  assert.match(text, /pc_startTime must be string/);
  assert.match(text, /no PUT operation/);
  assert.match(text, /Authorization/);
  assert.match(text, /must have required property 'to'/);
});
contract.run();
