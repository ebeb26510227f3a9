/**
 * The EMR as one live call sees it (the dialog's EmrGateway), backed by OpenEMR. Reads go straight to OpenEMR
 * behind a timeout and the circuit breaker; writes become durable jobs for the worker, and the call awaits their
 * result events (with a timeout: a confirmed booking carries on in the background and the record tells the truth).
 * At call start the caller-ID lookup and upcoming appointments are prefetched so the first questions are answered
 * from memory.
 */
import type { Logger } from '../log.js';
import type { JobRecord, JobRepository, Keyring } from '../store/index.js';
import type { CircuitBreaker } from './breaker.js';
import type { JobEventBus, JobResultEvent } from './events.js';
import type { SharedState } from './shared-state.js';
import type { EmrJob } from './worker.js';
import {
  EmrError, type Appointment, type AvailabilityQuery, type EmrErrorCode, type EmrGateway, type Patient, type Slot, type StaffMessage,
} from './types.js';

/** The reads, answered by OpenEMR directly (OpenEmrGateway implements these). */
export type EmrReadOperations = Pick<EmrGateway, 'findPatientsByPhone' | 'findPatientsByNameDob' | 'listAppointments' | 'findAvailability'>;

export interface CallEmrGatewayOptions {
  callId: string;
  reads: EmrReadOperations;
  jobs: JobRepository;
  events: JobEventBus;
  breaker: CircuitBreaker;
  /** Shared prefetch cache (Redis across nodes); values are sealed with `keyring`. */
  cache?: { state: SharedState; keyring: Keyring; ttlMs?: number };
  readTimeoutMs?: number;
  /** How long a call waits for a write's result before answering `queued` (saved, not yet confirmed). */
  writeWaitMs?: number;
  maxAttempts?: number;
  /** Tells the local worker there is new work. */
  onEnqueued?: () => void;
  logger?: Logger;
}

interface Prefetched {
  phone: string;
  patients: Patient[];
  appointments: Record<string, Appointment[]>;
}

const PREFETCH_PATIENT_LIMIT = 3;

/**
 * How long a call waits for a queued write's result. Under the dialog's own EMR time box (8 s), so the dialog
 * hears "queued" from here (and tells the caller it is saved) before it would give up on an unknown outcome.
 */
const DEFAULT_WRITE_WAIT_MS = 6000;

export class CallEmrGateway implements EmrGateway {
  private prefetched: Promise<Prefetched | undefined> | undefined;
  private readonly stale = new Set<string>();

  constructor(private readonly options: CallEmrGatewayOptions) {}

  /** Starts the caller-ID lookup and the matches' appointments; never throws (a failure just means no head start). */
  prefetch(callerNumber: string): Promise<void> {
    this.prefetched ??= this.loadPrefetch(callerNumber);
    return this.prefetched.then(() => undefined);
  }

  async findPatientsByPhone(phone: string): Promise<Patient[]> {
    const hit = await this.fromPrefetch();
    if (hit && hit.phone === phone) return hit.patients.map((p) => ({ ...p, phones: [...p.phones] }));
    return this.read(() => this.options.reads.findPatientsByPhone(phone));
  }

  findPatientsByNameDob(firstName: string, lastName: string, dob: string): Promise<Patient[]> {
    return this.read(() => this.options.reads.findPatientsByNameDob(firstName, lastName, dob));
  }

  async listAppointments(patientId: string): Promise<Appointment[]> {
    const hit = await this.fromPrefetch();
    const cached = hit?.appointments[patientId];
    if (cached && !this.stale.has(patientId)) return cached.map((a) => ({ ...a }));
    return this.read(() => this.options.reads.listAppointments(patientId));
  }

  findAvailability(query: AvailabilityQuery): Promise<Slot[]> {
    return this.read(() => this.options.reads.findAvailability(query));
  }

  async book(patientId: string, slot: Slot, requestId: string): Promise<Appointment> {
    return await this.write(requestId, { kind: 'book', patientId, slot }, patientId) as Appointment;
  }

  async cancel(patientId: string, appointmentId: string, requestId: string): Promise<void> {
    await this.write(requestId, { kind: 'cancel', patientId, appointmentId }, patientId);
  }

  async reschedule(patientId: string, appointmentId: string, slot: Slot, requestId: string): Promise<Appointment> {
    return await this.write(requestId, { kind: 'reschedule', patientId, appointmentId, slot }, patientId) as Appointment;
  }

  async sendStaffMessage(message: StaffMessage, requestId: string): Promise<void> {
    await this.write(requestId, { kind: 'staff-message', message }, message.patientId);
  }

  /** Drops this call's prefetched data (call end). */
  async close(): Promise<void> {
    await this.options.cache?.state.delete(this.cacheKey()).catch(() => undefined);
  }

