/** Repositories over the store's tables. Encrypted columns are sealed and opened here, transparently. */
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Keyring } from './crypto.js';
import type { Database, EmrJobsTable, JobStatus } from './schema.js';

export class CallRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Idempotent (a retried write, or a replayed start, changes nothing). */
  async start(id: string, nodeId?: string, details: { transport?: string; startedAt?: Date } = {}): Promise<void> {
    await this.db.insertInto('calls')
      .values({ id, node_id: nodeId ?? null, outcome: null, transport: details.transport ?? null, started_at: details.startedAt })
      .onConflict((oc) => oc.column('id').doNothing()).execute();
  }

  /** Idempotent; creates the row if its start never got written (so an end is never lost on its own). */
  async end(id: string, outcome: string, endedAt: Date = new Date()): Promise<void> {
    await this.db.insertInto('calls').values({ id, ended_at: endedAt, outcome, node_id: null })
      .onConflict((oc) => oc.column('id').doUpdateSet({ ended_at: endedAt, outcome })).execute();
  }

  async get(id: string): Promise<StoredCall | undefined> {
    const row = await this.db.selectFrom('calls').selectAll().where('id', '=', id).executeTakeFirst();
    return row && {
      id: row.id, startedAt: row.started_at, endedAt: row.ended_at, outcome: row.outcome, nodeId: row.node_id, transport: row.transport,
    };
  }

  /**
   * Marks calls that never ended as `interrupted` (the process that ran them died). `nodeId` undefined takes
   * every unended call: only right for the embedded store, where this process is the only one. Returns their ids.
   */
  async interruptUnended(nodeId: string | undefined): Promise<string[]> {
    let q = this.db.updateTable('calls').set({ outcome: INTERRUPTED_OUTCOME, ended_at: new Date() }).where('ended_at', 'is', null);
    if (nodeId !== undefined) q = q.where('node_id', '=', nodeId);
    return (await q.returning('id').execute()).map((r) => r.id);
  }
}

/** The store's outcome for a call whose process died before it ended (not something a live call reports). */
export const INTERRUPTED_OUTCOME = 'interrupted';

export interface StoredCall {
  id: string;
  startedAt: Date;
  endedAt: Date | null;
  outcome: string | null;
  nodeId: string | null;
  transport: string | null;
}

export interface Turn { seq: number; speaker: 'caller' | 'bot'; text: string; keyId: string; createdAt: Date }

export class TurnRepository {
  constructor(private readonly db: Kysely<Database>, private readonly keyring: Keyring) {}

  /** Idempotent on (callId, seq): a retried write whose first attempt did land adds nothing. */
  async append(callId: string, seq: number, speaker: 'caller' | 'bot', text: string, createdAt?: Date): Promise<void> {
    const sealed = this.keyring.seal(text);
    await this.db.insertInto('turns')
      .values({ call_id: callId, seq, speaker, text_enc: sealed.data, key_id: sealed.keyId, created_at: createdAt })
      .onConflict((oc) => oc.columns(['call_id', 'seq']).doNothing()).execute();
  }

  async list(callId: string): Promise<Turn[]> {
    const rows = await this.db.selectFrom('turns').selectAll().where('call_id', '=', callId).orderBy('seq').execute();
    return rows.map((r) => ({
      seq: r.seq, speaker: r.speaker, keyId: r.key_id, createdAt: r.created_at,
      text: this.keyring.open({ keyId: r.key_id, data: r.text_enc }),
    }));
  }

  /** Key rotation: re-seals every row not under the current key. Returns the number of rows rewritten. */
  async reencrypt(batchSize = 500): Promise<number> {
    let total = 0;
    for (;;) {
      const rows = await this.db.selectFrom('turns').select(['id', 'key_id', 'text_enc'])
        .where('key_id', '!=', this.keyring.currentKeyId).limit(batchSize).execute();
      if (rows.length === 0) return total;
      for (const r of rows) {
        const sealed = this.keyring.seal(this.keyring.open({ keyId: r.key_id, data: r.text_enc }));
        await this.db.updateTable('turns').set({ text_enc: sealed.data, key_id: sealed.keyId })
          .where('id', '=', r.id).where('key_id', '=', r.key_id).execute();
      }
      total += rows.length;
    }
  }
}

