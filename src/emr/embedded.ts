/**
 * The embedded EMR (EMR_ENGINE=embedded, the default): patients, appointments and what callers leave for staff,
 * kept in the carevox store (PGlite, or PostgreSQL shared by every node). Patient names, dates of birth, phone
 * numbers, booking notes and messages are sealed with the store's keyring; lookups by phone or by name + DOB go
 * through keyed blind indexes. A booking checks and inserts under a per-provider-day transaction lock, so two
 * nodes can never both take overlapping times. Every patient-data access is written to the audit log.
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { ClinicConfig } from '../dialog/clinic.js';
import type { Database, Keyring, StaffRequestState, Store } from '../store/index.js';
import type { EmrAppointmentsTable, EmrPatientsTable } from '../store/schema.js';
import { recordAccess } from './audit.js';
import { byStart, computeFreeSlots, isSlotFree, matchesNameDob, nameKey, phoneLookupKey } from './scheduling.js';
import {
  EmrError, type Appointment, type AvailabilityQuery, type EmrGateway, type Patient, type Slot, type StaffMessage,
} from './types.js';

/**
 * Patients for the demo clinic, seeded into the embedded EMR on start (once, whichever node comes first), so a
 * caller can try identification and booking: say "Alex Rivera", born January fifteenth, nineteen eighty five
 * (keypad: 01151985), or call from +1 555 555 0123.
 */
export const DEMO_PATIENTS: readonly Patient[] = [
  { id: 'demo-1', firstName: 'Alex', lastName: 'Rivera', dob: '1985-01-15', phones: ['+15555550123'] },
  { id: 'demo-2', firstName: 'Sam', lastName: 'Taylor', dob: '1972-06-30', phones: ['+15555550124'] },
];

export interface EmbeddedEmrOptions {
  store: Pick<Store, 'db' | 'keyring' | 'audit'>;
  clinic: ClinicConfig;
  /** Clock for "no slots in the past"; defaults to the real one. */
  now?: () => Date;
  /** Who the audit log names as accessing the data. */
  actor?: string;
  /** The call the accesses belong to (see `forCall`). */
  callId?: string;
}

/** A message, refill or call-back request as staff see it. */
export interface StaffRequest {
  id: number;
  requestId: string;
  kind: StaffMessage['kind'];
  callId: string | null;
  patientId: string | null;
  subject: string;
  body: string;
  state: StaffRequestState;
  createdAt: Date;
}

const INDEX_PHONE = 'emr-patient-phone';
const INDEX_NAME_DOB = 'emr-patient-name-dob';
const BOOKING_NOTE = 'Booked by the phone assistant';

export class EmbeddedEmr implements EmrGateway {
  private readonly db: Kysely<Database>;
  private readonly keyring: Keyring;

  constructor(private readonly options: EmbeddedEmrOptions) {
    this.db = options.store.db;
    this.keyring = options.store.keyring;
  }

  /** The same EMR, auditing (and filing staff requests) under a call id. */
  forCall(callId: string): EmbeddedEmr {
    return new EmbeddedEmr({ ...this.options, callId });
  }

  /**
   * Creates the patients that do not exist yet (by id) and leaves the others as they are: seeding twice, or from
   * two nodes at once, creates each patient once. Returns how many were created.
   */
  async seedPatients(patients: readonly Patient[]): Promise<number> {
    let created = 0;
    for (const patient of patients) {
      const sealed = this.sealPatient(patient);
      const inserted = await this.db.transaction().execute(async (trx) => {
        const row = await trx.insertInto('emr_patients').values(sealed)
          .onConflict((oc) => oc.column('id').doNothing()).returning('id').executeTakeFirst();
        if (!row) return false;
        const phones = [...new Set(patient.phones.map(phoneLookupKey).filter((d): d is string => d !== undefined))];
        if (phones.length) {
          await trx.insertInto('emr_patient_phones')
            .values(phones.map((digits) => ({ patient_id: patient.id, phone_index: this.keyring.blindIndex(INDEX_PHONE, digits) })))
            .onConflict((oc) => oc.columns(['patient_id', 'phone_index']).doNothing()).execute();
        }
        return true;
      });
      if (inserted) created++;
    }
    return created;
  }

  async findPatientsByPhone(phone: string): Promise<Patient[]> {
    const digits = phoneLookupKey(phone);
    let patients: Patient[] = [];
    if (digits) {
      const rows = await this.db.selectFrom('emr_patients').selectAll()
        .where('id', 'in', this.db.selectFrom('emr_patient_phones').select('patient_id')
          .where('phone_index', 'in', this.keyring.blindIndexes(INDEX_PHONE, digits)))
        .orderBy('id').execute();
      patients = rows.map((r) => this.openPatient(r));
    }
    await this.audit('patient.search.phone', undefined, { matches: patients.length, patientIds: patients.map((p) => p.id) });
    return patients;
  }

