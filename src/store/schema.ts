/** Table shapes as Kysely sees them. Encrypted columns hold `Sealed.data`, with the key id beside them. */
import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;

export interface CallsTable {
  id: string;
  started_at: Timestamp;
  ended_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  outcome: string | null;
  node_id: string | null;
  transport: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface TurnsTable {
  id: Generated<number>;
  call_id: string;
  seq: number;
  speaker: 'caller' | 'bot';
  text_enc: string;
  key_id: string;
  created_at: Timestamp;
}

export type JobStatus = 'pending' | 'running' | 'succeeded' | 'failed';

export interface EmrJobsTable {
  id: Generated<number>;
  request_id: string;
  call_id: string | null;
  kind: string;
  payload_enc: string;
  payload_key_id: string;
  status: ColumnType<JobStatus, JobStatus | undefined, JobStatus>;
  attempts: ColumnType<number, number | undefined, number>;
  max_attempts: number;
  next_run_at: Timestamp;
  lease_owner: string | null;
  lease_until: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  progress_enc: string | null;
  progress_key_id: string | null;
  result_enc: string | null;
  result_key_id: string | null;
  last_error: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface OauthTokensTable {
  name: string;
  token_enc: string;
  key_id: string;
  version: number;
  updated_at: Timestamp;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: Timestamp;
  actor: string;
  action: string;
  call_id: string | null;
  patient_id: string | null;
  detail: ColumnType<Record<string, unknown>, string, string>;
  prev_hash: string;
  hash: string;
}

export interface Database {
  calls: CallsTable;
  turns: TurnsTable;
  emr_jobs: EmrJobsTable;
  oauth_tokens: OauthTokensTable;
  audit_log: AuditLogTable;
}
