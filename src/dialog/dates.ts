/**
 * Dates as callers say them. Appointment preferences go through chrono-node in the clinic's zone (after spoken
 * numbers become numerals, which chrono reads far better). Dates of birth are parsed by hand: chrono does not
 * read spoken years ("nineteen eighty one") or digit-run dates ("three three eighty one", "03031981").
 */
import * as chrono from 'chrono-node';
import { isValidDate, pad2, fromMinutes, zonedParts, addDays, WEEKDAYS } from './clock.js';
import { mergeLeadingZeros, numberAtoms, tokenize, type NumberAtom } from './numbers.js';

const MONTHS: Record<string, number> = {
  january: 1, jan: 1, february: 2, feb: 2, march: 3, mar: 3, april: 4, apr: 4, may: 5, june: 6, jun: 6,
  july: 7, jul: 7, august: 8, aug: 8, september: 9, sept: 9, sep: 9, october: 10, oct: 10, november: 11, nov: 11,
  december: 12, dec: 12,
};

/**
 * A date of birth in any common spoken or typed form -> `YYYY-MM-DD`, or undefined.
 * `today` (clinic-local YYYY-MM-DD) bounds the result and resolves two-digit years.
 */
export function parseDob(text: string, today: string): string | undefined {
  const tokens = tokenize(text);
  const monthIndex = tokens.findIndex((token) => token in MONTHS);
  const atoms = mergeLeadingZeros(numberAtoms(tokens));
  const candidate = monthIndex >= 0
    ? dobWithMonthName(MONTHS[tokens[monthIndex]!]!, atoms.filter((a) => a.end <= monthIndex || a.start > monthIndex))
    : dobFromNumbers(atoms);
  if (!candidate) return undefined;
  const [month, day, yearSpoken] = candidate;
  const year = resolveYear(yearSpoken, today);
  if (year === undefined || !isValidDate(year, month, day)) return undefined;
  const dob = `${year}-${pad2(month)}-${pad2(day)}`;
  if (dob > today || year < 1900) return undefined;
  return dob;
}

interface SpokenYear { value: number; digits: number }

function dobWithMonthName(month: number, atoms: NumberAtom[]): [number, number, SpokenYear] | undefined {
  if (atoms.length < 2) return undefined;
  const [dayAtom, ...rest] = atoms;
  if (!dayAtom || dayAtom.value < 1 || dayAtom.value > 31) return undefined;
  const year = combineYear(rest);
  return year ? [month, dayAtom.value, year] : undefined;
}

/** A run of single digits (a merged leading zero allowed) or one long numeral: read as MMDDYYYY or MMDDYY. */
export function isKeypadStyleRun(atoms: readonly NumberAtom[]): boolean {
  // "oh one one five eight five": the leading zero merges with the next digit, leaving five atoms.
  const mergedZeros = atoms.filter((a) => a.digits === 2 && a.value < 10).length;
  if (atoms.length >= 6 || (atoms.length === 5 && mergedZeros === 1)) return atoms.every((a) => a.digits <= 2);
  return atoms.length === 1;
}

function dobFromNumbers(atoms: NumberAtom[]): [number, number, SpokenYear] | undefined {
  // A run of single digits or one long numeral: keypad style MMDDYYYY or MMDDYY.
  const digitString = atoms.map((a) => String(a.value).padStart(a.digits, '0')).join('');
  const digitRun = isKeypadStyleRun(atoms);
  if (digitRun && (digitString.length === 8 || digitString.length === 6)) {
    const month = Number(digitString.slice(0, 2));
    const day = Number(digitString.slice(2, 4));
    const yearText = digitString.slice(4);
    return [month, day, { value: Number(yearText), digits: yearText.length }];
  }
  if (atoms.length < 3) return undefined;
  const [monthAtom, dayAtom, ...rest] = atoms;
  const year = combineYear(rest);
  if (!monthAtom || !dayAtom || !year) return undefined;
  return [monthAtom.value, dayAtom.value, year];
}

/** [1981] | [19, 81] | [19, 05] | [81] | [2000] | [20, 20] -> a spoken year. */
function combineYear(atoms: NumberAtom[]): SpokenYear | undefined {
  if (atoms.length === 1) return { value: atoms[0]!.value, digits: String(atoms[0]!.value).length > 2 ? 4 : 2 };
  if (atoms.length === 2) {
    const [century, decade] = atoms as [NumberAtom, NumberAtom];
    if ((century.value === 19 || century.value === 20) && decade.value < 100 && decade.digits === 2) {
      return { value: century.value * 100 + decade.value, digits: 4 };
    }
  }
  if (atoms.length === 4 && atoms.every((a) => a.digits === 1)) {
    return { value: Number(atoms.map((a) => a.value).join('')), digits: 4 };
  }
  return undefined;
}

