import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { testStoreHandle } from '../store/testing.js';
import type { Store } from '../store/index.js';
import { CircuitBreaker } from './breaker.js';
import { CallEmrGateway } from './call-gateway.js';
import { startOpenEmrDouble, type OpenEmrDouble } from './double/index.js';
import { LocalJobEventBus } from './events.js';
import { createEmrStack, doubleAccess } from './testing.js';
import { EmrError, type Slot } from './types.js';
import { EmrWorker } from './worker.js';

const slot = (time: string, providerId = 'nguyen'): Slot => ({ providerId, typeId: 'sick', date: '2030-03-04', time, durationMin: 20 });
const CHILD = fileURLToPath(new URL('./crash-child.fixture.ts', import.meta.url));

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(25);
  }
}

function newWorker(store: Store, double: OpenEmrDouble, options: Partial<ConstructorParameters<typeof EmrWorker>[0]> = {}) {
  const { gateway } = createEmrStack(store, doubleAccess(double), { timeoutMs: 3000, actor: 'emr-worker' });
  const events = new LocalJobEventBus();
  const breaker = new CircuitBreaker({ failureThreshold: 50 });
  const worker = new EmrWorker({ jobs: store.jobs, operations: gateway, events, breaker, leaseMs: 8000, jobTimeoutMs: 5000, pollMs: 30, backoffBaseMs: 20, backoffMaxMs: 100, ...options });
  return { gateway, events, breaker, worker };
}

/** Runs the child until `marker` (or a booking landing in the double when marker is 'landed'), then SIGKILLs it. */
async function crashChild(input: Record<string, unknown>, killWhen: 'enqueued' | 'landed', double: OpenEmrDouble): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: { ...process.env, CRASH_CHILD_INPUT: JSON.stringify(input) }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  try {
    await until(() => out.includes('ENQUEUED') || child.exitCode !== null, 30_000, 'the child to enqueue');
    assert.ok(out.includes('ENQUEUED'), `child failed: ${err.slice(-500)}`);
    if (killWhen === 'landed') await until(() => double.appointments().length > 0 || out.includes('FAILED'), 10_000, 'the booking to land in OpenEMR');
    assert.not.ok(out.includes('BOOKED'), 'the child must die before confirming');
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
}

for (const kind of ['pglite', 'postgres'] as const) {
  const t = suite(`emr worker (${kind})`);

  t('process killed after the caller\'s "yes", before any worker ran: restart books exactly once', async () => {
    const double = await startOpenEmrDouble();
    const handle = testStoreHandle(kind);
    await handle.prepare();
    try {
      await crashChild({ store: handle.options, access: doubleAccess(double), callId: 'call-crash-1', requestId: 'req-crash-1',
        patientId: '3', slot: slot('09:00'), runWorker: false, leaseMs: 1500 }, 'enqueued', double);
      assert.is(double.appointments().length, 0);
      const store = await handle.open();
      const { worker } = newWorker(store, double);
      try {
        worker.start();
        await until(async () => (await store.jobs.get('req-crash-1'))?.status === 'succeeded', 10_000, 'the job to finish');
      } finally {
        await worker.stop();
        await store.close();
      }
      assert.equal(double.appointments().map((a) => [a.pc_pid, a.pc_startTime, a.pc_aid]), [['3', '09:00:00', '3']]);
    } finally {
      await double.close();
      await handle.destroy();
    }
  });

  t('process killed while the booking was in flight (it landed, no answer): restart completes it exactly once', async () => {
    const double = await startOpenEmrDouble();
    const handle = testStoreHandle(kind);
    await handle.prepare();
    double.faults.hangWriteResponses = 1;
    try {
      await crashChild({ store: handle.options, access: doubleAccess(double), callId: 'call-crash-2', requestId: 'req-crash-2',
        patientId: '3', slot: slot('09:45'), runWorker: true, leaseMs: 4000 }, 'landed', double);
      const store = await handle.open();
      // Embedded store: a restart requeues the dead process's job at once; PostgreSQL: the lease runs out.
      const { worker } = newWorker(store, double, { recoverAbandoned: kind === 'pglite' });
      try {
        const interrupted = await store.jobs.get('req-crash-2');
        assert.is(interrupted?.status, 'running', 'the dead worker still holds the lease');
        worker.start();
        await until(async () => (await store.jobs.get('req-crash-2'))?.status === 'succeeded', 15_000, 'the job to finish');
        const done = await store.jobs.get('req-crash-2');
        // At least the dead worker's attempt and the restart's; a busy machine may add a timed-out retry. What
        // matters is below: the booking exists exactly once.
        assert.ok(done!.attempts >= 2, `attempts ${done?.attempts}`);
        assert.is((done?.result as { id: string }).id, double.appointments()[0]!.pc_eid);
      } finally {
        await worker.stop();
        await store.close();
      }
      assert.is(double.appointments().length, 1, 'booked exactly once');
      const posts = double.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/appointment'));
      assert.is(posts.length, 1, 'the restarted worker found the booking instead of posting again');
    } finally {
      await double.close();
      await handle.destroy();
    }
  });

  t.run();
}

