/**
 * The caller's existing appointments: hear them, pick one to change or cancel. A reschedule hands the picked
 * appointment to the booking form (its type and provider kept); a cancel asks first and needs an explicit yes.
 */
import { zonedParts } from '../clock.js';
import { detectIntent, matchNamed, parseOrdinalPick, parseYesNo } from '../nlu.js';
import { defineNode, type Dialog, type YesNo } from '../engine/node.js';
import { applyBookingDetails, continueBooking, readBookingDetails, requestQueued } from './booking.js';
import { YES_NO_KEYS, appointmentText, captureWhen, typeNames } from './common.js';

/** Loads the upcoming appointments, then lists them, or asks which one to change or cancel. */
export async function loadAppointments(d: Dialog): Promise<void> {
  const call = d.call;
  const patient = call.patient!;
  const result = await d.emrCall(() => d.emr.listAppointments(patient.id));
  if (!result.ok && result.code !== 'not-found') return d.emrFailed();
  const now = zonedParts(d.now(), d.clinic.timezone);
  call.upcoming = (result.ok ? result.value : [])
    .filter((a) => a.status === 'booked' && `${a.date} ${a.time}` >= `${now.date} ${now.time}`)
    .sort((a, b) => `${a.date} ${a.time}`.localeCompare(`${b.date} ${b.time}`));
  if (call.upcoming.length === 0) {
    d.say(d.p('noUpcoming'));
    return d.goto('offer-book');
  }
  if (call.task === 'list') {
    const count = call.upcoming.length === 1 ? 'one upcoming appointment' : `${call.upcoming.length} upcoming appointments`;
    d.say(d.p('listAppointments', { count, appointments: call.upcoming.map((a) => appointmentText(d, a)).join('; ') }));
    d.forgetHistory();
    return d.goto('anything-else');
  }
  if (call.upcoming.length === 1) return appointmentPicked(0, d);
  d.goto('pick-appointment');
}

async function appointmentPicked(index: number, d: Dialog): Promise<void> {
  const call = d.call;
  const appointment = call.upcoming[index];
  if (!appointment) return d.noMatch();
  call.selected = appointment;
  if (call.task === 'cancel') return d.goto('cancel-confirm');
  call.booking = { offers: [], typeId: appointment.typeId, providerId: appointment.providerId, rescheduleOf: appointment };
  if (call.upcoming.length === 1) d.say(d.p('oneAppointment', { appointment: appointmentText(d, appointment).replace(/^an? /, '') }));
  d.goto('book-when');
}

/** "the one on the 25th", "the check-up": the single appointment on that date or of that type. */
function matchAppointment(text: string, d: Dialog): number | undefined {
  const upcoming = d.call.upcoming;
  const when = captureWhen(text, d);
  if (when?.date) {
    const hits = upcoming.filter((a) => a.date === when.date);
    if (hits.length === 1) return upcoming.indexOf(hits[0]!);
  }
  const typeId = matchNamed(text, typeNames(d));
  if (typeId) {
    const hits = upcoming.filter((a) => a.typeId === typeId);
    if (hits.length === 1) return upcoming.indexOf(hits[0]!);
  }
  return undefined;
}

async function cancelAnswered(confirmed: boolean, d: Dialog): Promise<void> {
  const call = d.call;
  const a = call.selected;
  if (!confirmed || !a || !call.patient) {
    d.say(d.p('cancelKept'));
    return d.goto('anything-else');
  }
  const patientId = call.patient.id;
  const requestId = `${d.callId}:cancel:${a.id}`;
  const result = await d.emrCall(() => d.emr.cancel(patientId, a.id, requestId), 'fillerSave');
  if (!result.ok && result.code === 'queued') {
    call.selected = undefined;
    return requestQueued(d, 'cancel', d.p('cancelQueued'));
  }
  if (!result.ok) return d.emrFailed();
  d.log?.info({ kind: 'cancel' }, 'dialog appointment saved');
  d.say(d.p('cancelled'));
  call.selected = undefined;
  d.forgetHistory();
  d.goto('anything-else');
}

export const pickAppointment = defineNode<number>({
  id: 'pick-appointment',
  expects: () => ({ kind: 'menu-choice' }),
  speechPrompt: (d) => {
    const ordinals = ['first', 'second', 'third', 'fourth', 'fifth'];
    const items = d.call.upcoming.slice(0, 5).map((a, i) => `${ordinals[i]}, ${appointmentText(d, a)}`);
    const action = d.call.task === 'cancel' ? 'cancel' : 'change';
    return [d.p('pickAppointment', { count: String(d.call.upcoming.length), appointments: items.join('; '), action })];
  },
  keypadPrompt: (d) => [{
    text: d.call.upcoming.slice(0, 8).map((a, i) => `For ${appointmentText(d, a)}, press ${i + 1}.`).join(' '), cacheable: false,
  }],
  hear: (text, d) => parseOrdinalPick(text, d.call.upcoming.length) ?? matchAppointment(text, d),
  keys: { kind: 'key', read: (digit, d) => (digit >= 1 && digit <= d.call.upcoming.length ? digit - 1 : undefined) },
  next: appointmentPicked,
});

export const cancelConfirm = defineNode<YesNo>({
  id: 'cancel-confirm',
  expects: () => ({ kind: 'yes-no' }),
  speechPrompt: (d) => [cancelConfirmText(d)],
  keypadPrompt: (d) => [cancelConfirmText(d), d.p('yesNoKeypad')],
  // Only an explicit answer: "yes", "cancel it"; "keep it" or "no" keeps it.
  hear: (text) => parseYesNo(text)
    ?? (/^(please )?(go ahead and )?cancel (it|that)( please)?$/.test(text) ? 'yes' : /\bkeep\b/.test(text) ? 'no' : undefined),
  keys: YES_NO_KEYS,
  next: (answer, d) => cancelAnswered(answer === 'yes', d),
});

function cancelConfirmText(d: Dialog) {
  const a = d.call.selected;
  if (!a) return { text: '', cacheable: false };
  return d.p('confirmCancel', { appointment: appointmentText(d, a).replace(/^an? /, '') });
}

type OfferBookAnswer = 'no' | { book: string };

/** After "you have no upcoming appointments": would you like to book one? */
export const offerBook = defineNode<OfferBookAnswer>({
  id: 'offer-book',
  expects: () => ({ kind: 'yes-no' }),
  speechPrompt: (d) => [d.p('offerBookInstead')],
  keypadPrompt: (d) => [d.p('offerBookInstead'), d.p('yesNoKeypad')],
  hear: (text) => {
    const answer = parseYesNo(text);
    if (answer === 'yes' || detectIntent(text) === 'book') return { book: text };
    return answer === 'no' ? 'no' : undefined;
  },
  keys: { kind: 'key', read: (digit) => (digit === 1 ? { book: '' } : digit === 2 ? 'no' : undefined) },
  next: (answer, d) => {
    if (answer === 'no') return d.goto('anything-else');
    d.call.task = 'book';
    d.call.booking = { offers: [] };
    applyBookingDetails(readBookingDetails(answer.book, d), d);
    return continueBooking(d);
  },
});
