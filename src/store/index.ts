export { openStore, storeOptionsFromConfig, dropSchema, StoreError, type Store, type StoreOptions } from './store.js';
export { Keyring, KeyringError, DecryptError, parseKey, type Sealed } from './crypto.js';
export { AuditLog, GENESIS_HASH, canonicalJson, auditHash, type AuditEntry, type AuditRecord, type AuditVerification } from './audit.js';
export {
  CallRepository, TurnRepository, TokenRepository, JobRepository, StaleTokenError, INTERRUPTED_OUTCOME,
  type StoredCall, type Turn, type StoredToken, type JobRecord, type NewJob,
} from './repositories.js';
export type { Database, JobStatus } from './schema.js';
export {
  CallRecorder, storeCallRecordWriter, markInterruptedCalls,
  type CallRecordWriter, type CallRecorderOptions, type RecorderStatus, type RecordOperation,
} from './call-recorder.js';
