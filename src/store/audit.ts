/**
 * Append-only, keyed hash chain of every patient-data access the assistant makes, with a signed head.
 *
 * - Each row's hash is HMAC-SHA256(chain key, prev_hash + canonical JSON of the row, its id and alg). The key
 *   lives outside the database, so someone who can write the tables (even as the app's role, triggers
 *   disabled) cannot recompute the chain after an edit. Rows written before the chain was keyed keep
 *   `alg = 'sha256'` (plain sha256, no id) and still verify, but only as a prefix: an unkeyed row after a keyed
 *   one, or at/after the head's `keyedFrom`, is a downgrade and fails.
 * - A chain alone cannot show that its newest rows, or all of them, were removed. So after each append the head
 *   (entries, last id, last hash) is signed with the head key and stored in `audit_head`, in the same
 *   transaction under the same table lock (one chain, one head, across nodes), and each process also keeps the
 *   newest head it wrote or saw in a local file (DATA_DIR). Verification checks the chain against both.
 * - Residual risk: a database writer who kept an old signed head row can put it back after deleting the rows
 *   written since; the database alone cannot tell. Only a node whose local head file saw a newer head notices
 *   (with PGlite that is the one process, so always; with PostgreSQL, each node that appended or opened since).
 *   Emptying both tables looks like a fresh store to a node with no head file, for the same reason.
 * - The database also refuses UPDATE/DELETE/TRUNCATE on audit_log and DELETE/TRUNCATE on audit_head (triggers).
 */
import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Logger } from '../log.js';
import type { AuditLogTable, Database } from './schema.js';

export const GENESIS_HASH = '0'.repeat(64);

export interface AuditEntry {
  actor: string;
  action: string;
  callId?: string;
  patientId?: string;
  /** What was accessed, never the data itself (ids, counts, outcome). */
  detail?: Record<string, unknown>;
}

export type AuditAlg = 'sha256' | 'hmac-sha256';

export interface AuditRecord extends Required<Omit<AuditEntry, 'callId' | 'patientId'>> {
  id: number;
  at: string;
  callId: string | null;
  patientId: string | null;
  prevHash: string;
  hash: string;
  alg: AuditAlg;
}

/** Why a verification failed. */
export type AuditBreakReason =
  | 'truncated' // the table is empty but a signed head counts entries
  | 'tail-deleted' // the newest entries a signed head covers are gone
  | 'row-modified' // an entry does not match its keyed hash (edited, re-hashed without the key, or removed mid-chain)
  | 'head-missing' // entries exist but no signed head
  | 'head-signature' // a head is not signed with this audit key (forged, edited, or a different key)
  | 'unsigned-rows'; // entries after the signed head (written without the key, or the head was replaced by an older one)

export interface AuditVerification {
  ok: boolean;
  /** Entries that verified before the first problem (all of them when ok). */
  checked: number;
  /** Id of the first row that does not verify, when one does. */
  brokenAt?: number;
  reason?: AuditBreakReason;
  /** One line for people: what broke and where (ids and counts only). */
  problem?: string;
}

export interface SignedAuditHead {
  entries: number;
  lastId: number;
  lastHash: string;
  /** Id of the first keyed row; null while only legacy rows exist. */
  keyedFrom: number | null;
  signedAt: string;
  signature: string;
}

export interface AuditReport {
  verification: AuditVerification;
  /** The head in the database, and this node's local copy of the newest head it saw. */
  head: SignedAuditHead | null;
  localHead: SignedAuditHead | null;
}

export class AuditIntegrityError extends Error {
  constructor(readonly reason: AuditBreakReason, message: string) {
    super(message);
    this.name = 'AuditIntegrityError';
  }
}

export class AuditKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditKeyError';
  }
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

interface RowContent { at: string; actor: string; action: string; callId: string | null; patientId: string | null; detail: Record<string, unknown> }

/** The legacy, unkeyed link (alg 'sha256'): rows written before the chain was keyed. */
export function auditHash(prevHash: string, row: RowContent): string {
  return createHash('sha256').update(prevHash).update(canonicalJson(row)).digest('hex');
}

