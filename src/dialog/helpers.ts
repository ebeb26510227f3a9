/**
 * Small pure pieces of the receptionist: how offers are chosen and searched, keypad dates, wording.
 */
import type { Slot } from '../emr/types.js';
import { fromMinutes, isValidDate, pad2, toMinutes } from './clock.js';
import type { WhenPreference } from './dates.js';

/** The search window for a preference: an exact time searches an hour either side. */
export function timeWindow(when: WhenPreference): { earliestTime?: string; latestTime?: string } {
  if (when.time) {
    const minutes = toMinutes(when.time);
    return { earliestTime: fromMinutes(Math.max(0, minutes - 60)), latestTime: fromMinutes(Math.min(23 * 60 + 59, minutes + 61)) };
  }
  return { earliestTime: when.earliestTime, latestTime: when.latestTime };
}

/**
 * Up to `count` offers that are real alternatives: different half-days first, then at least an hour apart,
 * then whatever is left; nearest to a stated time first. Returned in time order.
 */
export function pickOffers(slots: readonly Slot[], when: WhenPreference, count: number): Slot[] {
  const ordered = [...slots];
  if (when.time) {
    const wanted = toMinutes(when.time);
    ordered.sort((a, b) => a.date.localeCompare(b.date) || Math.abs(toMinutes(a.time) - wanted) - Math.abs(toMinutes(b.time) - wanted));
  }
  const picked: Slot[] = [];
  const halfDay = (slot: Slot) => `${slot.date}-${toMinutes(slot.time) < 12 * 60 ? 'am' : 'pm'}`;
  const rules: Array<(slot: Slot) => boolean> = [
    (slot) => !picked.some((p) => halfDay(p) === halfDay(slot)),
    (slot) => !picked.some((p) => p.date === slot.date && Math.abs(toMinutes(p.time) - toMinutes(slot.time)) < 60),
    (slot) => !picked.includes(slot),
  ];
  for (const acceptable of rules) {
    for (const slot of ordered) {
      if (picked.length >= count) break;
      if (acceptable(slot)) picked.push(slot);
    }
  }
  return picked.sort((a, b) => `${a.date} ${a.time}`.localeCompare(`${b.date} ${b.time}`));
}

/** "a check-up", "an annual physical". */
export function withArticle(name: string): string {
  return `${/^[aeiou]/i.test(name) ? 'an' : 'a'} ${name}`;
}

/** Splits "jane doe and my birthday is march third" at the date-of-birth words. */
export function splitNameAndDob(text: string): [string, string | undefined] {
  const marker = /\b(and )?(my )?(birthday|birth date|date of birth|dob|born|d o b)( is| on)?\b/.exec(text);
  if (marker) return [text.slice(0, marker.index).trim(), text.slice(marker.index + marker[0].length).trim()];
  return [text, undefined];
}

/** Four keypad digits MMDD -> the next such date from today (this year or next), or undefined. */
export function keypadDate(digits: string, today: string): string | undefined {
  if (!/^\d{4}$/.test(digits)) return undefined;
  const month = Number(digits.slice(0, 2));
  const day = Number(digits.slice(2));
  const year = Number(today.slice(0, 4));
  for (const candidateYear of [year, year + 1]) {
    if (!isValidDate(candidateYear, month, day)) continue;
    const date = `${candidateYear}-${pad2(month)}-${pad2(day)}`;
    if (date >= today) return date;
  }
  return undefined;
}
