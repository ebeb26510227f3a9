/**
 * Booking (and the second half of a reschedule): a slot-filling form. Visit type, provider and a preferred
 * time are taken from whatever the caller says, in any order and any node; only what is still missing is
 * asked. Then openings are searched, offered, and booked only after an explicit yes.
 */
import type { Slot } from '../../emr/types.js';
import { addDays, speakTime, WEEKDAYS, WEEKDAY_NAMES, weekdayOf } from '../clock.js';
import type { WhenPreference } from '../dates.js';
import { keypadDate, pickOffers, timeWindow, withArticle } from '../helpers.js';
import { afterYesNo, isNoPreference, matchNamed, parseOrdinalPick, parseYesNo, wantsOtherTimes } from '../nlu.js';
import { defineNode, type Dialog, type Said, type YesNo } from '../engine/node.js';
import {
  YES_NO_KEYS, captureWhen, dayPhrase, dayText, eligibleProviders, keypadMenu, listWords, providerName, providerNames,
  typeName, typeNames,
} from './common.js';

const OFFER_COUNT = 3;

/** Booking details heard in one sentence; only what differs from the draft counts as a change. */
interface BookingDetails { typeId?: string; providerId?: string | null; when?: WhenPreference }

/** The visit type and provider mentioned anywhere in the text (pure: the draft is not touched). */
export function readBookingDetails(text: string, d: Dialog): BookingDetails {
  const draft = d.call.booking;
  const typeId = matchNamed(text, typeNames(d));
  const providerId = matchNamed(text, providerNames(eligibleProviders(d, typeId ?? draft.typeId)));
  return {
    typeId: typeId && typeId !== draft.typeId ? typeId : undefined,
    providerId: providerId && providerId !== draft.providerId ? providerId : undefined,
  };
}

function changesSomething(details: BookingDetails): boolean {
  return details.typeId !== undefined || details.providerId !== undefined || details.when !== undefined;
}

/** Writes heard details into the draft; a new preferred time forgets "other times". */
export function applyBookingDetails(details: BookingDetails, d: Dialog): void {
  const draft = d.call.booking;
  if (details.typeId) {
    draft.typeId = details.typeId;
    // A provider who does not see this type no longer applies.
    if (draft.providerId && !eligibleProviders(d).some((p) => p.id === draft.providerId)) draft.providerId = undefined;
  }
  if (details.providerId !== undefined) draft.providerId = details.providerId;
  if (details.when) {
    draft.when = details.when;
    draft.after = undefined;
  }
}

/** Asks for whatever the booking still lacks, then searches. */
export async function continueBooking(d: Dialog): Promise<void> {
  const draft = d.call.booking;
  if (!draft.typeId) return d.goto('book-type');
  if (draft.providerId === undefined) {
    const providers = eligibleProviders(d);
    if (providers.length === 1) draft.providerId = providers[0]!.id;
    else return d.goto('book-provider');
  }
  if (!draft.when) return d.goto('book-when');
  return searchOffers(d);
}

async function searchOffers(d: Dialog): Promise<void> {
  const draft = d.call.booking;
  const when = draft.when ?? { asap: true };
  const today = d.today();
  const horizon = addDays(today, d.clinic.booking.searchDays);
  const base = { typeId: draft.typeId!, providerId: draft.providerId ?? undefined, limit: 60 };
  const window = timeWindow(when);
  const attempts = [
    { fromDate: when.date ?? when.fromDate ?? today, toDate: when.date ?? when.toDate ?? horizon, ...window },
    // Nothing then: the same time of day on any day, then any time at all.
    { fromDate: when.date ?? when.fromDate ?? today, toDate: horizon, ...window },
    { fromDate: today, toDate: horizon },
  ];
  let slots: Slot[] = [];
  let attemptIndex = 0;
  for (; attemptIndex < attempts.length; attemptIndex++) {
    const query = { ...base, ...attempts[attemptIndex]! };
    if (query.toDate < query.fromDate) continue;
    const result = await d.emrCall(() => d.emr.findAvailability(query));
    if (!result.ok) return d.emrFailed();
    slots = result.value.filter((slot) => !draft.after || `${slot.date} ${slot.time}` > draft.after)
      .filter((slot) => !draft.rescheduleOf || slot.date !== draft.rescheduleOf.date || slot.time !== draft.rescheduleOf.time);
    if (slots.length > 0) break;
  }
  if (slots.length === 0) {
    d.say(d.p('noOffers'));
    return d.goto('emr-fallback');
  }
  draft.offers = pickOffers(slots, when, OFFER_COUNT);
  if (attemptIndex > 0) d.say(d.p('noOffersThen'));
  d.goto('book-offers');
}

