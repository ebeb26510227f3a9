/**
 * The EMR operations the assistant needs, carried out against OpenEMR. This layer talks to OpenEMR directly and
 * synchronously; calls reach it through the queued gateway (writes) and the breaker (reads). It guards against
 * OpenEMR's gaps: results of every search are re-verified (misspelt filters match everyone), a slot is re-checked
 * just before booking (no overlap check), a booking carries the request id so a retry after a timeout finds it
 * instead of booking twice (no idempotency), a cancel checks ownership (the pid in the path is not checked) and a
 * reschedule is book-new-then-cancel-old with compensation (no update endpoint).
 */
import type { ClinicConfig } from '../dialog/clinic.js';
import type { Logger } from '../log.js';
import { recordAccess, type AuditSink } from './audit.js';
import { computeFreeSlots, isSlotFree, matchesNameDob, nameKey } from './scheduling.js';
import type { NewOpenEmrAppointment, OpenEmrAppointment, OpenEmrClient, OpenEmrPatient, PatientFilter } from './openemr-client.js';
import { phoneDigits, samePhone, storedPhoneFormats, toE164 } from './phone.js';
import {
  EmrError, type Appointment, type AvailabilityQuery, type EmrGateway, type Patient, type Slot, type StaffMessage,
} from './types.js';

export interface OpenEmrMapping {
  /** Clinic provider id -> OpenEMR user id (`pc_aid`). */
  providers: Record<string, string>;
  /** Clinic appointment type id -> OpenEMR calendar category id (`pc_catid`). */
  appointmentTypes: Record<string, string>;
}

export type { AuditSink };

/** How far a multi-step write got; kept durable by the worker so a retry resumes instead of redoing. */
export interface StepState {
  progress: Record<string, unknown>;
  save(progress: Record<string, unknown>): Promise<void>;
}

export interface OpenEmrGatewayOptions {
  client: OpenEmrClient;
  clinic: ClinicConfig;
  mapping: OpenEmrMapping;
  facilityId: string;
  billingLocationId?: string;
  /** OpenEMR username messages are sent from. */
  messageFrom: string;
  audit?: AuditSink;
  actor?: string;
  callId?: string;
  now?: () => Date;
  logger?: Logger;
}

const CANCELLED_STATUSES = new Set(['x', '%']);
const NOTE_TITLES: Record<StaffMessage['kind'], string> = { refill: 'Pharmacy', message: 'Unassigned', callback: 'Unassigned' };

export function requestTag(requestId: string): string {
  return `[carevox:${requestId}]`;
}

export class OpenEmrGateway implements EmrGateway {
  private readonly providerByAid: Map<string, string>;
  private readonly typeByCatid: Map<string, string>;

  constructor(private readonly options: OpenEmrGatewayOptions) {
    this.providerByAid = new Map(Object.entries(options.mapping.providers).map(([id, aid]) => [aid, id]));
    this.typeByCatid = new Map(Object.entries(options.mapping.appointmentTypes).map(([id, cat]) => [cat, id]));
  }

  /** The same gateway, auditing under a call id. */
  forCall(callId: string): OpenEmrGateway {
    return new OpenEmrGateway({ ...this.options, callId });
  }

  async findPatientsByPhone(phone: string): Promise<Patient[]> {
    const found = new Map<string, OpenEmrPatient>();
    // Every stored format, both fields: family members share a line and may be stored differently. This runs at
    // call start (prefetch), off the audio path.
    for (const format of storedPhoneFormats(phone)) {
      for (const field of ['phone_cell', 'phone_home'] as const) {
        for (const p of await this.options.client.searchPatients({ [field]: format } as PatientFilter)) {
          if ([p.phone_cell, p.phone_home, p.phone_biz].some((stored) => stored && samePhone(stored, phone))) found.set(p.pid, p);
        }
      }
    }
    const patients = [...found.values()].map((p) => this.toPatient(p));
    await this.audit('patient.search.phone', undefined, { matches: patients.length, patientIds: patients.map((p) => p.id), digits: phoneDigits(phone).length });
    return patients;
  }

