/**
 * Clinic configuration: one validated JSON file (name, zone, hours, address, providers and their weekly
 * schedules, appointment types, staff recipients, prompt overrides). Every validation error names its key.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { isValidTimeZone, speakTime, toMinutes, WEEKDAY_NAMES, WEEKDAYS, type Weekday } from './clock.js';
import { DEFAULT_PROMPTS, mentions911 } from './prompts.js';

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a 24-hour time HH:MM');

const timeBlock = z.object({ start: hhmm, end: hhmm }).strict()
  .refine((block) => toMinutes(block.start) < toMinutes(block.end), { message: 'start must be before end' });

/** Opening blocks per weekday; a missing day is closed. */
const weeklySchedule = z.object(
  Object.fromEntries(WEEKDAYS.map((day) => [day, z.array(timeBlock).optional()])) as Record<Weekday, z.ZodOptional<z.ZodArray<typeof timeBlock>>>,
).strict();

const id = z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected an id of letters, digits, _ . -');

export const ClinicConfigSchema = z.object({
  name: z.string().min(1),
  /** IANA zone, e.g. America/New_York: dates and times in the EMR are in this zone. */
  timezone: z.string().refine(isValidTimeZone, { message: 'expected an IANA time zone such as America/New_York' }),
  /** Front desk (E.164): where "operator" and every fallback transfers the call. */
  frontDeskNumber: z.string().regex(/^\+[1-9]\d{6,14}$/, 'expected an E.164 number such as +15555550100'),
  /** The address as it should be spoken. */
  address: z.string().min(1),
  directions: z.string().min(1).optional(),
  hours: weeklySchedule,
  providers: z.array(z.object({
    id,
    /** As spoken: "Doctor Priya Patel". */
    name: z.string().min(1),
    /** Extra words a caller may use for this provider ("patel", "doctor p"). Name words match already. */
    aliases: z.array(z.string().min(1)).default([]),
    /** Appointment types this provider sees; all when omitted. */
    typeIds: z.array(id).optional(),
    schedule: weeklySchedule,
  }).strict()).min(1),
  appointmentTypes: z.array(z.object({
    id,
    /** As spoken: "check-up". */
    name: z.string().min(1),
    durationMin: z.number().int().min(5).max(480),
    /** Words a caller may use ("physical", "annual"). The name matches already. */
    synonyms: z.array(z.string().min(1)).default([]),
  }).strict()).min(1),
  /** EMR user names that receive staff messages. */
  staffRecipients: z.object({
    refill: z.string().min(1),
    message: z.string().min(1),
    callback: z.string().min(1).optional(),
  }).strict(),
  booking: z.object({
    /** How many days ahead to search for openings. */
    searchDays: z.number().int().min(1).max(120).default(21),
    /** Spacing of slot start times inside a schedule block. */
    slotStepMin: z.number().int().min(5).max(240).default(15),
    /** Earliest a slot may start, counted from now. */
    minNoticeMin: z.number().int().min(0).max(7 * 24 * 60).default(60),
  }).strict().prefault({}),
  identification: z.object({
    maxAttempts: z.number().int().min(1).max(5).default(3),
  }).strict().prefault({}),
  /**
   * Text overrides by prompt key (see DEFAULT_PROMPTS); `{clinic}` is replaced by the clinic name. The greeting is
   * always followed by `emergencyNotice`, which may be reworded but must still say 9 1 1.
   */
  prompts: z.record(z.string(), z.string()).superRefine((prompts, ctx) => {
    for (const [key, text] of Object.entries(prompts)) {
      // A clinic may reword the emergency notice (it follows every greeting) but not blank it or drop the number.
      if (key === 'emergencyNotice' && !mentions911(text)) {
        ctx.addIssue({
          code: 'custom', path: [key],
          message: `must tell callers to dial 9 1 1 in an emergency, e.g. "${DEFAULT_PROMPTS.emergencyNotice}"; remove the key to use that default`,
        });
      } else if (text.trim() === '') {
        ctx.addIssue({ code: 'custom', path: [key], message: 'must not be empty; remove the key to use the default' });
      }
    }
  }).default({}),
}).strict().superRefine((clinic, ctx) => {
  const typeIds = new Set<string>();
  clinic.appointmentTypes.forEach((type, index) => {
    if (typeIds.has(type.id)) ctx.addIssue({ code: 'custom', path: ['appointmentTypes', index, 'id'], message: `duplicate id ${type.id}` });
    typeIds.add(type.id);
  });
  const providerIds = new Set<string>();
  clinic.providers.forEach((provider, index) => {
    if (providerIds.has(provider.id)) ctx.addIssue({ code: 'custom', path: ['providers', index, 'id'], message: `duplicate id ${provider.id}` });
    providerIds.add(provider.id);
    provider.typeIds?.forEach((typeId, typeIndex) => {
      if (!typeIds.has(typeId)) {
        ctx.addIssue({ code: 'custom', path: ['providers', index, 'typeIds', typeIndex], message: `unknown appointment type ${typeId}` });
      }
    });
  });
  for (const key of Object.keys(clinic.prompts)) {
    if (!(key in DEFAULT_PROMPTS)) ctx.addIssue({ code: 'custom', path: ['prompts', key], message: `unknown prompt key ${key}` });
  }
});