/** The audit key (32+ bytes, base64 or hex), split by HKDF into one key for rows and one for heads. */
export class AuditKeys {
  private readonly chainKey: Buffer;
  private readonly headKey: Buffer;

  constructor(key: Buffer) {
    if (key.length < 32) throw new AuditKeyError(`the audit HMAC key must be at least 32 bytes (base64 or hex); got ${key.length}`);
    this.chainKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'carevox audit chain v1', 32));
    this.headKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'carevox audit head v1', 32));
  }

  static parse(text: string): AuditKeys {
    const trimmed = text.trim();
    const key = /^(?:[0-9a-fA-F]{2}){32,}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
    return new AuditKeys(key);
  }

  rowHash(prevHash: string, row: RowContent & { id: number }): string {
    return createHmac('sha256', this.chainKey).update(prevHash)
      .update(canonicalJson({ ...row, alg: 'hmac-sha256' })).digest('hex');
  }

  signHead(head: Omit<SignedAuditHead, 'signature'>): SignedAuditHead {
    return { ...head, signature: this.headMac(head) };
  }

  headSignatureValid(head: SignedAuditHead): boolean {
    const expected = Buffer.from(this.headMac(head), 'hex');
    const actual = Buffer.from(typeof head.signature === 'string' ? head.signature : '', 'hex');
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  }

  private headMac(head: Omit<SignedAuditHead, 'signature'>): string {
    const { entries, lastId, lastHash, keyedFrom, signedAt } = head;
    return createHmac('sha256', this.headKey).update(canonicalJson({ v: 1, entries, lastId, lastHash, keyedFrom, signedAt })).digest('hex');
  }
}

export class AuditHeadFileError extends Error {
  constructor(readonly path: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuditHeadFileError';
  }
}

/**
 * This process's copy of the newest signed head it wrote or saw, outside the database (DATA_DIR, mode 0600).
 * Any true past head is a valid checkpoint, so concurrent writers (atomic rename) cannot make it wrong.
 */