  async findPatientsByNameDob(firstName: string, lastName: string, dob: string): Promise<Patient[]> {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(dob)) throw new EmrError('invalid-response', 'date of birth must be YYYY-MM-DD');
    const first = nameKey(firstName);
    const last = nameKey(lastName);
    if (!first || !last) return [];
    const results = await this.options.client.searchPatients({ fname: firstName.trim(), lname: lastName.trim(), DOB: dob });
    // OpenEMR matches names as substrings and drops filters it does not know: check name and DOB ourselves, by
    // the rule every EMR here shares.
    const patients = results.filter((p) => matchesNameDob({ firstName: p.fname, lastName: p.lname, dob: p.DOB }, firstName, lastName, dob))
      .map((p) => this.toPatient(p));
    await this.audit('patient.search.name-dob', undefined, { returned: results.length, matches: patients.length, patientIds: patients.map((p) => p.id) });
    return patients;
  }

  async listAppointments(patientId: string): Promise<Appointment[]> {
    const list = await this.options.client.patientAppointments(patientId);
    await this.audit('appointment.list', patientId, { count: list.length });
    return list.filter((a) => !a.pc_pid || a.pc_pid === patientId).map((a) => this.toAppointment(a, patientId))
      .sort((a, b) => `${a.date} ${a.time}`.localeCompare(`${b.date} ${b.time}`));
  }

  async findAvailability(query: AvailabilityQuery): Promise<Slot[]> {
    const booked = await this.bookedAppointments();
    return computeFreeSlots(this.options.clinic, booked, query, this.now());
  }

  async book(patientId: string, slot: Slot, requestId: string): Promise<Appointment> {
    return this.bookSlot(patientId, slot, requestId);
  }

  private async bookSlot(patientId: string, slot: Slot, requestId: string, replacingId?: string): Promise<Appointment> {
    const existing = await this.findBooking(patientId, slot, requestId);
    if (existing) return existing;
    await this.checkSlotFree(slot, replacingId);
    const body = this.appointmentBody(slot, requestId);
    try {
      const eid = await this.options.client.createAppointment(patientId, body);
      await this.audit('appointment.book', patientId, { appointmentId: eid, requestId });
      return { id: eid, patientId, providerId: slot.providerId, typeId: slot.typeId, date: slot.date, time: slot.time, durationMin: slot.durationMin, status: 'booked' };
    } catch (err) {
      if (err instanceof EmrError && (err.code === 'timeout' || err.code === 'unavailable' || err.code === 'invalid-response')) {
        // The request may have been carried out even though no answer came: look before anyone retries.
        const landed = await this.findBooking(patientId, slot, requestId).catch(() => undefined);
        if (landed) return landed;
      }
      throw err;
    }
  }

  async cancel(patientId: string, appointmentId: string, requestId: string, step?: StepState): Promise<void> {
    const mine = await this.ownAppointment(patientId, appointmentId);
    if (!mine) {
      // Gone already: fine only if we deleted it ourselves on an earlier attempt whose answer was lost.
      if (step?.progress.deleting === appointmentId) return;
      throw new EmrError('not-found', 'no such appointment for this patient');
    }
    await step?.save({ ...step.progress, deleting: appointmentId });
    await this.options.client.deleteAppointment(patientId, appointmentId);
    await this.audit('appointment.cancel', patientId, { appointmentId, requestId });
  }

  /**
   * Book the new slot, then cancel the old appointment. With `step` (the durable worker) a failure to cancel is
   * left for the retry, and `compensate` undoes the new booking on the final attempt; without it, compensation is
   * immediate, so the caller never ends up with two appointments or none.
   */
  async reschedule(patientId: string, appointmentId: string, slot: Slot, requestId: string, step?: StepState, finalAttempt = true): Promise<Appointment> {
    let newId = step?.progress.newAppointmentId as string | undefined;
    if (!newId) {
      const old = await this.ownAppointment(patientId, appointmentId);
      if (!old || old.status !== 'booked') throw new EmrError('not-found', 'no such appointment for this patient');
    }
    const booked = await this.bookSlot(patientId, slot, requestId, appointmentId);
    newId = booked.id;
    await step?.save({ ...step.progress, newAppointmentId: newId });
    try {
      await this.cancel(patientId, appointmentId, `${requestId}:cancel-old`, step && { progress: { ...step.progress, newAppointmentId: newId }, save: step.save });
    } catch (err) {
      if (step && !finalAttempt && isRetryable(err)) throw err;
      await this.compensate(patientId, newId, requestId);
      throw err;
    }
    return booked;
  }

  /** Undo a booking made by a reschedule that could not complete. */
  async compensate(patientId: string, newAppointmentId: string, requestId: string): Promise<void> {
    try {
      await this.options.client.deleteAppointment(patientId, newAppointmentId);
      await this.audit('appointment.compensate', patientId, { appointmentId: newAppointmentId, requestId });
    } catch (err) {
      this.options.logger?.error({ requestId, err: (err as Error).message }, 'reschedule compensation failed; patient may hold two appointments');
      throw new EmrError('unavailable', 'reschedule failed and its new booking could not be undone', { cause: err });
    }
  }

  async sendStaffMessage(message: StaffMessage, requestId: string): Promise<void> {
    if (!message.patientId) throw new EmrError('not-found', 'OpenEMR staff messages must be attached to a patient');
    const recipients = this.options.clinic.staffRecipients;
    const to = message.kind === 'refill' ? recipients.refill : message.kind === 'callback' ? recipients.callback ?? recipients.message : recipients.message;
    const mid = await this.options.client.sendMessage(message.patientId, {
      body: `${message.subject}\n\n${message.body}\n\n${requestTag(requestId)}`, groupname: 'Default', from: this.options.messageFrom,
      to, title: NOTE_TITLES[message.kind], message_status: 'New',
    });
    await this.audit('message.send', message.patientId, { messageId: mid, kind: message.kind, requestId });
  }

  /** Every booked appointment at the clinic's mapped providers (for availability and the slot re-check). */
  private async bookedAppointments(): Promise<Appointment[]> {
    const all = await this.options.client.allAppointments();
    return all.filter((a) => this.providerByAid.has(a.pc_aid) && !CANCELLED_STATUSES.has(a.pc_apptstatus))
      .map((a) => this.toAppointment(a, a.pc_pid));
  }

  /** `replacingId`: the appointment a reschedule is about to cancel does not block its own new slot. */
  private async checkSlotFree(slot: Slot, replacingId?: string): Promise<void> {
    const booked = await this.bookedAppointments();
    if (!isSlotFree(this.options.clinic, booked, slot, this.now(), replacingId)) throw new EmrError('conflict', 'that slot is no longer free');
  }

  /** This request's booking, found by the tag in its note or, failing that, the same patient, provider and time. */
  private async findBooking(patientId: string, slot: Slot, requestId: string): Promise<Appointment | undefined> {
    const tag = requestTag(requestId);
    const aid = this.options.mapping.providers[slot.providerId];
    const list = await this.options.client.patientAppointments(patientId);
    const match = list.find((a) => a.pc_hometext.includes(tag)) ??
      list.find((a) => a.pc_aid === aid && a.pc_eventDate === slot.date && a.pc_startTime.slice(0, 5) === slot.time && !CANCELLED_STATUSES.has(a.pc_apptstatus));
    return match && this.toAppointment(match, patientId);
  }

  private async ownAppointment(patientId: string, appointmentId: string): Promise<Appointment | undefined> {
    const list = await this.options.client.patientAppointments(patientId);
    const found = list.find((a) => a.pc_eid === appointmentId && (!a.pc_pid || a.pc_pid === patientId));
    return found && this.toAppointment(found, patientId);
  }

  private appointmentBody(slot: Slot, requestId: string): NewOpenEmrAppointment {
    const aid = this.options.mapping.providers[slot.providerId];
    const catid = this.options.mapping.appointmentTypes[slot.typeId];
    if (!aid || !catid) throw new EmrError('not-found', 'provider or appointment type has no OpenEMR mapping');
    if (!/^\d{2}:\d{2}$/.test(slot.time) || !/^\d{4}-\d{2}-\d{2}$/.test(slot.date)) throw new EmrError('invalid-response', 'slot date/time malformed');
    const type = this.options.clinic.appointmentTypes.find((t) => t.id === slot.typeId);
    return {
      pc_catid: catid, pc_title: type?.name ?? slot.typeId, pc_duration: String(slot.durationMin * 60),
      pc_hometext: `Booked by phone assistant ${requestTag(requestId)}`, pc_apptstatus: '-', pc_eventDate: slot.date,
      pc_startTime: slot.time, pc_facility: this.options.facilityId,
      pc_billing_location: this.options.billingLocationId ?? this.options.facilityId, pc_aid: aid,
    };
  }

  private toPatient(p: OpenEmrPatient): Patient {
    return {
      id: p.pid, firstName: p.fname, lastName: p.lname, dob: p.DOB,
      phones: [p.phone_cell, p.phone_home, p.phone_biz].filter((x) => x && phoneDigits(x).length >= 7).map(toE164),
    };
  }

  private toAppointment(a: OpenEmrAppointment, patientId: string): Appointment {
    const durationSec = Number(a.pc_duration);
    const start = a.pc_startTime.slice(0, 5);
    let durationMin = Number.isFinite(durationSec) && durationSec > 0 ? Math.round(durationSec / 60) : 0;
    if (!durationMin && /^\d{2}:\d{2}/.test(a.pc_endTime)) durationMin = minutes(a.pc_endTime.slice(0, 5)) - minutes(start);
    return {
      id: a.pc_eid, patientId: a.pc_pid || patientId,
      providerId: this.providerByAid.get(a.pc_aid) ?? `openemr:${a.pc_aid}`,
      typeId: this.typeByCatid.get(a.pc_catid) ?? `openemr:${a.pc_catid}`,
      date: a.pc_eventDate, time: start, durationMin: Math.max(durationMin, 0),
      status: CANCELLED_STATUSES.has(a.pc_apptstatus) ? 'cancelled' : 'booked',
    };
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  private async audit(action: string, patientId: string | undefined, detail: Record<string, unknown>): Promise<void> {
    if (!this.options.audit) return;
    await recordAccess(this.options.audit, { actor: this.options.actor ?? 'assistant', action, callId: this.options.callId, patientId, detail });
  }
}

export function isRetryable(err: unknown): boolean {
  return err instanceof EmrError && ['unavailable', 'timeout', 'invalid-response', 'forbidden'].includes(err.code);
}

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h * 60 + m;
}