async function otherTimes(d: Dialog): Promise<void> {
  const draft = d.call.booking;
  const last = draft.offers[draft.offers.length - 1];
  if (last) draft.after = `${last.date} ${last.time}`;
  await searchOffers(d);
}

export function chooseOffer(index: number, d: Dialog): void {
  d.call.booking.chosen = d.call.booking.offers[index];
  d.call.requestSeq++;
  d.goto('book-confirm');
}

function slotText(d: Dialog, slot: Slot, withProvider: boolean): string {
  return `${dayText(d, slot.date)} at ${speakTime(slot.time)}${withProvider ? ` with ${providerName(d, slot.providerId)}` : ''}`;
}

/** The offers as the language model is told them. */
export function offerTexts(d: Dialog): string[] {
  return d.call.booking.offers.map((o) => slotText(d, o, true));
}

function offersSpeech(d: Dialog): Said[] {
  const offers = d.call.booking.offers;
  const sameProvider = offers.every((o) => o.providerId === offers[0]!.providerId);
  const ordinals = ['first', 'second', 'third'];
  const items = offers.map((o, i) => `${offers.length > 1 ? `${ordinals[i]}, ` : ''}${slotText(d, o, !sameProvider)}`);
  const lead = offers.length === 1 ? 'I have one opening' : `I have ${offers.length} openings`;
  const withWhom = sameProvider ? ` with ${providerName(d, offers[0]!.providerId)}` : '';
  return [{ text: `${lead}${withWhom}: ${items.join('; ')}.`, cacheable: false }];
}

function confirmBookingText(d: Dialog): Said {
  const { chosen: slot, rescheduleOf: old } = d.call.booking;
  if (!slot) return { text: '', cacheable: false };
  const values = { type: typeName(d, slot.typeId), provider: providerName(d, slot.providerId), time: speakTime(slot.time) };
  return old
    ? d.p('confirmReschedule', { ...values, day: dayText(d, slot.date), oldDay: dayText(d, old.date), oldTime: speakTime(old.time) })
    : d.p('confirmBook', { ...values, aType: withArticle(values.type), day: dayPhrase(d, slot.date) });
}

/** Only after an explicit yes: book (or move) with a request id that makes a retry harmless. */
async function commitBooking(d: Dialog): Promise<void> {
  const call = d.call;
  const slot = call.booking.chosen;
  const patient = call.patient;
  if (!slot || !patient) return d.goto('book-when');
  const old = call.booking.rescheduleOf;
  const requestId = `${d.callId}:${old ? 'reschedule' : 'book'}:${call.requestSeq}`;
  const result = await d.emrCall(() => old
    ? d.emr.reschedule(patient.id, old.id, slot, requestId)
    : d.emr.book(patient.id, slot, requestId), 'fillerSave');
  if (!result.ok) {
    if (result.code === 'conflict') {
      d.say(d.p('slotTaken'));
      call.booking.chosen = undefined;
      return searchOffers(d);
    }
    if (result.code === 'queued') {
      const values = { aType: withArticle(typeName(d, slot.typeId)), provider: providerName(d, slot.providerId), day: dayPhrase(d, slot.date), time: speakTime(slot.time) };
      call.booking = { offers: [] };
      return requestQueued(d, old ? 'reschedule' : 'book', d.p('bookingQueued', values));
    }
    return d.emrFailed();
  }
  const booked = result.value;
  d.log?.info({ kind: old ? 'reschedule' : 'book' }, 'dialog appointment saved');
  d.say(d.p('booked', {
    type: typeName(d, booked.typeId), provider: providerName(d, booked.providerId), day: dayPhrase(d, booked.date), time: speakTime(booked.time),
  }));
  call.booking = { offers: [] };
  d.forgetHistory();
  d.goto('anything-else');
}