const w = suite<{ double: OpenEmrDouble; handle: ReturnType<typeof testStoreHandle>; store: Store }>('emr worker + call gateway', {} as never);
w.before(async (ctx) => {
  ctx.double = await startOpenEmrDouble();
  ctx.handle = testStoreHandle('pglite');
  ctx.store = await ctx.handle.open();
});
w.after(async (ctx) => {
  await ctx.double.close();
  await ctx.store.close();
  await ctx.handle.destroy();
});
w.before.each(({ double }) => {
  Object.assign(double.faults, { down: false, latencyMs: 0, serverErrors: 0, garbage: 0, lostWriteResponses: 0, tokenErrors: 0, failedDeletes: 0, hangWriteResponses: 0 });
});

w('a confirmed booking goes through the queue and the result comes back to the call as an event', async ({ double, store }) => {
  const { gateway, events, breaker, worker } = newWorker(store, double);
  worker.start();
  const call = new CallEmrGateway({ callId: 'call-a', reads: gateway, jobs: store.jobs, events, breaker, onEnqueued: () => worker.wake(), writeWaitMs: 5000 });
  try {
    const booked = await call.book('1', slot('10:00'), 'req-a-1');
    assert.is(booked.time, '10:00');
    const again = await call.book('1', slot('10:00'), 'req-a-1');
    assert.is(again.id, booked.id, 'same request id: same booking, from the record');
    await call.reschedule('1', booked.id, slot('10:30'), 'req-a-2');
    assert.equal(double.appointments().filter((a) => a.pc_pid === '1').map((a) => a.pc_startTime), ['10:30:00']);
    const mine = await call.listAppointments('1');
    await call.cancel('1', mine[0]!.id, 'req-a-3');
    assert.equal(double.appointments().filter((a) => a.pc_pid === '1'), []);
    await call.sendStaffMessage({ patientId: '1', kind: 'message', subject: 'Question', body: 'Please call back' }, 'req-a-4');
    assert.is(double.messages().at(-1)?.to, 'frontdesk');
  } finally {
    await worker.stop();
  }
});