export interface StoredToken { value: string; version: number }

export class StaleTokenError extends Error {
  constructor(readonly name_: string) {
    super(`token ${name_} was replaced concurrently`);
    this.name = 'StaleTokenError';
  }
}

/** OAuth tokens, encrypted. `save` is compare-and-swap on `version` so a rotated refresh token is never overwritten by a stale one. */
export class TokenRepository {
  constructor(private readonly db: Kysely<Database>, private readonly keyring: Keyring) {}

  async load(name: string): Promise<StoredToken | undefined> {
    const row = await this.db.selectFrom('oauth_tokens').selectAll().where('name', '=', name).executeTakeFirst();
    return row && { value: this.keyring.open({ keyId: row.key_id, data: row.token_enc }), version: row.version };
  }

  /** `expectedVersion` undefined overwrites unconditionally (a fresh login). Returns the new version. */
  async save(name: string, value: string, expectedVersion?: number): Promise<number> {
    const sealed = this.keyring.seal(value);
    if (expectedVersion === undefined) {
      const row = await this.db.insertInto('oauth_tokens')
        .values({ name, token_enc: sealed.data, key_id: sealed.keyId, version: 1, updated_at: new Date() })
        .onConflict((oc) => oc.column('name').doUpdateSet({
          token_enc: sealed.data, key_id: sealed.keyId, version: sql`oauth_tokens.version + 1`, updated_at: new Date(),
        }))
        .returning('version').executeTakeFirstOrThrow();
      return row.version;
    }
    const row = await this.db.updateTable('oauth_tokens')
      .set({ token_enc: sealed.data, key_id: sealed.keyId, version: expectedVersion + 1, updated_at: new Date() })
      .where('name', '=', name).where('version', '=', expectedVersion)
      .returning('version').executeTakeFirst();
    if (!row) throw new StaleTokenError(name);
    return row.version;
  }

  async remove(name: string): Promise<void> {
    await this.db.deleteFrom('oauth_tokens').where('name', '=', name).execute();
  }
}

export interface JobRecord<P = unknown, R = unknown, G = unknown> {
  id: number;
  requestId: string;
  callId: string | null;
  kind: string;
  payload: P;
  status: JobStatus;
  attempts: number;
  maxAttempts: number;
  progress: G | null;
  result: R | null;
  lastError: string | null;
  leaseOwner: string | null;
  nextRunAt: Date;
}

export interface NewJob { requestId: string; callId?: string; kind: string; payload: unknown; maxAttempts: number }

/**
 * The durable EMR job queue. Claiming uses `FOR UPDATE SKIP LOCKED` so several workers (Postgres) never take the
 * same job; a job whose worker died is claimable again once its lease runs out. Every state change after a claim
 * is conditional on still owning the lease, so a worker that lost its lease cannot overwrite a newer outcome.
 */
export class JobRepository {
  constructor(private readonly db: Kysely<Database>, private readonly keyring: Keyring) {}

  /** Idempotent on `requestId`: enqueuing the same request twice returns the existing job. */
  async enqueue(job: NewJob): Promise<{ job: JobRecord; created: boolean }> {
    const sealed = this.keyring.seal(JSON.stringify(job.payload));
    const inserted = await this.db.insertInto('emr_jobs').values({
      request_id: job.requestId, call_id: job.callId ?? null, kind: job.kind, payload_enc: sealed.data,
      payload_key_id: sealed.keyId, max_attempts: job.maxAttempts, lease_owner: null, progress_enc: null,
      progress_key_id: null, result_enc: null, result_key_id: null, last_error: null,
    }).onConflict((oc) => oc.column('request_id').doNothing()).returning('id').executeTakeFirst();
    const existing = await this.get(job.requestId);
    if (!existing) throw new Error('job vanished after enqueue');
    return { job: existing, created: inserted !== undefined };
  }

  async get(requestId: string): Promise<JobRecord | undefined> {
    const row = await this.db.selectFrom('emr_jobs').selectAll().where('request_id', '=', requestId).executeTakeFirst();
    return row && this.toRecord(row);
  }

