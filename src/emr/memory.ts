/**
 * An EMR held in memory, for tests and the demo clinic. Availability is computed the way the OpenEMR
 * integration must compute it (OpenEMR has no free-slot endpoint): the providers' weekly schedules from the
 * clinic config minus booked appointments. Latency and failures can be injected to exercise the slow/failed paths.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { ClinicConfig } from '../dialog/clinic.js';
import { addDays, daysBetween, fromMinutes, toMinutes, weekdayOf, zonedParts } from '../dialog/clock.js';
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
    const booked = appointments.filter((a) => a.id !== ignoreAppointmentId);
    return computeFreeSlots(clinic, booked, {
      typeId: slot.typeId, providerId: slot.providerId, fromDate: slot.date, toDate: slot.date, limit: 1_000,
    }, now()).some((free) => free.time === slot.time);
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
      const wanted = phoneKey(phone);
      if (wanted.length < 7) return [];
      return patients.filter((p) => p.phones.some((stored) => phoneKey(stored) === wanted)).map(copyPatient);
    },
    async findPatientsByNameDob(firstName, lastName, dob) {
      await enter('findPatientsByNameDob');
      const first = nameKey(firstName);
      const last = nameKey(lastName);
      return patients.filter((p) => p.dob === dob && nameKey(p.lastName) === last &&
        (nameKey(p.firstName).startsWith(first) || first.startsWith(nameKey(p.firstName)))).map(copyPatient);
    },
    async listAppointments(patientId) {
      await enter('listAppointments');
      patientById(patientId);
      return appointments.filter((a) => a.patientId === patientId)
        .sort((a, b) => `${a.date} ${a.time}`.localeCompare(`${b.date} ${b.time}`)).map((a) => ({ ...a }));
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

/**
 * Free slots: each provider's weekly schedule blocks cut into slots of the type's duration every
 * `booking.slotStepMin`, minus overlaps with booked appointments, minus anything sooner than
 * `booking.minNoticeMin` from `now`. Sorted by date, time, then provider order in the config.
 */
export function computeFreeSlots(clinic: ClinicConfig, appointments: readonly Appointment[], query: AvailabilityQuery, now: Date): Slot[] {
  const type = clinic.appointmentTypes.find((t) => t.id === query.typeId);
  if (!type || query.limit <= 0) return [];
  const earliestStart = zonedParts(new Date(now.getTime() + clinic.booking.minNoticeMin * 60_000), clinic.timezone);
  const earliestKey = `${earliestStart.date} ${earliestStart.time}`;
  const providers = clinic.providers.filter((p) =>
    (query.providerId === undefined || p.id === query.providerId) && (!p.typeIds || p.typeIds.includes(type.id)));
  const busy = appointments.filter((a) => a.status === 'booked');
  const slots: Slot[] = [];
  const dayCount = Math.min(daysBetween(query.fromDate, query.toDate), 366);
  for (let offset = 0; offset <= dayCount && slots.length < query.limit; offset++) {
    const date = addDays(query.fromDate, offset);
    if (date < earliestStart.date) continue;
    const weekday = weekdayOf(date);
    const daySlots: Array<Slot & { order: number }> = [];
    providers.forEach((provider, order) => {
      for (const block of provider.schedule[weekday] ?? []) {
        const blockEnd = toMinutes(block.end);
        for (let start = toMinutes(block.start); start + type.durationMin <= blockEnd; start += clinic.booking.slotStepMin) {
          const time = fromMinutes(start);
          if (`${date} ${time}` < earliestKey) continue;
          if (query.earliestTime && time < query.earliestTime) continue;
          if (query.latestTime && time >= query.latestTime) continue;
          const end = start + type.durationMin;
          const overlaps = busy.some((a) => a.providerId === provider.id && a.date === date &&
            start < toMinutes(a.time) + a.durationMin && toMinutes(a.time) < end);
          if (!overlaps) daySlots.push({ providerId: provider.id, typeId: type.id, date, time, durationMin: type.durationMin, order });
        }
      }
    });
    daySlots.sort((a, b) => a.time.localeCompare(b.time) || a.order - b.order);
    for (const { order: _order, ...slot } of daySlots) {
      if (slots.length >= query.limit) break;
      slots.push(slot);
    }
  }
  return slots;
}

/** Last ten digits: "+1 (555) 555-0101" and "555-555-0101" are the same line. */
function phoneKey(phone: string): string {
  return phone.replace(/\D/g, '').slice(-10);
}

function nameKey(name: string): string {
  return name.toLowerCase().replace(/[^a-z]/g, '');
}

function copyPatient(patient: Patient): Patient {
  return { ...patient, phones: [...patient.phones] };
}

/**
 * Patients for the demo clinic (`npm start` with no EMR configured), so a caller can try identification and
 * booking: say "Alex Rivera", born January fifteenth, nineteen eighty five (keypad: 01151985).
 */
export const DEMO_PATIENTS: readonly Patient[] = [
  { id: 'demo-1', firstName: 'Alex', lastName: 'Rivera', dob: '1985-01-15', phones: ['+15555550123'] },
  { id: 'demo-2', firstName: 'Sam', lastName: 'Taylor', dob: '1972-06-30', phones: ['+15555550124'] },
];