  private async write(requestId: string, job: EmrJob, patientId: string | undefined): Promise<unknown> {
    const { jobs, events, callId } = this.options;
    if (patientId) this.stale.add(patientId);
    let settle!: (event: JobResultEvent) => void;
    const arrived = new Promise<JobResultEvent>((resolve) => { settle = resolve; });
    // Subscribe before enqueuing so a fast worker's result cannot slip past.
    const unsubscribe = await events.subscribe(callId, (event) => { if (event.requestId === requestId) settle(event); });
    let timer: NodeJS.Timeout | undefined;
    try {
      const { job: record } = await jobs.enqueue({ requestId, callId, kind: job.kind, payload: job, maxAttempts: this.options.maxAttempts ?? 6 });
      const finished = outcomeOf(record);
      if (finished) return unwrap(finished);
      this.options.onEnqueued?.();
      const timedOut = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), this.options.writeWaitMs ?? DEFAULT_WRITE_WAIT_MS); });
      const event = await Promise.race([arrived, timedOut]);
      if (event) return unwrap(event);
      // No event in time (or it was missed): the record is the truth.
      const latest = await jobs.get(requestId);
      const outcome = latest && outcomeOf(latest);
      if (outcome) return unwrap(outcome);
      throw new EmrError('queued', 'the EMR has not confirmed yet; the request stays queued and will complete');
    } finally {
      clearTimeout(timer);
      await unsubscribe();
    }
  }

  private async read<T>(fn: () => Promise<T>): Promise<T> {
    const ms = this.options.readTimeoutMs ?? 6000;
    let timer: NodeJS.Timeout | undefined;
    return this.options.breaker.run(() => {
      const work = fn();
      work.catch(() => undefined);
      return Promise.race([
        work,
        new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new EmrError('timeout', `EMR read took longer than ${ms} ms`)), ms); }),
      ]);
    }).finally(() => clearTimeout(timer));
  }

  private async fromPrefetch(): Promise<Prefetched | undefined> {
    if (this.prefetched) return this.prefetched;
    const cache = this.options.cache;
    if (!cache) return undefined;
    // Another node may have prefetched this call (e.g. at the voice webhook).
    const raw = await cache.state.get(this.cacheKey()).catch(() => undefined);
    if (!raw) return undefined;
    try {
      const [keyId, data] = raw.split('.', 2) as [string, string];
      const value = JSON.parse(cache.keyring.open({ keyId, data })) as Prefetched;
      this.prefetched = Promise.resolve(value);
      return value;
    } catch {
      return undefined;
    }
  }

  private async loadPrefetch(phone: string): Promise<Prefetched | undefined> {
    try {
      const patients = await this.read(() => this.options.reads.findPatientsByPhone(phone));
      const appointments: Record<string, Appointment[]> = {};
      await Promise.all(patients.slice(0, PREFETCH_PATIENT_LIMIT).map(async (p) => {
        appointments[p.id] = await this.read(() => this.options.reads.listAppointments(p.id));
      }));
      const value: Prefetched = { phone, patients, appointments };
      const cache = this.options.cache;
      if (cache) {
        const sealed = cache.keyring.seal(JSON.stringify(value));
        await cache.state.set(this.cacheKey(), `${sealed.keyId}.${sealed.data}`, cache.ttlMs ?? 15 * 60_000).catch(() => undefined);
      }
      return value;
    } catch (err) {
      this.options.logger?.warn({ callId: this.options.callId, code: err instanceof EmrError ? err.code : 'error' }, 'EMR prefetch failed');
      return undefined;
    }
  }

  private cacheKey(): string {
    return `prefetch:${this.options.callId}`;
  }
}

type Outcome = Pick<JobResultEvent, 'status' | 'result' | 'error'>;

function outcomeOf(record: JobRecord): Outcome | undefined {
  if (record.status === 'succeeded') return { status: 'succeeded', result: record.result };
  if (record.status === 'failed') {
    const [code, ...rest] = (record.lastError ?? 'unavailable: failed').split(': ');
    return { status: 'failed', error: { code: code ?? 'unavailable', message: rest.join(': ') } };
  }
  return undefined;
}

const EMR_CODES: EmrErrorCode[] = ['unavailable', 'timeout', 'not-found', 'conflict', 'forbidden', 'invalid-response'];

function unwrap(outcome: Outcome): unknown {
  if (outcome.status === 'succeeded') return outcome.result;
  const code = EMR_CODES.includes(outcome.error?.code as EmrErrorCode) ? outcome.error!.code as EmrErrorCode : 'unavailable';
  throw new EmrError(code, outcome.error?.message ?? 'EMR request failed');
}
