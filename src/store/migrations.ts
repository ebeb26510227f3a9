/** Schema migrations, run by Kysely's Migrator on open. Kept in code so the build carries them. */
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

const migrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.createTable('calls')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('started_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('ended_at', 'timestamptz')
        .addColumn('outcome', 'text')
        .addColumn('node_id', 'text')
        .execute();
      await db.schema.createTable('turns')
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .addColumn('call_id', 'text', (c) => c.notNull().references('calls.id').onDelete('cascade'))
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('speaker', 'text', (c) => c.notNull().check(sql`speaker in ('caller', 'bot')`))
        .addColumn('text_enc', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addUniqueConstraint('turns_call_seq', ['call_id', 'seq'])
        .execute();
      await db.schema.createTable('emr_jobs')
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .addColumn('request_id', 'text', (c) => c.notNull().unique())
        .addColumn('call_id', 'text')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('payload_enc', 'text', (c) => c.notNull())
        .addColumn('payload_key_id', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull().defaultTo('pending')
          .check(sql`status in ('pending', 'running', 'succeeded', 'failed')`))
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('max_attempts', 'integer', (c) => c.notNull())
        .addColumn('next_run_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('lease_owner', 'text')
        .addColumn('lease_until', 'timestamptz')
        .addColumn('progress_enc', 'text')
        .addColumn('progress_key_id', 'text')
        .addColumn('result_enc', 'text')
        .addColumn('result_key_id', 'text')
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('finished_at', 'timestamptz')
        .execute();
      await db.schema.createIndex('emr_jobs_runnable').on('emr_jobs').columns(['status', 'next_run_at']).execute();
      await db.schema.createTable('oauth_tokens')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('token_enc', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema.createTable('audit_log')
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .addColumn('at', 'timestamptz', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('call_id', 'text')
        .addColumn('patient_id', 'text')
        .addColumn('detail', 'jsonb', (c) => c.notNull())
        .addColumn('prev_hash', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .execute();
      // Append-only in the database itself, not just by convention in the code.
      await sql`create function audit_log_append_only() returns trigger language plpgsql as $$
        begin raise exception 'audit_log is append-only'; end $$`.execute(db);
      await sql`create trigger audit_log_no_change before update or delete on audit_log
        for each row execute function audit_log_append_only()`.execute(db);
    },
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.dropTable('audit_log').execute();
      await sql`drop function if exists audit_log_append_only()`.execute(db);
      await db.schema.dropTable('oauth_tokens').execute();
      await db.schema.dropTable('emr_jobs').execute();
      await db.schema.dropTable('turns').execute();
      await db.schema.dropTable('calls').execute();
    },
  },
  /**
   * Calls are written as they happen (row at start, each turn, the end), not when they end. The sweep at
   * start-up looks for this node's calls with no end: an index over exactly those. `transport` says which
   * front door the call came through (twilio, sip).
   */
  '0002_call_records': {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('calls').addColumn('transport', 'text').execute();
      await sql`create index calls_unended_by_node on calls (node_id) where ended_at is null`.execute(db);
    },
    async down(db: Kysely<any>): Promise<void> {
      await sql`drop index if exists calls_unended_by_node`.execute(db);
      await db.schema.alterTable('calls').dropColumn('transport').execute();
    },
  },
  '0003_embedded_emr': {
    // The embedded EMR (EMR_ENGINE=embedded): patients, appointments and what callers left for staff, shared by
    // every node on the database. Names, DOB, phones, notes and messages are sealed; lookups go through keyed
    // blind indexes, never plaintext columns.
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.createTable('emr_patients')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('first_name_enc', 'text', (c) => c.notNull())
        .addColumn('last_name_enc', 'text', (c) => c.notNull())
        .addColumn('dob_enc', 'text', (c) => c.notNull())
        .addColumn('phones_enc', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('name_dob_index', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema.createIndex('emr_patients_name_dob').on('emr_patients').column('name_dob_index').execute();
      await db.schema.createTable('emr_patient_phones')
        .addColumn('patient_id', 'text', (c) => c.notNull().references('emr_patients.id').onDelete('cascade'))
        .addColumn('phone_index', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('emr_patient_phones_pk', ['patient_id', 'phone_index'])
        .execute();
      await db.schema.createIndex('emr_patient_phones_index').on('emr_patient_phones').column('phone_index').execute();
      await db.schema.createTable('emr_appointments')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('request_id', 'text', (c) => c.notNull().unique())
        .addColumn('patient_id', 'text', (c) => c.notNull().references('emr_patients.id'))
        .addColumn('provider_id', 'text', (c) => c.notNull())
        .addColumn('type_id', 'text', (c) => c.notNull())
        .addColumn('date', 'text', (c) => c.notNull())
        .addColumn('time', 'text', (c) => c.notNull())
        .addColumn('duration_min', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('booked', 'cancelled')`))
        .addColumn('note_enc', 'text')
        .addColumn('note_key_id', 'text')
        .addColumn('cancel_request_id', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('cancelled_at', 'timestamptz')
        .execute();
      await db.schema.createIndex('emr_appointments_patient').on('emr_appointments').column('patient_id').execute();
      // Overlaps are refused under a per-provider-day lock in the booking transaction; this also stops two
      // bookings starting at the same minute even if that lock were ever bypassed.
      await sql`create unique index emr_appointments_one_start on emr_appointments (provider_id, date, time) where status = 'booked'`.execute(db);
      await db.schema.createTable('emr_staff_requests')
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .addColumn('request_id', 'text', (c) => c.notNull().unique())
        .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('message', 'refill', 'callback')`))
        .addColumn('call_id', 'text')
        .addColumn('patient_id', 'text', (c) => c.references('emr_patients.id'))
        .addColumn('subject_enc', 'text', (c) => c.notNull())
        .addColumn('body_enc', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull().defaultTo('new').check(sql`state in ('new', 'in_progress', 'done')`))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema.createIndex('emr_staff_requests_state').on('emr_staff_requests').columns(['state', 'created_at']).execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.dropTable('emr_staff_requests').execute();
      await db.schema.dropTable('emr_appointments').execute();
      await db.schema.dropTable('emr_patient_phones').execute();
      await db.schema.dropTable('emr_patients').execute();
    },
  },
  '0004_audit_hardening': {
    // Refuses TRUNCATE (row triggers do not fire for it), keys the chain (per-row `alg`: rows written before this
    // migration keep 'sha256', new ones are 'hmac-sha256') and keeps a signed head outside audit_log. The head over
    // the rows already present is signed by the `signLegacyAuditHead` hook, in this migration's transaction.
    async up(db: Kysely<any>): Promise<void> {
      await sql`create trigger audit_log_no_truncate before truncate on audit_log
        for each statement execute function audit_log_append_only()`.execute(db);
      await sql`alter table audit_log add column alg text not null default 'sha256'`.execute(db);
      // New rows must say how they are hashed; no default a forgotten column could fall back to.
      await sql`alter table audit_log alter column alg drop default`.execute(db);
      await sql`alter table audit_log add constraint audit_log_alg check (alg in ('sha256', 'hmac-sha256'))`.execute(db);
      await db.schema.createTable('audit_head')
        .addColumn('id', 'integer', (c) => c.primaryKey().check(sql`id = 1`))
        .addColumn('entries', 'integer', (c) => c.notNull())
        .addColumn('last_id', 'integer', (c) => c.notNull())
        .addColumn('last_hash', 'text', (c) => c.notNull())
        .addColumn('keyed_from', 'integer')
        .addColumn('signed_at', 'timestamptz', (c) => c.notNull())
        .addColumn('signature', 'text', (c) => c.notNull())
        .execute();
      await sql`create function audit_head_keep() returns trigger language plpgsql as $$
        begin raise exception 'audit_head is only ever replaced, never removed'; end $$`.execute(db);
      await sql`create trigger audit_head_no_delete before delete on audit_head
        for each row execute function audit_head_keep()`.execute(db);
      await sql`create trigger audit_head_no_truncate before truncate on audit_head
        for each statement execute function audit_head_keep()`.execute(db);
    },
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.dropTable('audit_head').execute();
      await sql`drop function if exists audit_head_keep()`.execute(db);
      await sql`alter table audit_log drop constraint audit_log_alg`.execute(db);
      await sql`alter table audit_log drop column alg`.execute(db);
      await sql`drop trigger audit_log_no_truncate on audit_log`.execute(db);
    },
  },
};

export interface MigrationHooks {
  /** Runs inside 0004_audit_hardening: signs the audit head over the rows already in audit_log (needs the key). */
  signLegacyAuditHead?(db: Kysely<any>): Promise<void>;
}

export class CodeMigrationProvider implements MigrationProvider {
  constructor(private readonly hooks: MigrationHooks = {}) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const hardening = migrations['0004_audit_hardening']!;
    const { signLegacyAuditHead } = this.hooks;
    return {
      ...migrations,
      '0004_audit_hardening': {
        ...hardening,
        async up(db) {
          await hardening.up(db);
          if (signLegacyAuditHead) await signLegacyAuditHead(db);
          else {
            const existing = await sql<{ n: number }>`select count(*)::int as n from audit_log`.execute(db);
            if (existing.rows[0]!.n > 0) throw new Error('0004_audit_hardening needs the audit key to sign the existing audit log');
          }
        },
      },
    };
  }
}
