/**
 * Append-only, hash-chained audit log of every patient-data access the assistant makes. Each row's hash is
 * sha256(prev_hash + canonical JSON of the row), so editing or deleting any row breaks every later link.
 * The database also refuses UPDATE/DELETE on the table (trigger in the migration).
 */
import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';

export const GENESIS_HASH = '0'.repeat(64);

export interface AuditEntry {
  actor: string;
  action: string;
  callId?: string;
  patientId?: string;
  /** What was accessed, never the data itself (ids, counts, outcome). */
  detail?: Record<string, unknown>;
}

export interface AuditRecord extends Required<Omit<AuditEntry, 'callId' | 'patientId'>> {
  id: number;
  at: string;
  callId: string | null;
  patientId: string | null;
  prevHash: string;
  hash: string;
}

export interface AuditVerification {
  ok: boolean;
  checked: number;
  /** Id of the first row whose link does not verify. */
  brokenAt?: number;
}

/** JSON with object keys sorted at every level, so the hash does not depend on key order (jsonb reorders). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

export function auditHash(prevHash: string, row: { at: string; actor: string; action: string; callId: string | null; patientId: string | null; detail: Record<string, unknown> }): string {
  return createHash('sha256').update(prevHash).update(canonicalJson(row)).digest('hex');
}

export class AuditLog {
  constructor(private readonly db: Kysely<Database>) {}

  async append(entry: AuditEntry): Promise<AuditRecord> {
    return this.db.transaction().execute(async (trx) => {
      // Serialises appenders (across processes on Postgres) so two rows never chain to the same predecessor.
      await sql`lock table audit_log in share row exclusive mode`.execute(trx);
      const last = await trx.selectFrom('audit_log').select('hash').orderBy('id', 'desc').limit(1).executeTakeFirst();
      const prevHash = last?.hash ?? GENESIS_HASH;
      const row = {
        at: new Date().toISOString(), actor: entry.actor, action: entry.action,
        callId: entry.callId ?? null, patientId: entry.patientId ?? null, detail: entry.detail ?? {},
      };
      const hash = auditHash(prevHash, row);
      const inserted = await trx.insertInto('audit_log').values({
        at: row.at, actor: row.actor, action: row.action, call_id: row.callId, patient_id: row.patientId,
        detail: JSON.stringify(row.detail), prev_hash: prevHash, hash,
      }).returning('id').executeTakeFirstOrThrow();
      return { id: inserted.id, ...row, prevHash, hash };
    });
  }

  async list(filter: { callId?: string; patientId?: string } = {}): Promise<AuditRecord[]> {
    let query = this.db.selectFrom('audit_log').selectAll().orderBy('id');
    if (filter.callId) query = query.where('call_id', '=', filter.callId);
    if (filter.patientId) query = query.where('patient_id', '=', filter.patientId);
    return (await query.execute()).map((r) => ({
      id: r.id, at: new Date(r.at).toISOString(), actor: r.actor, action: r.action, callId: r.call_id,
      patientId: r.patient_id, detail: r.detail, prevHash: r.prev_hash, hash: r.hash,
    }));
  }

  /** Walks the whole chain from the genesis hash. */
  async verifyChain(): Promise<AuditVerification> {
    const rows = await this.list();
    let prev = GENESIS_HASH;
    for (const [index, r] of rows.entries()) {
      const expected = auditHash(prev, { at: r.at, actor: r.actor, action: r.action, callId: r.callId, patientId: r.patientId, detail: r.detail });
      if (r.prevHash !== prev || r.hash !== expected) return { ok: false, checked: index, brokenAt: r.id };
      prev = r.hash;
    }
    return { ok: true, checked: rows.length };
  }
}
