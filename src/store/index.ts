export { openStore, storeOptionsFromConfig, dropSchema, StoreError, StoreLockedError, type Store, type StoreOptions } from './store.js';
export { Keyring, KeyringError, DecryptError, parseKey, type Sealed } from './crypto.js';
export {
  AuditLog, AuditKeys, AuditHeadFile, AuditIntegrityError, AuditKeyError, AuditHeadFileError, GENESIS_HASH, canonicalJson, auditHash,
  type AuditEntry, type AuditRecord, type AuditVerification, type AuditBreakReason, type AuditReport, type SignedAuditHead,
} from './audit.js';
export {
  CallRepository, TurnRepository, TokenRepository, JobRepository, StaleTokenError, INTERRUPTED_OUTCOME,
  type StoredCall, type Turn, type StoredToken, type JobRecord, type NewJob,
} from './repositories.js';
export type { Database, JobStatus, StaffRequestState } from './schema.js';
export {
  CallRecorder, storeCallRecordWriter, markInterruptedCalls,
  type CallRecordWriter, type CallRecorderOptions, type RecorderStatus, type RecordOperation,
} from './call-recorder.js';