/** A write the EMR has not confirmed yet but that is durably queued: say so (never "cannot reach"), carry on. */
export function requestQueued(d: Dialog, kind: 'book' | 'reschedule' | 'cancel', said: Said): void {
  d.log?.info({ kind, outcome: 'queued' }, 'dialog appointment change queued');
  d.say(said);
  d.forgetHistory();
  d.goto('anything-else');
}

// ---- the form's questions ------------------------------------------------------------------------------

export const bookType = defineNode<BookingDetails>({
  id: 'book-type',
  expects: () => ({ kind: 'menu-choice' }),
  speechPrompt: (d) => [d.p('askType', { types: listWords(d.clinic.appointmentTypes.map((t) => withArticle(t.name)), 'or') })],
  keypadPrompt: (d) => [keypadMenu(d.clinic.appointmentTypes.map((t) => withArticle(t.name)))],
  hear: (text, d) => {
    const details = { ...readBookingDetails(text, d), when: captureWhen(text, d) };
    return details.typeId ? details : undefined;
  },
  keys: { kind: 'key', read: (digit, d) => { const type = d.clinic.appointmentTypes[digit - 1]; return type ? { typeId: type.id } : undefined; } },
  next: (details, d) => { applyBookingDetails(details, d); return continueBooking(d); },
  assist: true,
});

export const bookProvider = defineNode<BookingDetails>({
  id: 'book-provider',
  expects: () => ({ kind: 'menu-choice' }),
  speechPrompt: (d) => [d.p('askProvider', { providers: eligibleProviders(d).map((p) => p.name).join(', ') })],
  keypadPrompt: (d) => [keypadMenu([...eligibleProviders(d).map((p) => `to see ${p.name}`), 'for whoever is available first'], true)],
  hear: (text, d) => {
    const providerId = matchNamed(text, providerNames(eligibleProviders(d))) ?? (isNoPreference(text) ? null : undefined);
    return providerId === undefined ? undefined : { providerId, when: captureWhen(text, d) };
  },
  keys: {
    kind: 'key',
    read: (digit, d) => {
      if (digit === 9) return { providerId: null };
      const provider = eligibleProviders(d)[digit - 1];
      return provider ? { providerId: provider.id } : undefined;
    },
  },
  next: (details, d) => { applyBookingDetails(details, d); return continueBooking(d); },
  assist: true,
});

type WhenAnswer = BookingDetails | 'choose-date';

export const bookWhen = defineNode<WhenAnswer>({
  id: 'book-when',
  expects: () => ({ kind: 'date-time' }),
  speechPrompt: (d) => [d.p('askWhen')],
  keypadPrompt: (d) => [d.p('askWhenKeypad')],
  hear: (text, d) => {
    const when = captureWhen(text, d) ?? (isNoPreference(text) || parseYesNo(text) === 'yes' ? { asap: true } : undefined);
    const details = { ...readBookingDetails(text, d), when };
    return changesSomething(details) ? details : undefined;
  },
  keys: {
    kind: 'key',
    read: (digit) => {
      const choices: Record<number, WhenAnswer> = {
        1: { when: { asap: true } },
        2: { when: { partOfDay: 'morning', earliestTime: '07:00', latestTime: '12:00' } },
        3: { when: { partOfDay: 'afternoon', earliestTime: '12:00', latestTime: '17:00' } },
        4: 'choose-date',
      };
      return choices[digit];
    },
  },
  next: (answer, d) => {
    if (answer === 'choose-date') return d.goto('book-date');
    d.call.booking.after = undefined;
    applyBookingDetails(answer, d);
    return continueBooking(d);
  },
  assist: true,
});

export const bookDate = defineNode<WhenPreference>({
  id: 'book-date',
  expects: () => ({ kind: 'date-time' }),
  speechPrompt: (d) => [d.p('askDateKeypad')],
  keypadPrompt: (d) => [d.p('askDateKeypad')],
  hear: (text, d) => captureWhen(text, d),
  keys: {
    kind: 'entry',
    complete: (digits) => digits.length >= 4,
    read: (digits, d) => { const date = keypadDate(digits, d.today()); return date ? { date } : undefined; },
  },
  next: (when, d) => { applyBookingDetails({ when }, d); return continueBooking(d); },
});

