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
};

export class CodeMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations;
  }
}
