/**
 * The EMR rules every implementation shares (memory, embedded, OpenEMR), so a slot is free, a name matches and a
 * phone number is the same line by one definition wherever the data lives.
 */
import type { ClinicConfig } from '../dialog/clinic.js';
import { addDays, daysBetween, fromMinutes, toMinutes, weekdayOf, zonedParts } from '../dialog/clock.js';
import { phoneDigits } from './phone.js';
import type { Appointment, AvailabilityQuery, Patient, Slot } from './types.js';

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

/**
 * Whether `slot` may still be booked given the provider's booked appointments: it must be one of the free slots
 * of its day (in the schedule, not too soon, no overlap). `ignoreAppointmentId`: the appointment a reschedule is
 * about to cancel does not block its own new slot.
 */
export function isSlotFree(clinic: ClinicConfig, booked: readonly Appointment[], slot: Slot, now: Date, ignoreAppointmentId?: string): boolean {
  const others = booked.filter((a) => a.id !== ignoreAppointmentId);
  return computeFreeSlots(clinic, others, {
    typeId: slot.typeId, providerId: slot.providerId, fromDate: slot.date, toDate: slot.date, limit: 1_000,
  }, now).some((free) => free.time === slot.time);
}

/** Letters only, case and accents folded: "O'Brien" and "obrien", "José" and "jose" are the same name. */
export function nameKey(name: string): string {
  return name.normalize('NFKD').toLowerCase().replace(/[^a-z]/g, '');
}

/** The identification rule: exact DOB and last name; the first name may be a prefix either way ("Ann"/"Anne"). */
export function matchesNameDob(patient: Pick<Patient, 'firstName' | 'lastName' | 'dob'>, firstName: string, lastName: string, dob: string): boolean {
  const first = nameKey(firstName);
  const given = nameKey(patient.firstName);
  return patient.dob === dob && nameKey(patient.lastName) === nameKey(lastName) && first.length > 0 && given.length > 0 &&
    (given.startsWith(first) || first.startsWith(given));
}

/** The digits a phone lookup compares, or undefined for a number too short to identify anyone. */
export function phoneLookupKey(phone: string): string | undefined {
  const digits = phoneDigits(phone);
  return digits.length >= 7 ? digits : undefined;
}

/** Appointments sorted by date and time (the order every `listAppointments` returns). */
export function byStart(a: Pick<Appointment, 'date' | 'time'>, b: Pick<Appointment, 'date' | 'time'>): number {
  return `${a.date} ${a.time}`.localeCompare(`${b.date} ${b.time}`);
}