export type ClinicConfig = z.infer<typeof ClinicConfigSchema>;
export type ClinicConfigInput = z.input<typeof ClinicConfigSchema>;
export type ProviderConfig = ClinicConfig['providers'][number];
export type AppointmentTypeConfig = ClinicConfig['appointmentTypes'][number];
export type WeeklySchedule = ClinicConfig['hours'];

export class ClinicConfigError extends Error {
  constructor(readonly problems: string[], readonly source?: string) {
    super(`Invalid clinic configuration${source ? ` in ${source}` : ''}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ClinicConfigError';
  }
}

/** Validates a parsed JSON value; errors list `key.path: problem`. */
export function parseClinicConfig(value: unknown, source?: string): ClinicConfig {
  const parsed = ClinicConfigSchema.safeParse(value);
  if (!parsed.success) {
    throw new ClinicConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`), source);
  }
  return parsed.data;
}

export function loadClinicConfig(path: string): ClinicConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ClinicConfigError([`cannot read the file: ${(err as Error).message}`], path);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ClinicConfigError([`not valid JSON: ${(err as Error).message}`], path);
  }
  return parseClinicConfig(value, path);
}

const weekdays = (start: string, end: string) => ({
  mon: [{ start, end }], tue: [{ start, end }], wed: [{ start, end }], thu: [{ start, end }], fri: [{ start, end }],
});

/** A demo clinic so the server runs with no configuration file. */
export function defaultClinicConfig(): ClinicConfig {
  return parseClinicConfig({
    name: 'Maple Street Family Clinic',
    timezone: 'America/New_York',
    frontDeskNumber: '+15555550100',
    address: '100 Maple Street, Springfield',
    directions: 'We are on the corner of Maple and Fifth, across from the library. Free parking is behind the building.',
    hours: { ...weekdays('08:00', '17:00'), sat: [{ start: '09:00', end: '12:00' }] },
    providers: [
      {
        id: 'patel', name: 'Doctor Priya Patel', aliases: ['doctor p'],
        schedule: { mon: [{ start: '09:00', end: '12:00' }, { start: '13:00', end: '17:00' }], wed: [{ start: '09:00', end: '12:00' }, { start: '13:00', end: '17:00' }], fri: [{ start: '09:00', end: '12:00' }] },
      },
      {
        id: 'nguyen', name: 'Doctor Sam Nguyen', aliases: ['new yen', 'nuyen'],
        schedule: { ...weekdays('08:30', '16:30'), sat: [{ start: '09:00', end: '12:00' }] },
      },
      {
        id: 'lee', name: 'Nurse Practitioner Dana Lee', aliases: ['nurse', 'nurse practitioner'], typeIds: ['sick', 'followup'],
        schedule: weekdays('10:00', '16:00'),
      },
    ],
    appointmentTypes: [
      { id: 'checkup', name: 'check-up', durationMin: 30, synonyms: ['physical', 'annual', 'wellness', 'check up', 'checkup', 'routine'] },
      { id: 'sick', name: 'sick visit', durationMin: 20, synonyms: ['sick', 'ill', 'not feeling well', 'fever', 'cold', 'flu', 'cough', 'sore throat'] },
      { id: 'followup', name: 'follow-up', durationMin: 20, synonyms: ['follow up', 'followup', 'results', 'recheck'] },
    ],
    staffRecipients: { refill: 'nurse', message: 'frontdesk', callback: 'frontdesk' },
  });
}

/** Opening hours as spoken: "Monday through Friday, 8 AM to 5 PM, and Saturday, 9 AM to noon". */
export function describeHours(clinic: ClinicConfig): string {
  const order: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
  const describe = (day: Weekday) => (clinic.hours[day] ?? []).map((b) => `${speakTime(b.start)} to ${speakTime(b.end)}`).join(' and ');
  const groups: Array<{ from: Weekday; to: Weekday; hours: string }> = [];
  for (const day of order) {
    const hours = describe(day);
    if (!hours) continue;
    const last = groups[groups.length - 1];
    if (last && last.hours === hours && order.indexOf(last.to) === order.indexOf(day) - 1) last.to = day;
    else groups.push({ from: day, to: day, hours });
  }
  if (groups.length === 0) return 'by appointment only';
  const parts = groups.map((g) => {
    const days = g.from === g.to ? WEEKDAY_NAMES[g.from]
      : order.indexOf(g.to) - order.indexOf(g.from) === 1 ? `${WEEKDAY_NAMES[g.from]} and ${WEEKDAY_NAMES[g.to]}`
      : `${WEEKDAY_NAMES[g.from]} through ${WEEKDAY_NAMES[g.to]}`;
    return `${days}, ${g.hours}`;
  });
  return parts.length === 1 ? parts[0]! : `${parts.slice(0, -1).join(', ')}, and ${parts[parts.length - 1]}`;
}