type OffersAnswer = { pick: number } | { search: BookingDetails } | 'other-times';

/** Which offer the caller means, a new preference to search, or "other times" (pure). */
function readOffersAnswer(text: string, d: Dialog): OffersAnswer | undefined {
  const offers = d.call.booking.offers;
  const pick = parseOrdinalPick(text, offers.length);
  if (pick !== undefined) return { pick };
  // "the ten o'clock one", "the tuesday one": the trailing "one" is not a number.
  const when = captureWhen(text.replace(/\b(one|ones)$/, ''), d);
  if (when && (when.date !== undefined || when.time !== undefined)) {
    const matching = offers.filter((o) => (!when.date || o.date === when.date) && (!when.time || o.time === when.time));
    if (matching.length === 1) return { pick: offers.indexOf(matching[0]!) };
  }
  const weekdayPick = offerOnWeekday(text, d);
  if (weekdayPick !== undefined && !when?.time) return { pick: weekdayPick };
  // A new preference ("no, tuesday", "with doctor nguyen"): search again.
  const details = { ...readBookingDetails(text, d), when };
  if (changesSomething(details)) return { search: details };
  if (wantsOtherTimes(text) || parseYesNo(text) === 'no') return 'other-times';
  if (parseYesNo(text) === 'yes' && offers.length === 1) return { pick: 0 };
  return undefined;
}

/** "the tuesday one" picks the single offer on a Tuesday. */
function offerOnWeekday(text: string, d: Dialog): number | undefined {
  const said = WEEKDAYS.filter((day) => new RegExp(`\\b${WEEKDAY_NAMES[day].toLowerCase()}\\b`).test(text));
  if (said.length !== 1) return undefined;
  const matches = d.call.booking.offers.map((o, i) => [o, i] as const).filter(([o]) => weekdayOf(o.date) === said[0]);
  return matches.length === 1 ? matches[0]![1] : undefined;
}

export const bookOffers = defineNode<OffersAnswer>({
  id: 'book-offers',
  expects: () => ({ kind: 'menu-choice' }),
  speechPrompt: (d) => [...offersSpeech(d), d.p('offersSpeech')],
  keypadPrompt: (d) => [
    { text: d.call.booking.offers.map((o, i) => `For ${slotText(d, o, true)}, press ${i + 1}.`).join(' '), cacheable: false },
    d.p('offersKeypad'),
  ],
  hear: readOffersAnswer,
  keys: {
    kind: 'key',
    read: (digit, d) => (digit === 4 ? 'other-times' : digit >= 1 && digit <= d.call.booking.offers.length ? { pick: digit - 1 } : undefined),
  },
  next: (answer, d) => {
    if (answer === 'other-times') return otherTimes(d);
    if ('pick' in answer) return chooseOffer(answer.pick, d);
    applyBookingDetails(answer.search, d);
    d.call.booking.after = undefined;
    return searchOffers(d);
  },
  assist: true,
});

type ConfirmAnswer = YesNo | { correction: BookingDetails };

export const bookConfirm = defineNode<ConfirmAnswer>({
  id: 'book-confirm',
  expects: () => ({ kind: 'yes-no' }),
  speechPrompt: (d) => [confirmBookingText(d)],
  keypadPrompt: (d) => [confirmBookingText(d), d.p('yesNoKeypad')],
  hear: (text, d) => {
    const answer = parseYesNo(text);
    if (answer === 'yes') return 'yes';
    // "no, tuesday" / "wednesday instead": a correction, searched straight away.
    const correction = answer === 'no' ? afterYesNo(text) : text;
    if (correction) {
      const details = { ...readBookingDetails(correction, d), when: captureWhen(correction, d) };
      if (changesSomething(details)) return { correction: details };
    }
    return answer;
  },
  keys: YES_NO_KEYS,
  next: (answer, d) => {
    if (answer === 'yes') return commitBooking(d);
    if (answer === 'no') {
      d.say(d.p('bookDeclined'));
      d.call.booking.chosen = undefined;
      return d.goto('book-when');
    }
    applyBookingDetails(answer.correction, d);
    d.call.booking.after = undefined;
    return searchOffers(d);
  },
});
