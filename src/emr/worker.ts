/**
 * The out-of-band EMR worker. Jobs come from the durable queue (a caller's confirmed booking is a row before the
 * caller hears "booking it now"), so they survive a crash: a job whose worker died is claimed again when its lease
 * expires and, because every write is idempotent on the request id, completes exactly once. Each run has a timeout;
 * transient failures back off exponentially; a circuit breaker stops hammering a failing EMR. A job that finally
 * fails is marked failed and staff get a message about it.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { JobRecord, JobRepository } from '../store/index.js';
import type { CircuitBreaker } from './breaker.js';
import type { JobEventBus } from './events.js';
import { isRetryable, type StepState } from './openemr-gateway.js';
import { EmrError, type Appointment, type Slot, type StaffMessage } from './types.js';

export type EmrJob =
  | { kind: 'book'; patientId: string; slot: Slot }
  | { kind: 'cancel'; patientId: string; appointmentId: string }
  | { kind: 'reschedule'; patientId: string; appointmentId: string; slot: Slot }
  | { kind: 'staff-message'; message: StaffMessage };

/** The writes the worker carries out (OpenEmrGateway implements these). */
export interface EmrWriteOperations {
  book(patientId: string, slot: Slot, requestId: string): Promise<Appointment>;
  cancel(patientId: string, appointmentId: string, requestId: string, step?: StepState): Promise<void>;
  reschedule(patientId: string, appointmentId: string, slot: Slot, requestId: string, step?: StepState, finalAttempt?: boolean): Promise<Appointment>;
  sendStaffMessage(message: StaffMessage, requestId: string): Promise<void>;
}

export interface EmrWorkerOptions {
  jobs: JobRepository;
  operations: EmrWriteOperations;
  events: JobEventBus;
  breaker: CircuitBreaker;
  workerId?: string;
  /** How long a claimed job is ours; a crashed worker's jobs come back after this. */
  leaseMs?: number;
  /** Budget for one attempt. */
  jobTimeoutMs?: number;
  pollMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Requeue jobs left running by a dead process before the first claim (embedded single-process store). */
  recoverAbandoned?: boolean;
  /** Attempts for the staff notice about a failed job. */
  noticeMaxAttempts?: number;
  logger?: Logger;
}

export class LeaseLostError extends Error {
  constructor() {
    super('the job lease was lost to another worker');
    this.name = 'LeaseLostError';
  }
}

export class EmrWorker {
  readonly workerId: string;
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private readonly leaseMs: number;
  private readonly jobTimeoutMs: number;

  constructor(private readonly options: EmrWorkerOptions) {
    this.workerId = options.workerId ?? `worker-${randomUUID()}`;
    this.leaseMs = options.leaseMs ?? 60_000;
    this.jobTimeoutMs = options.jobTimeoutMs ?? 20_000;
    if (this.leaseMs <= this.jobTimeoutMs) throw new Error('leaseMs must exceed jobTimeoutMs so a live job never loses its lease');
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops claiming; waits for the job in hand to finish. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
  }

  /** New work was queued: look now instead of at the next poll. */
  wake(): void {
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.sleepTimer = undefined;
    this.wakeUp?.();
  }

  /** Claims and runs one job. Returns false when nothing was runnable (or the breaker is open). */
  async runOnce(): Promise<boolean> {
    if (this.options.breaker.msUntilRetry() > 0) return false;
    const job = await this.options.jobs.claim(this.workerId, this.leaseMs);
    if (!job) return false;
    await this.execute(job);
    return true;
  }

  private async run(): Promise<void> {
    if (this.options.recoverAbandoned) {
      try {
        const recovered = await this.options.jobs.requeueRunning();
        if (recovered) this.options.logger?.warn({ recovered }, 'EMR jobs interrupted by a crash were requeued');
      } catch (err) {
        this.options.logger?.error({ err: (err as Error).message }, 'could not requeue interrupted EMR jobs');
      }
    }
    while (this.running) {
      let worked = false;
      try {
        worked = await this.runOnce();
      } catch (err) {
        this.options.logger?.error({ err: (err as Error).message }, 'EMR worker loop error');
      }
      if (!worked && this.running) {
        const wait = Math.max(this.options.pollMs ?? 250, this.options.breaker.msUntilRetry());
        await new Promise<void>((resolve) => {
          this.wakeUp = resolve;
          this.sleepTimer = setTimeout(resolve, wait);
        });
        this.wakeUp = undefined;
      }
    }
  }

