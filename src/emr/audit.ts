/** How every EMR implementation records a patient-data access: through the store's audit log, or not at all. */
import type { AuditEntry } from '../store/index.js';
import { EmrError } from './types.js';

export type AuditSink = (entry: AuditEntry) => Promise<void>;

/** Writes the entry; if it cannot be written the access is refused (EmrError 'unavailable'), never left unrecorded. */
export async function recordAccess(sink: AuditSink, entry: AuditEntry): Promise<void> {
  try {
    await sink(entry);
  } catch (err) {
    throw new EmrError('unavailable', 'the audit log could not be written', { cause: err });
  }
}
