/**
 * Pieces several flows share: the yes/no readers, keypad menus, and how the clinic's providers, visit types,
 * days and appointments are named aloud.
 */
import type { Appointment } from '../../emr/types.js';
import type { ProviderConfig } from '../clinic.js';
import { addDays, speakDate, speakTime } from '../clock.js';
import { parseSpokenDate, type WhenPreference } from '../dates.js';
import { withArticle } from '../helpers.js';
import { normalize, parseYesNo, type Named } from '../nlu.js';
import type { Dialog, KeyReader, Said, YesNo } from '../engine/node.js';

/** Yes/no questions: 1 yes, 2 no. */
export const YES_NO_KEYS: KeyReader<YesNo> = {
  kind: 'key',
  read: (digit) => (digit === 1 ? 'yes' : digit === 2 ? 'no' : undefined),
};

export function hearYesNo(text: string): YesNo | undefined {
  return parseYesNo(text);
}

/** "For a check-up, press 1. For a sick visit, press 2." (`lastIsNine`: the final option is always 9). */
export function keypadMenu(options: string[], lastIsNine = false): Said {
  const sentences = options.map((option, index) => {
    const key = lastIsNine && index === options.length - 1 ? 9 : index + 1;
    const lead = option.startsWith('to ') || option.startsWith('for ') ? option : `for ${option}`;
    return `${lead.charAt(0).toUpperCase()}${lead.slice(1)}, press ${key}.`;
  });
  return { text: sentences.join(' '), cacheable: true };
}

export function listWords(words: string[], joiner: 'and' | 'or'): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')}, ${joiner} ${words[words.length - 1]}`;
}

export function captureWhen(text: string, d: Dialog): WhenPreference | undefined {
  return parseSpokenDate(text, { now: d.now(), timeZone: d.clinic.timezone });
}

export function eligibleProviders(d: Dialog, typeId = d.call.booking.typeId): ProviderConfig[] {
  return d.clinic.providers.filter((p) => !typeId || !p.typeIds || p.typeIds.includes(typeId));
}

const PROVIDER_TITLES = new Set(['doctor', 'dr', 'nurse', 'practitioner', 'np', 'pa', 'md']);

export function providerNames(providers: ProviderConfig[]): Named[] {
  return providers.map((p) => ({
    id: p.id,
    words: [...normalize(p.name).split(' ').filter((w) => !PROVIDER_TITLES.has(w)), ...p.aliases],
  }));
}

export function typeNames(d: Dialog): Named[] {
  return d.clinic.appointmentTypes.map((t) => ({ id: t.id, words: [t.name, ...t.synonyms] }));
}

export function providerName(d: Dialog, id: string): string {
  return d.clinic.providers.find((p) => p.id === id)?.name ?? 'one of our providers';
}

export function typeName(d: Dialog, id: string): string {
  return d.clinic.appointmentTypes.find((t) => t.id === id)?.name ?? 'visit';
}

/** "today", "tomorrow", or the date as spoken. */
export function dayText(d: Dialog, date: string): string {
  const today = d.today();
  if (date === today) return 'today';
  if (date === addDays(today, 1)) return 'tomorrow';
  return speakDate(date, today);
}

/** "tomorrow", "on Tuesday, December first". */
export function dayPhrase(d: Dialog, date: string): string {
  const day = dayText(d, date);
  return day === 'today' || day === 'tomorrow' ? day : `on ${day}`;
}

export function appointmentText(d: Dialog, a: Appointment): string {
  return `${withArticle(typeName(d, a.typeId))} with ${providerName(d, a.providerId)} ${dayPhrase(d, a.date)} at ${speakTime(a.time)}`;
}