w('reschedule in the worker: a failed cancel of the old appointment is retried, never leaving two or none', async ({ double, store }) => {
  const { gateway, events, breaker, worker } = newWorker(store, double);
  worker.start();
  const call = new CallEmrGateway({ callId: 'call-r', reads: gateway, jobs: store.jobs, events, breaker, onEnqueued: () => worker.wake(), writeWaitMs: 8000 });
  try {
    const old = await call.book('2', slot('15:00'), 'req-r-1');
    double.faults.failedDeletes = 2;
    const moved = await call.reschedule('2', old.id, slot('15:30'), 'req-r-2');
    assert.equal(double.appointments().filter((a) => a.pc_pid === '2').map((a) => [a.pc_eid, a.pc_startTime]), [[moved.id, '15:30:00']]);
    assert.is((await store.jobs.get('req-r-2'))?.attempts, 3);
    // Final failure: compensation removes the new booking, the old one stands, staff are told.
    double.faults.failedDeletes = 2; // both attempts to cancel the old one fail; the compensating delete works
    try {
      await new CallEmrGateway({ callId: 'call-r', reads: gateway, jobs: store.jobs, events, breaker, onEnqueued: () => worker.wake(), writeWaitMs: 8000, maxAttempts: 2 })
        .reschedule('2', moved.id, slot('16:00'), 'req-r-3');
      assert.unreachable();
    } catch (err) {
      assert.instance(err, EmrError);
    }
    assert.equal(double.appointments().filter((a) => a.pc_pid === '2').map((a) => a.pc_eid), [moved.id]);
    const failed = await store.jobs.get('req-r-3');
    assert.is(failed?.status, 'failed');
    assert.equal(failed?.result, { staffNoticeRequestId: 'req-r-3:failed-notice' });
    await until(async () => (await store.jobs.get('req-r-3:failed-notice'))?.status === 'succeeded', 10_000, 'the staff notice');
    assert.match(double.messages().at(-1)!.body, /reschedule for 2030-03-04 at 16:00/);
  } finally {
    await worker.stop();
  }
});

w('EMR 500s: the job retries with backoff and completes; the call is answered when it does', async ({ double, store }) => {
  const { gateway, events, breaker, worker } = newWorker(store, double);
  double.faults.serverErrors = 3;
  worker.start();
  const call = new CallEmrGateway({ callId: 'call-b', reads: gateway, jobs: store.jobs, events, breaker, onEnqueued: () => worker.wake(), writeWaitMs: 8000 });
  try {
    const booked = await call.book('6', slot('11:00'), 'req-b-1');
    assert.is(booked.patientId, '6');
    const job = await store.jobs.get('req-b-1');
    assert.ok(job!.attempts >= 2, `retried (${job!.attempts} attempts)`);
    assert.is(double.appointments().filter((a) => a.pc_pid === '6').length, 1);
  } finally {
    await worker.stop();
  }
});

w('final failure: the record says failed, staff get a message, the call gets a typed error', async ({ double, store }) => {
  const { gateway, events, breaker, worker } = newWorker(store, double);
  double.faults.serverErrors = 1000;
  worker.start();
  const call = new CallEmrGateway({ callId: 'call-c', reads: gateway, jobs: store.jobs, events, breaker, onEnqueued: () => worker.wake(), writeWaitMs: 8000, maxAttempts: 3 });
  try {
    try {
      await call.book('4', slot('12:00'), 'req-c-1');
      assert.unreachable('must fail');
    } catch (err) {
      assert.instance(err, EmrError);
      assert.is((err as EmrError).code, 'unavailable');
    }
    const failed = await store.jobs.get('req-c-1');
    assert.is(failed?.status, 'failed');
    assert.is(failed?.attempts, 3);
    assert.match(failed!.lastError!, /^unavailable/);
    assert.equal(failed?.result, { staffNoticeRequestId: 'req-c-1:failed-notice' });
    double.faults.serverErrors = 0; // the EMR comes back: the notice goes out
    await until(async () => (await store.jobs.get('req-c-1:failed-notice'))?.status === 'succeeded', 10_000, 'the staff notice');
    const notice = double.messages().at(-1)!;
    assert.equal([notice.pid, notice.to], ['4', 'frontdesk']);
    assert.match(notice.body, /booking for 2030-03-04 at 12:00/);
    assert.is(double.appointments().filter((a) => a.pc_pid === '4').length, 0);
  } finally {
    await worker.stop();
  }
});

