/**
 * The EMR as the dialog sees it. Every call is asynchronous and may be slow or fail; the dialog never awaits
 * it on the audio path (it says a filler and carries on). Implementations: embedded in the carevox store (the
 * default), OpenEMR, and in memory with injectable faults (unit tests).
 * Dates are clinic-local: `YYYY-MM-DD`; times `HH:MM` (24 h); the clinic's IANA zone is in the clinic config.
 */

export interface Patient {
  id: string;          // OpenEMR pid
  firstName: string;
  lastName: string;
  dob: string;         // YYYY-MM-DD
  phones: string[];    // E.164 where known
}

export interface Appointment {
  id: string;
  patientId: string;
  providerId: string;
  typeId: string;
  date: string;        // YYYY-MM-DD clinic-local
  time: string;        // HH:MM clinic-local
  durationMin: number;
  status: 'booked' | 'cancelled';
}

export interface Slot {
  providerId: string;
  typeId: string;
  date: string;
  time: string;
  durationMin: number;
}

export interface AvailabilityQuery {
  typeId: string;
  providerId?: string;
  /** Inclusive clinic-local date range to search. */
  fromDate: string;
  toDate: string;
  /** Optional preference: only slots starting at or after / before these local times. */
  earliestTime?: string;
  latestTime?: string;
  limit: number;
}

export interface StaffMessage {
  patientId?: string;
  kind: 'refill' | 'message' | 'callback';
  subject: string;
  body: string;
}

export interface EmrGateway {
  findPatientsByPhone(phone: string): Promise<Patient[]>;
  findPatientsByNameDob(firstName: string, lastName: string, dob: string): Promise<Patient[]>;
  listAppointments(patientId: string): Promise<Appointment[]>;
  findAvailability(query: AvailabilityQuery): Promise<Slot[]>;
  /** `requestId` makes the booking idempotent: the same id never books twice. */
  book(patientId: string, slot: Slot, requestId: string): Promise<Appointment>;
  cancel(patientId: string, appointmentId: string, requestId: string): Promise<void>;
  reschedule(patientId: string, appointmentId: string, slot: Slot, requestId: string): Promise<Appointment>;
  sendStaffMessage(message: StaffMessage, requestId: string): Promise<void>;
}

/**
 * `queued`: a write was saved durably (the outbox) and will be carried out, but the EMR has not confirmed it in
 * the time a caller can wait; the caller is told it is saved, not that it failed.
 */
export type EmrErrorCode = 'unavailable' | 'timeout' | 'not-found' | 'conflict' | 'forbidden' | 'invalid-response' | 'queued';

export class EmrError extends Error {
  constructor(readonly code: EmrErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EmrError';
  }
}
