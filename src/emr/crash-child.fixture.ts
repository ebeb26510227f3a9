/**
 * Child process for the crash-recovery test: a live call whose caller just said "yes". It enqueues the confirmed
 * booking through the call's gateway (as the dialog would), optionally runs a worker, prints progress markers on
 * stdout, and waits to be killed with SIGKILL by the test. Input comes as JSON in CRASH_CHILD_INPUT.
 */
import { openStore, type StoreOptions } from '../store/index.js';
import { CircuitBreaker } from './breaker.js';
import { CallEmrGateway } from './call-gateway.js';
import { LocalJobEventBus } from './events.js';
import { createEmrStack, type DoubleAccess } from './testing.js';
import type { Slot } from './types.js';
import { EmrWorker } from './worker.js';

interface Input {
  store: StoreOptions;
  access: DoubleAccess;
  callId: string;
  requestId: string;
  patientId: string;
  slot: Slot;
  runWorker: boolean;
  leaseMs: number;
}

const input = JSON.parse(process.env.CRASH_CHILD_INPUT ?? '{}') as Input;
const store = await openStore(input.store);
const { gateway } = createEmrStack(store, input.access, { timeoutMs: input.leaseMs - 200, actor: 'emr-worker' });
const events = new LocalJobEventBus();
const breaker = new CircuitBreaker();
const worker = new EmrWorker({
  jobs: store.jobs, operations: gateway, events, breaker, workerId: 'doomed-worker', leaseMs: input.leaseMs,
  jobTimeoutMs: input.leaseMs - 100, pollMs: 50,
});
const call = new CallEmrGateway({
  callId: input.callId, reads: gateway, jobs: store.jobs, events, breaker, writeWaitMs: 60_000,
  onEnqueued: () => {
    process.stdout.write('ENQUEUED\n');
    if (input.runWorker) worker.start();
  },
});
await call.book(input.patientId, input.slot, input.requestId).then(
  () => process.stdout.write('BOOKED\n'),
  (err: unknown) => process.stdout.write(`FAILED ${(err as Error).message}\n`),
);
