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
  /** 'sha256' (rows written before the chain was keyed) or 'hmac-sha256'. */
  alg: 'sha256' | 'hmac-sha256';
}

/** The single signed head of the audit chain (id = 1), replaced in the same transaction as each append. */
export interface AuditHeadTable {
  id: number;
  entries: number;
  last_id: number;
  last_hash: string;
  keyed_from: number | null;
  signed_at: Timestamp;
  signature: string;
}

export interface EmrPatientsTable {
  id: string;
  first_name_enc: string;
  last_name_enc: string;
  dob_enc: string;
  /** Sealed JSON array of the patient's numbers. */
  phones_enc: string;
  key_id: string;
  /** Blind index of last name + DOB (identification lookups). */
  name_dob_index: string;
  created_at: Timestamp;
}

export interface EmrPatientPhonesTable {
  patient_id: string;
  /** Blind index of the number's digits. */
  phone_index: string;
}

export interface EmrAppointmentsTable {
  id: string;
  request_id: string;
  patient_id: string;
  provider_id: string;
  type_id: string;
  date: string;
  time: string;
  duration_min: number;
  status: 'booked' | 'cancelled';
  note_enc: string | null;
  note_key_id: string | null;
  cancel_request_id: string | null;
  created_at: Timestamp;
  cancelled_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export type StaffRequestState = 'new' | 'in_progress' | 'done';

export interface EmrStaffRequestsTable {
  id: Generated<number>;
  request_id: string;
  kind: 'message' | 'refill' | 'callback';
  call_id: string | null;
  patient_id: string | null;
  subject_enc: string;
  body_enc: string;
  key_id: string;
  state: ColumnType<StaffRequestState, StaffRequestState | undefined, StaffRequestState>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface Database {
  calls: CallsTable;
  turns: TurnsTable;
  emr_jobs: EmrJobsTable;
  oauth_tokens: OauthTokensTable;
  audit_log: AuditLogTable;
  audit_head: AuditHeadTable;
  emr_patients: EmrPatientsTable;
  emr_patient_phones: EmrPatientPhonesTable;
  emr_appointments: EmrAppointmentsTable;
  emr_staff_requests: EmrStaffRequestsTable;
}
