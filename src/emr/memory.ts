/**
 * An EMR held in memory, for unit tests that need injected latency and faults (the server's embedded EMR is the
 * durable one in embedded.ts). Availability is computed the way the OpenEMR
 * integration must compute it (OpenEMR has no free-slot endpoint): the providers' weekly schedules from the
 * clinic config minus booked appointments. Latency and failures can be injected to exercise the slow/failed paths.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { ClinicConfig } from '../dialog/clinic.js';
import { byStart, computeFreeSlots, isSlotFree, matchesNameDob, phoneLookupKey } from './scheduling.js';
import {
  EmrError, type Appointment, type AvailabilityQuery, type EmrErrorCode, type EmrGateway, type Patient, type Slot,
  type StaffMessage,
} from './types.js';

export type EmrOperation = keyof EmrGateway;

export interface EmrFault {
  code: EmrErrorCode;
  /** Operations that fail; all when omitted. */
  operations?: EmrOperation[];
  /** How many calls fail before the EMR recovers; forever when omitted. */
  count?: number;
}

export interface MemoryEmrOptions {
  clinic: ClinicConfig;
  patients?: readonly Patient[];
  appointments?: readonly Appointment[];
  /** Clock for "no slots in the past"; defaults to the real one. */
  now?: () => Date;
  /** Delay before every answer (ms), or per operation. */
  latencyMs?: number | Partial<Record<EmrOperation, number>>;
  failWith?: EmrFault;
}

export interface SentStaffMessage extends StaffMessage {
  requestId: string;
}

export interface MemoryEmr extends EmrGateway {
  /** Every appointment, cancelled ones included (copies). */
  allAppointments(): Appointment[];
  staffMessages(): SentStaffMessage[];
  /** Count of calls per operation (to check idempotency and that the dialog did not call the EMR). */
  callCount(operation: EmrOperation): number;
  setFault(fault: EmrFault | undefined): void;
  setLatency(latencyMs: MemoryEmrOptions['latencyMs']): void;
}

export function createMemoryEmr(options: MemoryEmrOptions): MemoryEmr {
  const { clinic } = options;
  const now = options.now ?? (() => new Date());
  const patients = (options.patients ?? []).map((p) => ({ ...p, phones: [...p.phones] }));
  const appointments: Appointment[] = (options.appointments ?? []).map((a) => ({ ...a }));
  const messages: SentStaffMessage[] = [];
  const bookings = new Map<string, Appointment>();
  const cancellations = new Set<string>();
  const calls = new Map<EmrOperation, number>();
  let fault = options.failWith ? { ...options.failWith } : undefined;
  let latency = options.latencyMs;
  let nextId = appointments.length + 1;

  async function enter(operation: EmrOperation): Promise<void> {
    calls.set(operation, (calls.get(operation) ?? 0) + 1);
    const wait = typeof latency === 'number' ? latency : latency?.[operation] ?? 0;
    if (wait > 0) await delay(wait);
    if (fault && (!fault.operations || fault.operations.includes(operation))) {
      const code = fault.code;
      if (fault.count !== undefined && --fault.count <= 0) fault = undefined;
      throw new EmrError(code, `memory EMR: injected ${code} on ${operation}`);
    }
  }

  function patientById(patientId: string): Patient {
    const patient = patients.find((p) => p.id === patientId);
    if (!patient) throw new EmrError('not-found', 'no such patient');
    return patient;
  }

  function ownAppointment(patientId: string, appointmentId: string): Appointment {
    const appointment = appointments.find((a) => a.id === appointmentId && a.patientId === patientId);
    if (!appointment) throw new EmrError('not-found', 'no such appointment for this patient');
    return appointment;
  }

  function isStillFree(slot: Slot, ignoreAppointmentId?: string): boolean {
    return isSlotFree(clinic, appointments, slot, now(), ignoreAppointmentId);
  }

  function createAppointment(patientId: string, slot: Slot): Appointment {
    const appointment: Appointment = {
      id: `appt-${nextId++}`, patientId, providerId: slot.providerId, typeId: slot.typeId, date: slot.date, time: slot.time,
      durationMin: slot.durationMin, status: 'booked',
    };
    appointments.push(appointment);
    return appointment;
  }

  return {
    async findPatientsByPhone(phone) {
      await enter('findPatientsByPhone');
      const wanted = phoneLookupKey(phone);
      if (!wanted) return [];
      return patients.filter((p) => p.phones.some((stored) => phoneLookupKey(stored) === wanted)).map(copyPatient);
    },
    async findPatientsByNameDob(firstName, lastName, dob) {
      await enter('findPatientsByNameDob');
      return patients.filter((p) => matchesNameDob(p, firstName, lastName, dob)).map(copyPatient);
    },
    async listAppointments(patientId) {
      await enter('listAppointments');
      patientById(patientId);
      return appointments.filter((a) => a.patientId === patientId)
        .sort(byStart).map((a) => ({ ...a }));
    },
    async findAvailability(query) {
      await enter('findAvailability');
      return computeFreeSlots(clinic, appointments, query, now());
    },
    async book(patientId, slot, requestId) {
      await enter('book');
      const previous = bookings.get(requestId);
      if (previous) return { ...previous };
      patientById(patientId);
      if (!isStillFree(slot)) throw new EmrError('conflict', 'that slot is no longer free');
      const appointment = createAppointment(patientId, slot);
      bookings.set(requestId, appointment);
      return { ...appointment };
    },
    async cancel(patientId, appointmentId, requestId) {
      await enter('cancel');
      if (cancellations.has(requestId)) return;
      const appointment = ownAppointment(patientId, appointmentId);
      appointment.status = 'cancelled';
      cancellations.add(requestId);
    },
    async reschedule(patientId, appointmentId, slot, requestId) {
      await enter('reschedule');
      const previous = bookings.get(requestId);
      if (previous) return { ...previous };
      const old = ownAppointment(patientId, appointmentId);
      if (old.status !== 'booked') throw new EmrError('not-found', 'that appointment is cancelled');
      if (!isStillFree(slot, old.id)) throw new EmrError('conflict', 'that slot is no longer free');
      // Book the new one first, as OpenEMR must (it has no update): the caller never ends up with neither.
      const appointment = createAppointment(patientId, slot);
      old.status = 'cancelled';
      bookings.set(requestId, appointment);
      return { ...appointment };
    },
    async sendStaffMessage(message, requestId) {
      await enter('sendStaffMessage');
      if (messages.some((m) => m.requestId === requestId)) return;
      if (message.patientId !== undefined) patientById(message.patientId);
      messages.push({ ...message, requestId });
    },
    allAppointments: () => appointments.map((a) => ({ ...a })),
    staffMessages: () => messages.map((m) => ({ ...m })),
    callCount: (operation) => calls.get(operation) ?? 0,
    setFault(next) {
      fault = next ? { ...next } : undefined;
    },
    setLatency(next) {
      latency = next;
    },
  };
}

export { computeFreeSlots } from './scheduling.js';

function copyPatient(patient: Patient): Patient {
  return { ...patient, phones: [...patient.phones] };
}