function resolveYear(year: SpokenYear, today: string): number | undefined {
  if (year.digits === 4) return year.value;
  if (year.value > 99) return undefined;
  const currentYear = Number(today.slice(0, 4));
  const century = year.value > currentYear % 100 ? 1900 : 2000;
  return century + year.value;
}

export type PartOfDay = 'morning' | 'afternoon' | 'evening';

/** What the caller wants for an appointment time. Every field is clinic-local. */
export interface WhenPreference {
  /** A specific day. */
  date?: string;
  /** A range of days ("next week"). */
  fromDate?: string;
  toDate?: string;
  /** A specific time ("at ten thirty"). */
  time?: string;
  earliestTime?: string;
  latestTime?: string;
  partOfDay?: PartOfDay;
  /** "First available", "as soon as possible". */
  asap?: boolean;
}

export interface DateContext {
  now: Date;
  timeZone: string;
}

const PART_OF_DAY: Record<PartOfDay, [string, string]> = {
  morning: ['07:00', '12:00'],
  afternoon: ['12:00', '17:00'],
  evening: ['16:00', '21:00'],
};

/**
 * An appointment-time preference ("next tuesday morning", "the fifth at ten thirty", "after three",
 * "first available", "no, wednesday"). When several dates are spoken, the last one wins (a correction).
 */
export function parseSpokenDate(text: string, context: DateContext): WhenPreference | undefined {
  const lower = text.toLowerCase();
  const today = zonedParts(context.now, context.timeZone);
  const preference: WhenPreference = {};

  if (/\b(as soon as possible|asap|first available|earliest|soonest|next available|first opening|any ?time|whenever|doesn?t matter)\b/.test(lower)) {
    preference.asap = true;
  }
  let partOfDay: PartOfDay | undefined;
  for (const match of lower.matchAll(/\b(morning|afternoon|evening|tonight|after work|before work|lunch ?time)\b/g)) {
    const word = match[1]!;
    partOfDay = word === 'tonight' || word === 'after work' ? 'evening' : word === 'before work' ? 'morning' : word.startsWith('lunch') ? 'afternoon' : word as PartOfDay;
  }
  if (partOfDay) {
    preference.partOfDay = partOfDay;
    [preference.earliestTime, preference.latestTime] = PART_OF_DAY[partOfDay];
  }

  if (/\bnext week\b/.test(lower)) {
    const daysToMonday = ((8 - WEEKDAYS.indexOf(today.weekday)) % 7) || 7;
    preference.fromDate = addDays(today.date, daysToMonday);
    preference.toDate = addDays(preference.fromDate, 6);
  } else if (/\bthis week\b/.test(lower)) {
    const daysToSunday = (7 - WEEKDAYS.indexOf(today.weekday)) % 7;
    preference.fromDate = today.date;
    preference.toDate = addDays(today.date, daysToSunday);
  }

  // "after three", "before noon", "later than 2" bound the time without fixing it.
  const bound = /\b(after|later than|past|from|before|earlier than|by|no later than)\s+((?:\d{1,2}(?::\d{2})?|noon|midday|[a-z]+(?:\s+[a-z]+)?)(?:\s*(?:am|pm|a m|p m|in the (?:morning|afternoon|evening)))?)/g;
  let residual = numeralize(lower);
  for (const match of residual.matchAll(bound)) {
    const minutes = clockMinutes(match[2]!);
    if (minutes === undefined) continue;
    if (/^(after|later than|past|from)$/.test(match[1]!)) preference.earliestTime = fromMinutes(minutes);
    else preference.latestTime = fromMinutes(minutes);
    residual = residual.replace(match[0], ' ');
  }

  // chrono would turn "morning" into 6 AM and "next week" into one day; both are ranges, handled above.
  residual = residual.replace(/\b(this |in the )?(morning|afternoon|evening|tonight)\b/g, ' ').replace(/\b(next|this) week\b/g, ' ');
  // "the fifth", "thursday the twenty sixth": a day of the month without a month name, which chrono skips.
  const monthless = /\b(?:on )?the (\d{1,2})(?:st|nd|rd|th)\b/.exec(residual);
  if (monthless && !/\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b/.test(residual)) {
    const day = Number(monthless[1]);
    const [y, m] = today.date.split('-').map(Number) as [number, number];
    let candidate = isValidDate(y, m, day) ? `${y}-${pad2(m)}-${pad2(day)}` : undefined;
    if (!candidate || candidate < today.date) candidate = addMonthKeepingDay(`${y}-${pad2(m)}-${pad2(Math.min(day, 28))}`, day);
    if (candidate) {
      preference.date = candidate;
      delete preference.fromDate;
      delete preference.toDate;
    }
    residual = residual.replace(monthless[0], ' ').replace(/\b(mon|tues|tue|wednes|wed|thurs|thu|fri|satur|sat|sun)(day)?\b/g, ' ');
  }
  const results = chrono.parse(residual, { instant: context.now, timezone: today.offsetMinutes }, { forwardDate: true });
  const last = results[results.length - 1];
  if (last) {
    const start = last.start;
    const hasDay = start.isCertain('day') || start.isCertain('weekday') || start.isCertain('month');
    if (hasDay) {
      const year = start.get('year')!;
      const month = start.get('month')!;
      const day = start.get('day')!;
      if (isValidDate(year, month, day)) {
        let date = `${year}-${pad2(month)}-${pad2(day)}`;
        // "the fifth" after the fifth of this month means next month's fifth (chrono keeps the month).
        if (date < today.date && !start.isCertain('month')) date = addMonthKeepingDay(date);
        if (date >= today.date) {
          preference.date = date;
          delete preference.fromDate;
          delete preference.toDate;
        }
      }
    }
    if (start.isCertain('hour')) {
      let hour = start.get('hour')!;
      const minute = start.get('minute') ?? 0;
      // Clinic hours: "at three" means 3 PM, "at nine" means 9 AM.
      if (!start.isCertain('meridiem') && hour >= 1 && hour <= 6) hour += 12;
      preference.time = `${pad2(hour)}:${pad2(minute)}`;
    }
  }

  if (preference.date === undefined && preference.time === undefined && preference.earliestTime === undefined &&
      preference.latestTime === undefined && !preference.asap && preference.fromDate === undefined) {
    return undefined;
  }
  return preference;
}