  async findPatientsByNameDob(firstName: string, lastName: string, dob: string): Promise<Patient[]> {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(dob)) throw new EmrError('invalid-response', 'date of birth must be YYYY-MM-DD');
    const last = nameKey(lastName);
    let patients: Patient[] = [];
    if (last && nameKey(firstName)) {
      const rows = await this.db.selectFrom('emr_patients').selectAll()
        .where('name_dob_index', 'in', this.keyring.blindIndexes(INDEX_NAME_DOB, nameDobKey(lastName, dob)))
        .orderBy('id').execute();
      // The index narrows to last name + DOB; the first-name rule is checked on the opened rows.
      patients = rows.map((r) => this.openPatient(r)).filter((p) => matchesNameDob(p, firstName, lastName, dob));
    }
    await this.audit('patient.search.name-dob', undefined, { matches: patients.length, patientIds: patients.map((p) => p.id) });
    return patients;
  }

  async listAppointments(patientId: string): Promise<Appointment[]> {
    await this.requirePatient(this.db, patientId);
    const rows = await this.db.selectFrom('emr_appointments').selectAll().where('patient_id', '=', patientId).execute();
    const appointments = rows.map(toAppointment).sort(byStart);
    await this.audit('appointment.list', patientId, { count: appointments.length });
    return appointments;
  }

  async findAvailability(query: AvailabilityQuery): Promise<Slot[]> {
    let q = this.db.selectFrom('emr_appointments').selectAll().where('status', '=', 'booked')
      .where('date', '>=', query.fromDate).where('date', '<=', query.toDate);
    if (query.providerId !== undefined) q = q.where('provider_id', '=', query.providerId);
    const booked = (await q.execute()).map(toAppointment);
    return computeFreeSlots(this.options.clinic, booked, query, this.now());
  }

  async book(patientId: string, slot: Slot, requestId: string): Promise<Appointment> {
    const appointment = await this.db.transaction().execute(async (trx) => {
      await lockProviderDay(trx, slot);
      const previous = await this.byRequest(trx, requestId);
      if (previous) return previous;
      await this.requirePatient(trx, patientId);
      return this.insertIfFree(trx, patientId, slot, requestId);
    });
    await this.audit('appointment.book', patientId, { appointmentId: appointment.id, requestId });
    return appointment;
  }

  async cancel(patientId: string, appointmentId: string, requestId: string): Promise<void> {
    const mine = await this.db.selectFrom('emr_appointments').select(['id', 'status'])
      .where('id', '=', appointmentId).where('patient_id', '=', patientId).executeTakeFirst();
    if (!mine) throw new EmrError('not-found', 'no such appointment for this patient');
    if (mine.status === 'booked') {
      await this.db.updateTable('emr_appointments')
        .set({ status: 'cancelled', cancel_request_id: requestId, cancelled_at: new Date() })
        .where('id', '=', appointmentId).where('status', '=', 'booked').execute();
    }
    await this.audit('appointment.cancel', patientId, { appointmentId, requestId });
  }

  /** The new booking and the old one's cancellation in one transaction: the caller never holds both or neither. */
  async reschedule(patientId: string, appointmentId: string, slot: Slot, requestId: string): Promise<Appointment> {
    const appointment = await this.db.transaction().execute(async (trx) => {
      await lockProviderDay(trx, slot);
      const previous = await this.byRequest(trx, requestId);
      if (previous) return previous;
      const old = await trx.selectFrom('emr_appointments').selectAll()
        .where('id', '=', appointmentId).where('patient_id', '=', patientId).forUpdate().executeTakeFirst();
      if (!old || old.status !== 'booked') throw new EmrError('not-found', 'no such booked appointment for this patient');
      // The appointment being moved does not block its own new slot; it is cancelled before the insert so the
      // one-start-per-provider index never sees both.
      await trx.updateTable('emr_appointments').set({ status: 'cancelled', cancel_request_id: requestId, cancelled_at: new Date() })
        .where('id', '=', appointmentId).execute();
      return this.insertIfFree(trx, patientId, slot, requestId);
    });
    await this.audit('appointment.reschedule', patientId, { appointmentId: appointment.id, replacedAppointmentId: appointmentId, requestId });
    return appointment;
  }

  async sendStaffMessage(message: StaffMessage, requestId: string): Promise<void> {
    if (message.patientId !== undefined) await this.requirePatient(this.db, message.patientId);
    const subject = this.keyring.seal(message.subject);
    const body = this.keyring.seal(message.body);
    const row = await this.db.insertInto('emr_staff_requests').values({
      request_id: requestId, kind: message.kind, call_id: this.options.callId ?? null, patient_id: message.patientId ?? null,
      subject_enc: subject.data, body_enc: body.data, key_id: body.keyId,
    }).onConflict((oc) => oc.column('request_id').doNothing()).returning('id').executeTakeFirst();
    await this.audit('message.send', message.patientId, { kind: message.kind, requestId, created: row !== undefined });
  }

  /** What callers left, oldest first (the staff console's queue). */
  async staffRequests(filter: { state?: StaffRequestState; callId?: string } = {}): Promise<StaffRequest[]> {
    let q = this.db.selectFrom('emr_staff_requests').selectAll().orderBy('created_at').orderBy('id');
    if (filter.state) q = q.where('state', '=', filter.state);
    if (filter.callId) q = q.where('call_id', '=', filter.callId);
    const rows = await q.execute();
    const requests = rows.map((r) => ({
      id: r.id, requestId: r.request_id, kind: r.kind, callId: r.call_id, patientId: r.patient_id, state: r.state,
      createdAt: new Date(r.created_at),
      subject: this.keyring.open({ keyId: r.key_id, data: r.subject_enc }),
      body: this.keyring.open({ keyId: r.key_id, data: r.body_enc }),
    }));
    await this.audit('message.list', undefined, { count: requests.length, requestIds: requests.map((r) => r.id) });
    return requests;
  }

  /** Moves a staff request along (new, in progress, done). Returns false when there is no such request. */
  async setStaffRequestState(id: number, state: StaffRequestState): Promise<boolean> {
    const row = await this.db.updateTable('emr_staff_requests').set({ state, updated_at: new Date() })
      .where('id', '=', id).returning('id').executeTakeFirst();
    if (row) await this.audit('message.state', undefined, { id, state });
    return row !== undefined;
  }

  private async insertIfFree(trx: Transaction<Database>, patientId: string, slot: Slot, requestId: string): Promise<Appointment> {
    const booked = (await trx.selectFrom('emr_appointments').selectAll()
      .where('provider_id', '=', slot.providerId).where('date', '=', slot.date).where('status', '=', 'booked').execute()).map(toAppointment);
    if (!isSlotFree(this.options.clinic, booked, slot, this.now())) throw new EmrError('conflict', 'that slot is no longer free');
    const note = this.keyring.seal(BOOKING_NOTE);
    const row = await trx.insertInto('emr_appointments').values({
      id: `emb-${randomUUID()}`, request_id: requestId, patient_id: patientId, provider_id: slot.providerId, type_id: slot.typeId,
      date: slot.date, time: slot.time, duration_min: slot.durationMin, status: 'booked', note_enc: note.data, note_key_id: note.keyId,
      cancel_request_id: null,
    }).returningAll().executeTakeFirstOrThrow();
    return toAppointment(row);
  }

  private async byRequest(db: Kysely<Database>, requestId: string): Promise<Appointment | undefined> {
    const row = await db.selectFrom('emr_appointments').selectAll().where('request_id', '=', requestId).executeTakeFirst();
    return row && toAppointment(row);
  }

  private async requirePatient(db: Kysely<Database>, patientId: string): Promise<void> {
    const row = await db.selectFrom('emr_patients').select('id').where('id', '=', patientId).executeTakeFirst();
    if (!row) throw new EmrError('not-found', 'no such patient');
  }

  private sealPatient(patient: Patient): Omit<Selectable<EmrPatientsTable>, 'created_at'> {
    const seal = (value: string) => this.keyring.seal(value).data;
    return {
      id: patient.id, key_id: this.keyring.currentKeyId,
      first_name_enc: seal(patient.firstName), last_name_enc: seal(patient.lastName), dob_enc: seal(patient.dob),
      phones_enc: seal(JSON.stringify(patient.phones)),
      name_dob_index: this.keyring.blindIndex(INDEX_NAME_DOB, nameDobKey(patient.lastName, patient.dob)),
    };
  }

  private openPatient(row: Selectable<EmrPatientsTable>): Patient {
    const open = (data: string) => this.keyring.open({ keyId: row.key_id, data });
    return {
      id: row.id, firstName: open(row.first_name_enc), lastName: open(row.last_name_enc), dob: open(row.dob_enc),
      phones: JSON.parse(open(row.phones_enc)) as string[],
    };
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  /** Only ids, counts and outcomes go in the detail, never the data itself. */
  private audit(action: string, patientId: string | undefined, detail: Record<string, unknown>): Promise<void> {
    return recordAccess((entry) => this.options.store.audit.append(entry).then(() => undefined), {
      actor: this.options.actor ?? 'assistant', action, callId: this.options.callId, patientId, detail,
    });
  }
}

/**
 * Serialises bookings of one provider's day across every node on the database (a transaction-scoped advisory
 * lock), so "is it still free?" and the insert are one step: of two concurrent bookings of overlapping times,
 * the second sees the first.
 */
async function lockProviderDay(trx: Transaction<Database>, slot: Slot): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${`carevox-emr:${slot.providerId}:${slot.date}`}))`.execute(trx);
}

function nameDobKey(lastName: string, dob: string): string {
  return `${nameKey(lastName)}|${dob}`;
}

function toAppointment(row: Selectable<EmrAppointmentsTable>): Appointment {
  return {
    id: row.id, patientId: row.patient_id, providerId: row.provider_id, typeId: row.type_id, date: row.date, time: row.time,
    durationMin: row.duration_min, status: row.status,
  };
}