w('a taken slot fails at once (no retries) with conflict', async ({ double, store }) => {
  const { gateway, events, breaker, worker } = newWorker(store, double);
  worker.start();
  const call = new CallEmrGateway({ callId: 'call-d', reads: gateway, jobs: store.jobs, events, breaker, onEnqueued: () => worker.wake(), writeWaitMs: 5000 });
  try {
    await call.book('2', slot('13:00'), 'req-d-1');
    try {
      await call.book('3', slot('13:00'), 'req-d-2');
      assert.unreachable();
    } catch (err) {
      assert.is((err as EmrError).code, 'conflict');
    }
    assert.is((await store.jobs.get('req-d-2'))?.attempts, 1);
  } finally {
    await worker.stop();
  }
});

w('slow EMR: the call gets a timeout (reads) or "queued" (writes) quickly and keeps talking; the booking still completes in the background', async ({ double, store }) => {
  const { gateway, events, breaker, worker } = newWorker(store, double, { jobTimeoutMs: 3000, leaseMs: 6000 });
  double.faults.latencyMs = 150;
  worker.start();
  const call = new CallEmrGateway({ callId: 'call-e', reads: gateway, jobs: store.jobs, events, breaker, onEnqueued: () => worker.wake(), writeWaitMs: 100, readTimeoutMs: 100 });
  try {
    try {
      await call.findAvailability({ typeId: 'sick', fromDate: '2030-03-05', toDate: '2030-03-05', limit: 1 });
      assert.unreachable();
    } catch (err) {
      assert.is((err as EmrError).code, 'timeout');
    }
    try {
      await call.book('5', slot('14:00'), 'req-e-1');
      assert.unreachable();
    } catch (err) {
      assert.is((err as EmrError).code, 'queued', 'not confirmed in time, but saved: the dialog tells the caller so');
    }
    await until(async () => (await store.jobs.get('req-e-1'))?.status === 'succeeded', 10_000, 'background completion');
    assert.is(double.appointments().filter((a) => a.pc_pid === '5').length, 1);
  } finally {
    await worker.stop();
  }
});

w('prefetch at call start answers the first questions from memory', async ({ double, store }) => {
  const { gateway, events, breaker } = newWorker(store, double);
  const call = new CallEmrGateway({ callId: 'call-f', reads: gateway, jobs: store.jobs, events, breaker });
  await call.prefetch('+15555550105');
  const before = double.requests.length;
  const patients = await call.findPatientsByPhone('+15555550105');
  assert.equal(patients.map((p) => p.id), ['6']);
  const appointments = await call.listAppointments('6');
  assert.equal(appointments.map((a) => a.time), ['11:00']);
  assert.is(double.requests.length, before, 'no EMR request after the prefetch');
});

w('prefetch failure (EMR down) leaves the call working: lookups then go to the EMR', async ({ double, store }) => {
  const { gateway, events, breaker } = newWorker(store, double);
  const call = new CallEmrGateway({ callId: 'call-g', reads: gateway, jobs: store.jobs, events, breaker });
  double.faults.down = true;
  await call.prefetch('+15555550105');
  double.faults.down = false;
  assert.equal((await call.findPatientsByPhone('+15555550105')).map((p) => p.id), ['6']);
});

w('circuit breaker: after repeated outages the call fails fast instead of waiting on a dead EMR', async ({ double, store }) => {
  const { gateway, events } = newWorker(store, double);
  const breaker = new CircuitBreaker({ failureThreshold: 2, resetAfterMs: 200 });
  const call = new CallEmrGateway({ callId: 'call-h', reads: gateway, jobs: store.jobs, events, breaker });
  double.faults.down = true;
  for (let i = 0; i < 2; i++) {
    try { await call.listAppointments('1'); } catch { /* outage */ }
  }
  assert.is(breaker.state, 'open');
  const before = double.requests.length;
  try {
    await call.listAppointments('1');
    assert.unreachable();
  } catch (err) {
    assert.is((err as EmrError).code, 'unavailable');
  }
  assert.is(double.requests.length, before, 'no request while open');
  double.faults.down = false;
  await delay(220);
  assert.is(breaker.state, 'half-open');
  await call.listAppointments('1');
  assert.is(breaker.state, 'closed');
});

w.run();