function addMonthKeepingDay(date: string, wantedDay?: number): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const day = wantedDay ?? d;
  const nextMonth = m === 12 ? 1 : m + 1;
  const nextYear = m === 12 ? y + 1 : y;
  return isValidDate(nextYear, nextMonth, day) ? `${nextYear}-${pad2(nextMonth)}-${pad2(day)}` : date;
}

/** "3", "3 pm", "10:30", "noon", "three thirty" -> minutes after midnight (1-6 without AM/PM = PM). */
function clockMinutes(text: string): number | undefined {
  const normalized = numeralize(text.trim());
  if (/^(noon|midday)/.test(normalized)) return 12 * 60;
  const match = /^(\d{1,2})(?::(\d{2}))?\s*(am|pm|a m|p m|in the morning|in the afternoon|in the evening)?$/.exec(normalized.trim());
  if (!match) return undefined;
  let hour = Number(match[1]);
  const minute = Number(match[2] ?? 0);
  if (hour > 23 || minute > 59) return undefined;
  const meridiem = match[3];
  if (meridiem && /p|afternoon|evening/.test(meridiem) && hour < 12) hour += 12;
  else if (meridiem && /a m|am|morning/.test(meridiem) && hour === 12) hour = 0;
  else if (!meridiem && hour >= 1 && hour <= 6) hour += 12;
  return hour * 60 + minute;
}

/**
 * Spoken numbers -> numerals so chrono can read them: "the twenty first at ten thirty a m" ->
 * "the 21st at 10:30 am". Clock times are two adjacent groups "H MM" with MM two digits.
 */
export function numeralize(text: string): string {
  const tokens = tokenize(text.replace(/\bo\W*clock\b/gi, ' oclock'));
  const atoms = mergeLeadingZeros(numberAtoms(tokens));
  const out: string[] = [];
  let i = 0;
  let atomIndex = 0;
  while (i < tokens.length) {
    const atom = atoms[atomIndex];
    if (atom && atom.start === i) {
      const next = atoms[atomIndex + 1];
      if (!atom.ordinal && atom.value >= 1 && atom.value <= 12 && atom.digits <= 2 && next && next.start === atom.end &&
          !next.ordinal && next.digits === 2 && next.value < 60 && (next.value >= 10 || tokens[next.start] === 'oh' || tokens[next.start] === 'o' || tokens[next.start] === 'zero')) {
        out.push(`${atom.value}:${pad2(next.value)}`);
        i = next.end;
        atomIndex += 2;
        continue;
      }
      out.push(atom.ordinal ? ordinalSuffix(atom.value) : String(atom.value));
      i = atom.end;
      atomIndex++;
      continue;
    }
    const token = tokens[i]!;
    // ASR writes "a m" / "p m"; "o'clock" became "oclock" after tokenising.
    if ((token === 'a' || token === 'p') && tokens[i + 1] === 'm' && out.length > 0 && /\d$/.test(out[out.length - 1]!)) {
      out.push(`${token}m`);
      i += 2;
      continue;
    }
    if (token === 'oclock' || token === 'clock') {
      // "ten o'clock" -> "10:00", which chrono reads as a time (a bare "10" it does not).
      const previous = out[out.length - 1];
      if (previous && /^\d{1,2}$/.test(previous)) out[out.length - 1] = `${previous}:00`;
      i++;
      continue;
    }
    out.push(token);
    i++;
  }
  return out.join(' ');
}

function ordinalSuffix(n: number): string {
  const mod100 = n % 100;
  if (mod100 >= 11 && mod100 <= 13) return `${n}th`;
  return `${n}${['th', 'st', 'nd', 'rd'][n % 10] ?? 'th'}`;
}