  private async execute(job: JobRecord): Promise<void> {
    const { jobs, breaker, logger } = this.options;
    const log = { requestId: job.requestId, kind: job.kind, attempt: job.attempts, worker: this.workerId };
    const finalAttempt = job.attempts >= job.maxAttempts;
    const step: StepState = {
      progress: (job.progress ?? {}) as Record<string, unknown>,
      save: async (progress) => {
        if (!(await jobs.saveProgress(job.id, this.workerId, progress))) throw new LeaseLostError();
        step.progress = progress;
      },
    };
    let result: unknown;
    try {
      if (!breaker.tryAcquire()) throw new EmrError('unavailable', 'EMR circuit open');
      try {
        result = await withTimeout(this.perform(job, step, finalAttempt), this.jobTimeoutMs);
        breaker.success();
      } catch (err) {
        breaker.failure(err);
        throw err;
      }
    } catch (err) {
      if (err instanceof LeaseLostError) {
        logger?.warn(log, 'EMR job lease lost; another worker owns it now');
        return;
      }
      const code = err instanceof EmrError ? err.code : 'unavailable';
      const message = err instanceof Error ? err.message : String(err);
      if (isRetryable(err) && !finalAttempt) {
        const delay = this.backoff(job.attempts);
        await jobs.retryLater(job.id, this.workerId, `${code}: ${message}`, delay);
        logger?.warn({ ...log, code, retryInMs: delay }, 'EMR job failed; will retry');
        return;
      }
      const notice = job.kind === 'staff-message' ? undefined : await this.notifyStaff(job, code).catch(() => undefined);
      await jobs.fail(job.id, this.workerId, `${code}: ${message}`, { staffNoticeRequestId: notice ?? null });
      logger?.error({ ...log, code, staffNotified: Boolean(notice) }, 'EMR job failed for good');
      await this.publish(job, { status: 'failed', error: { code, message } });
      return;
    }
    if (await jobs.complete(job.id, this.workerId, result ?? null)) {
      logger?.info(log, 'EMR job done');
      await this.publish(job, { status: 'succeeded', result });
    }
  }

  private perform(job: JobRecord, step: StepState, finalAttempt: boolean): Promise<unknown> {
    const payload = job.payload as EmrJob;
    const ops = this.options.operations;
    switch (payload.kind) {
      case 'book': return ops.book(payload.patientId, payload.slot, job.requestId);
      case 'cancel': return ops.cancel(payload.patientId, payload.appointmentId, job.requestId, step);
      case 'reschedule': return ops.reschedule(payload.patientId, payload.appointmentId, payload.slot, job.requestId, step, finalAttempt);
      case 'staff-message': return ops.sendStaffMessage(payload.message, job.requestId);
      default: return Promise.reject(new EmrError('invalid-response', `unknown job kind ${job.kind}`));
    }
  }

  /** Queues a message telling staff that a caller's request could not be carried out. */
  private async notifyStaff(job: JobRecord, code: string): Promise<string | undefined> {
    const payload = job.payload as EmrJob;
    if (!('patientId' in payload)) return undefined;
    const what = payload.kind === 'cancel' ? 'cancellation' : payload.kind === 'reschedule' ? 'reschedule' : 'booking';
    const when = 'slot' in payload ? ` for ${payload.slot.date} at ${payload.slot.time}` : '';
    const requestId = `${job.requestId}:failed-notice`;
    await this.options.jobs.enqueue({
      requestId, callId: job.callId ?? undefined, kind: 'staff-message', maxAttempts: this.options.noticeMaxAttempts ?? 20,
      payload: {
        kind: 'staff-message',
        message: {
          patientId: payload.patientId, kind: 'callback', subject: `Phone ${what} could not be completed`,
          body: `A caller confirmed a ${what}${when} with the phone assistant, but it failed (${code}). Please call the patient back. Request ${job.requestId}.`,
        },
      } satisfies EmrJob,
    });
    this.wake();
    return requestId;
  }

  private async publish(job: JobRecord, outcome: Pick<import('./events.js').JobResultEvent, 'status' | 'result' | 'error'>): Promise<void> {
    if (!job.callId) return;
    try {
      await this.options.events.publish({ requestId: job.requestId, callId: job.callId, kind: job.kind, ...outcome });
    } catch (err) {
      // The record is the truth; the live call also polls it when no event arrives.
      this.options.logger?.warn({ requestId: job.requestId, err: (err as Error).message }, 'could not publish EMR job result');
    }
  }

  private backoff(attempt: number): number {
    const base = this.options.backoffBaseMs ?? 1000;
    const max = this.options.backoffMaxMs ?? 60_000;
    const exp = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
    return Math.round(exp / 2 + Math.random() * exp / 2); // jitter, so many calls do not retry in lockstep
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  promise.catch(() => undefined); // an attempt abandoned at its timeout may still fail later: not an unhandled rejection
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new EmrError('timeout', `EMR job took longer than ${ms} ms`)), ms); }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