  async list(status?: JobStatus): Promise<JobRecord[]> {
    let q = this.db.selectFrom('emr_jobs').selectAll().orderBy('id');
    if (status) q = q.where('status', '=', status);
    return (await q.execute()).map((r) => this.toRecord(r));
  }

  /** Takes the next runnable job (pending and due, or running with an expired lease) for `leaseMs`. */
  async claim(owner: string, leaseMs: number): Promise<JobRecord | undefined> {
    const result = await sql<Selectable<EmrJobsTable>>`
      update emr_jobs set status = 'running', lease_owner = ${owner},
        lease_until = now() + (${leaseMs}::int * interval '1 millisecond'),
        attempts = attempts + 1, updated_at = now()
      where id = (
        select id from emr_jobs
        where (status = 'pending' and next_run_at <= now()) or (status = 'running' and lease_until < now())
        order by next_run_at, id limit 1 for update skip locked)
      returning *`.execute(this.db);
    const row = result.rows[0];
    return row && this.toRecord(row);
  }

  /**
   * Returns every running job to the queue at once. Only for the embedded store at start-up: PGlite is
   * single-process, so a job still marked running then belongs to a process that died.
   */
  async requeueRunning(): Promise<number> {
    const rows = await this.db.updateTable('emr_jobs')
      .set({ status: 'pending', lease_owner: null, lease_until: null, next_run_at: new Date(), updated_at: new Date() })
      .where('status', '=', 'running').returning('id').execute();
    return rows.length;
  }

  /** Records how far a multi-step job got, so a retry (or a restarted worker) resumes instead of redoing. */
  async saveProgress(id: number, owner: string, progress: unknown): Promise<boolean> {
    const sealed = this.keyring.seal(JSON.stringify(progress));
    const r = await this.db.updateTable('emr_jobs')
      .set({ progress_enc: sealed.data, progress_key_id: sealed.keyId, updated_at: new Date() })
      .where('id', '=', id).where('lease_owner', '=', owner).where('status', '=', 'running')
      .returning('id').executeTakeFirst();
    return r !== undefined;
  }

  async complete(id: number, owner: string, result: unknown): Promise<boolean> {
    return this.finish(id, owner, 'succeeded', result, null);
  }

  async fail(id: number, owner: string, error: string, result?: unknown): Promise<boolean> {
    return this.finish(id, owner, 'failed', result ?? null, error);
  }

  /** Puts the job back in the queue after `delayMs`. */
  async retryLater(id: number, owner: string, error: string, delayMs: number): Promise<boolean> {
    const r = await this.db.updateTable('emr_jobs').set({
      status: 'pending', lease_owner: null, lease_until: null, last_error: error, updated_at: new Date(),
      next_run_at: sql`now() + (${Math.round(delayMs)}::int * interval '1 millisecond')` as never,
    }).where('id', '=', id).where('lease_owner', '=', owner).where('status', '=', 'running')
      .returning('id').executeTakeFirst();
    return r !== undefined;
  }

  private async finish(id: number, owner: string, status: JobStatus, result: unknown, error: string | null): Promise<boolean> {
    const sealed = result === null || result === undefined ? null : this.keyring.seal(JSON.stringify(result));
    const r = await this.db.updateTable('emr_jobs').set({
      status, result_enc: sealed?.data ?? null, result_key_id: sealed?.keyId ?? null, last_error: error,
      lease_owner: null, lease_until: null, finished_at: new Date(), updated_at: new Date(),
    }).where('id', '=', id).where('lease_owner', '=', owner).where('status', '=', 'running')
      .returning('id').executeTakeFirst();
    return r !== undefined;
  }

  private toRecord(r: Selectable<EmrJobsTable>): JobRecord {
    const open = (data: string | null, keyId: string | null): unknown =>
      data && keyId ? JSON.parse(this.keyring.open({ keyId, data })) : null;
    return {
      id: r.id, requestId: r.request_id, callId: r.call_id, kind: r.kind, status: r.status, attempts: r.attempts,
      maxAttempts: r.max_attempts, lastError: r.last_error, leaseOwner: r.lease_owner, nextRunAt: new Date(r.next_run_at),
      payload: open(r.payload_enc, r.payload_key_id),
      progress: open(r.progress_enc, r.progress_key_id),
      result: open(r.result_enc, r.result_key_id),
    };
  }
}