export class AuditHeadFile {
  private writes: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  /** null when absent; throws AuditHeadFileError when unreadable. */
  read(): SignedAuditHead | null {
    if (!existsSync(this.path)) return null;
    try {
      const value = JSON.parse(readFileSync(this.path, 'utf8')) as Partial<SignedAuditHead>;
      if (!Number.isInteger(value.entries) || !Number.isInteger(value.lastId) || typeof value.lastHash !== 'string'
        || typeof value.signedAt !== 'string' || typeof value.signature !== 'string') throw new Error('not an audit head');
      return { entries: value.entries!, lastId: value.lastId!, lastHash: value.lastHash, keyedFrom: value.keyedFrom ?? null, signedAt: value.signedAt, signature: value.signature };
    } catch (err) {
      throw new AuditHeadFileError(this.path, `the audit head file ${this.path} is unreadable: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Writes are queued so one process never reorders its own heads. */
  write(head: SignedAuditHead): Promise<void> {
    const next = this.writes.then(async () => {
      const tmp = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      await writeFile(tmp, `${JSON.stringify(head)}\n`, { mode: 0o600 });
      await rename(tmp, this.path);
    });
    this.writes = next.catch(() => undefined);
    return next;
  }
}

export interface AuditLogOptions {
  keys: AuditKeys;
  /** Local copy of the newest head (DATA_DIR); without it only the database head is checked. */
  headFile?: AuditHeadFile;
  /** Verification only (the `carevox audit verify` command): append refuses, nothing is written. */
  readOnly?: boolean;
  logger?: Logger;
  now?: () => Date;
}

type Db = Kysely<Database>;

export class AuditLog {
  private readonly keys: AuditKeys;
  private readonly now: () => Date;
  /** The newest head this instance wrote or saw; the database head must never fall behind it. */
  private highWater: SignedAuditHead | null = null;
  private highWaterError: AuditHeadFileError | null = null;

  constructor(private readonly db: Db, private readonly options: AuditLogOptions) {
    this.keys = options.keys;
    this.now = options.now ?? (() => new Date());
    try {
      const local = options.headFile?.read() ?? null;
      if (local && this.keys.headSignatureValid(local)) this.highWater = local;
      else if (local) this.highWaterError = new AuditHeadFileError(options.headFile!.path, `the audit head file ${options.headFile!.path} is not signed with this audit key`);
    } catch (err) {
      this.highWaterError = err as AuditHeadFileError;
    }
  }

  async append(entry: AuditEntry): Promise<AuditRecord> {
    if (this.options.readOnly) throw new Error('this audit log was opened read-only');
    const { record, head } = await this.db.transaction().execute(async (trx) => {
      // Serialises appenders (across processes on Postgres) so two rows never chain to the same predecessor and
      // the head is replaced by one appender at a time.
      await sql`lock table audit_log in share row exclusive mode`.execute(trx);
      const last = await trx.selectFrom('audit_log').select(['id', 'hash']).orderBy('id', 'desc').limit(1).executeTakeFirst();
      const previous = await readHead(trx);
      this.assertAppendable(last, previous);
      // The id is part of the keyed hash, so take it before the insert.
      const { rows } = await sql<{ id: string }>`select nextval(pg_get_serial_sequence('audit_log', 'id'))::text as id`.execute(trx);
      const id = Number(rows[0]!.id);
      const prevHash = last?.hash ?? GENESIS_HASH;
      const row = {
        at: this.now().toISOString(), actor: entry.actor, action: entry.action,
        callId: entry.callId ?? null, patientId: entry.patientId ?? null, detail: entry.detail ?? {},
      };
      const hash = this.keys.rowHash(prevHash, { id, ...row });
      await trx.insertInto('audit_log').values({
        id, at: row.at, actor: row.actor, action: row.action, call_id: row.callId, patient_id: row.patientId,
        detail: JSON.stringify(row.detail), prev_hash: prevHash, hash, alg: 'hmac-sha256',
      }).execute();
      const head = this.keys.signHead({
        entries: (previous?.entries ?? 0) + 1, lastId: id, lastHash: hash,
        keyedFrom: previous?.keyedFrom ?? id, signedAt: this.now().toISOString(),
      });
      await writeHead(trx, head);
      return { record: { id, ...row, prevHash, hash, alg: 'hmac-sha256' as const }, head };
    });
    await this.observe(head);
    return record;
  }

  async list(filter: { callId?: string; patientId?: string } = {}): Promise<AuditRecord[]> {
    let query = this.db.selectFrom('audit_log').selectAll().orderBy('id');
    if (filter.callId) query = query.where('call_id', '=', filter.callId);
    if (filter.patientId) query = query.where('patient_id', '=', filter.patientId);
    return (await query.execute()).map(toRecord);
  }

  /** Walks the whole chain from the genesis hash and checks it against the signed heads. */
  async verifyChain(): Promise<AuditVerification> {
    return (await this.verify()).verification;
  }

  /** verifyChain, with the heads it checked against (for `carevox audit verify`). */
  async verify(): Promise<AuditReport> {
    // The local file first: it is written after its transaction commits, so the snapshot below holds at least
    // what it covers.
    let localHead: SignedAuditHead | null = null;
    try {
      localHead = this.options.headFile?.read() ?? null;
    } catch (err) {
      return { verification: broken('head-signature', 0, (err as Error).message), head: null, localHead: null };
    }
    // One snapshot for the head and every row, so a concurrent append cannot look like an unsigned row.
    return this.db.transaction().setIsolationLevel('repeatable read').execute(async (trx) => {
      const head = await readHead(trx);
      const verification = await this.check(trx, head, localHead);
      if (verification.ok && head && !this.options.readOnly) await this.observe(head);
      return { verification, head, localHead };
    });
  }

  private async check(trx: Db, head: SignedAuditHead | null, localHead: SignedAuditHead | null): Promise<AuditVerification> {
    if (head && !this.keys.headSignatureValid(head)) {
      return broken('head-signature', 0, 'the audit head in the database is not signed with this audit key (forged, edited, or another key)');
    }
    if (localHead && !this.keys.headSignatureValid(localHead)) {
      return broken('head-signature', 0, `the local audit head file ${this.options.headFile!.path} is not signed with this audit key`);
    }
    const watch = new Set([head?.lastId, localHead?.lastId].filter((id): id is number => id !== undefined));
    const positions = new Map<number, { position: number; hash: string }>();
    let prev = GENESIS_HASH;
    let checked = 0;
    let lastId = 0;
    let keyedSeen = false;
    let firstAfterHead: number | undefined;
    for await (const r of pagedRows(trx)) {
      const keyed = r.alg === 'hmac-sha256';
      if (!keyed && (keyedSeen || (head?.keyedFrom != null && r.id >= head.keyedFrom))) {
        return broken('row-modified', checked, `entry ${r.id} carries the unkeyed legacy hash after the chain was keyed`, r.id);
      }
      const expected = keyed ? this.keys.rowHash(prev, { id: r.id, ...content(r) }) : auditHash(prev, content(r));
      if (r.prevHash !== prev || r.hash !== expected) {
        return broken('row-modified', checked, `entry ${r.id} does not match its ${keyed ? 'keyed ' : ''}hash (edited, re-hashed, or an entry before it removed)`, r.id);
      }
      keyedSeen ||= keyed;
      checked++;
      if (watch.has(r.id)) positions.set(r.id, { position: checked, hash: r.hash });
      if (head && firstAfterHead === undefined && r.id > head.lastId) firstAfterHead = r.id;
      prev = r.hash;
      lastId = r.id;
    }
    const sources: Array<[SignedAuditHead | null, string]> = [[localHead, 'this node\'s head file'], [head, 'the database head']];
    for (const [signed, where] of sources) {
      const problem = signed && compareWithHead(signed, where, checked, lastId, positions);
      if (problem) return problem;
    }
    if (!head) {
      return checked === 0 ? { ok: true, checked } : broken('head-missing', checked, `${checked} entries but no signed head in audit_head`);
    }
    if (checked > head.entries) {
      return broken('unsigned-rows', head.entries, `${checked - head.entries} entries after the signed head (entry ${head.lastId}, signed ${head.signedAt}): written without the key, or the head was put back to an older one`, firstAfterHead);
    }
    return { ok: true, checked };
  }

  /** Refuses to extend a chain whose head does not match it: signing a new head would hide the tampering. */
  private assertAppendable(last: { id: number; hash: string } | undefined, head: SignedAuditHead | null): void {
    if (this.highWaterError) throw new AuditIntegrityError('head-signature', this.highWaterError.message);
    const seen = this.highWater?.entries ?? 0;
    if (!head) {
      if (last) throw new AuditIntegrityError('head-missing', `audit_log has entries (newest ${last.id}) but no signed head`);
      if (seen > 0) throw new AuditIntegrityError('truncated', `audit_log and its head are empty, but this node saw ${seen} entries`);
      return;
    }
    if (!this.keys.headSignatureValid(head)) throw new AuditIntegrityError('head-signature', 'the audit head in the database is not signed with this audit key');
    if (head.entries < seen) {
      throw new AuditIntegrityError('tail-deleted', `the signed head counts ${head.entries} entries, this node saw ${seen} (an older head was put back)`);
    }
    if (!last) throw new AuditIntegrityError('truncated', `audit_log is empty but its signed head counts ${head.entries} entries`);
    if (last.id !== head.lastId || last.hash !== head.lastHash) {
      const reason = last.id < head.lastId ? 'tail-deleted' : last.id > head.lastId ? 'unsigned-rows' : 'row-modified';
      throw new AuditIntegrityError(reason, `the newest entry (${last.id}) does not match the signed head (entry ${head.lastId})`);
    }
  }

  private async observe(head: SignedAuditHead): Promise<void> {
    if (this.highWater && head.entries <= this.highWater.entries) return;
    this.highWater = head;
    if (!this.options.headFile || this.options.readOnly) return;
    try {
      await this.options.headFile.write(head);
    } catch (err) {
      // The row and the database head are committed; a missing local copy only weakens rollback detection.
      this.options.logger?.warn({ err, path: this.options.headFile.path }, 'cannot write the local audit head file');
    }
  }
}

/**
 * Signs the head over the rows already in audit_log (plain sha256, written before the chain was keyed). Runs once,
 * inside migration 0004, so there is no later code path that would sign over whatever the table holds.
 */
export async function signLegacyAuditHead(db: Kysely<any>, keys: AuditKeys, now: () => Date = () => new Date()): Promise<void> {
  const typed = db as Db;
  const stats = await typed.selectFrom('audit_log').select((eb) => [eb.fn.countAll<string>().as('n')]).executeTakeFirstOrThrow();
  const entries = Number(stats.n);
  if (entries === 0) return;
  const last = await typed.selectFrom('audit_log').select(['id', 'hash']).orderBy('id', 'desc').limit(1).executeTakeFirstOrThrow();
  await writeHead(typed, keys.signHead({ entries, lastId: last.id, lastHash: last.hash, keyedFrom: null, signedAt: now().toISOString() }));
}

function compareWithHead(head: SignedAuditHead, where: string, checked: number, lastId: number,
  positions: Map<number, { position: number; hash: string }>): AuditVerification | undefined {
  if (head.entries === 0) return undefined;
  const signed = `${where} (signed ${head.signedAt}) counts ${head.entries} entries up to entry ${head.lastId}`;
  if (checked === 0) return broken('truncated', 0, `audit_log is empty but ${signed}`);
  const at = positions.get(head.lastId);
  if (!at) {
    if (lastId < head.lastId) return broken('tail-deleted', checked, `${signed}; the table ends at entry ${lastId} with ${checked} entries`);
    return broken('row-modified', checked, `${signed}, and that entry is missing`, head.lastId);
  }
  if (at.hash !== head.lastHash) return broken('row-modified', at.position - 1, `entry ${head.lastId} does not match ${where}`, head.lastId);
  if (at.position !== head.entries) {
    return broken('row-modified', at.position, `${signed}, but the table holds ${at.position} entries up to it`, head.lastId);
  }
  return undefined;
}

function broken(reason: AuditBreakReason, checked: number, problem: string, brokenAt?: number): AuditVerification {
  return { ok: false, checked, reason, problem, ...(brokenAt !== undefined ? { brokenAt } : {}) };
}

async function readHead(db: Db): Promise<SignedAuditHead | null> {
  const row = await db.selectFrom('audit_head').selectAll().where('id', '=', 1).executeTakeFirst();
  if (!row) return null;
  return {
    entries: row.entries, lastId: row.last_id, lastHash: row.last_hash, keyedFrom: row.keyed_from,
    signedAt: new Date(row.signed_at).toISOString(), signature: row.signature,
  };
}

async function writeHead(db: Db, head: SignedAuditHead): Promise<void> {
  const values = {
    entries: head.entries, last_id: head.lastId, last_hash: head.lastHash, keyed_from: head.keyedFrom,
    signed_at: head.signedAt, signature: head.signature,
  };
  await db.insertInto('audit_head').values({ id: 1, ...values })
    .onConflict((oc) => oc.column('id').doUpdateSet(values)).execute();
}

type AuditRow = Selectable<AuditLogTable>;

function toRecord(r: AuditRow): AuditRecord {
  return {
    id: r.id, at: new Date(r.at).toISOString(), actor: r.actor, action: r.action, callId: r.call_id,
    patientId: r.patient_id, detail: r.detail, prevHash: r.prev_hash, hash: r.hash, alg: r.alg,
  };
}

function content(r: AuditRecord): RowContent {
  return { at: r.at, actor: r.actor, action: r.action, callId: r.callId, patientId: r.patientId, detail: r.detail };
}

/** The chain in id order, a page at a time, so verifying a long log does not hold it all in memory. */
async function* pagedRows(db: Db, pageSize = 1000): AsyncGenerator<AuditRecord> {
  let after = 0;
  for (;;) {
    const page = await db.selectFrom('audit_log').selectAll().where('id', '>', after).orderBy('id').limit(pageSize).execute();
    for (const r of page) yield toRecord(r);
    if (page.length < pageSize) return;
    after = page[page.length - 1]!.id;
  }
}
