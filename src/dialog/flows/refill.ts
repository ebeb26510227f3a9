/**
 * A prescription refill: which medication, which pharmacy, a confirmation; it reaches staff as a message of
 * kind `refill`. A keypad caller cannot name a medication, so the request asks the nurse to call them.
 */
import { parseYesNo } from '../nlu.js';
import { defineNode, type Dialog, type YesNo } from '../engine/node.js';
import { YES_NO_KEYS } from './common.js';
import { deliverStaffMessage } from './message.js';

/** Where a refill request stands: ask for what is missing. */
export function continueRefill(d: Dialog): void {
  const refill = d.call.refill;
  if (refill.medication && refill.pharmacy !== undefined) return d.goto('refill-confirm');
  d.goto(refill.medication ? 'refill-pharmacy' : 'refill-med');
}

/** "a refill of my metformin please" -> "metformin please" -> the medication as the caller named it. */
function readMedication(text: string): string | undefined {
  const medication = text.replace(/^(i need |i want |i d like |can i get |please )?(a )?(refill|re fill|renewal)?\s*(of|for|on)?\s*(my )?/, '').trim();
  if (!medication || medication.split(' ').length > 8) return undefined;
  return medication;
}

async function sendRefill(d: Dialog): Promise<void> {
  const { medication, pharmacy } = d.call.refill;
  const body = [
    'Refill request from the phone assistant.',
    `Medication: ${medication ?? 'not given (keypad caller) - please call the patient'}.`,
    `Pharmacy: ${pharmacy ?? 'pharmacy on file'}.`,
    d.call.callerNumber ? `Caller number: ${d.call.callerNumber}.` : '',
  ].filter(Boolean).join(' ');
  const sent = await deliverStaffMessage(d, { kind: 'refill', subject: `Refill request${medication ? `: ${medication}` : ''}`, body });
  if (!sent) return;
  d.say(d.p(sent === 'queued' ? 'messageQueued' : 'refillSent'));
  d.call.refill = {};
  d.forgetHistory();
  d.goto('anything-else');
}

/** Keypad: 1 continues without naming it (staff will call). */
type Medication = { medication?: string };

export const refillMed = defineNode<Medication>({
  id: 'refill-med',
  expects: () => ({ kind: 'medication' }),
  speechPrompt: (d) => [d.p('askMedication')],
  keypadPrompt: (d) => [d.p('askMedicationKeypad')],
  hear: (text) => { const medication = readMedication(text); return medication ? { medication } : undefined; },
  keys: { kind: 'key', read: (digit) => (digit === 1 ? {} : undefined) },
  next: (answer, d) => {
    d.call.refill.medication = answer.medication;
    d.goto('refill-pharmacy');
  },
  freeText: true,
});

type Pharmacy = { pharmacy?: string };

export const refillPharmacy = defineNode<Pharmacy>({
  id: 'refill-pharmacy',
  expects: () => ({ kind: 'free-text' }),
  speechPrompt: (d) => [d.p('askPharmacy')],
  keypadPrompt: (d) => [d.p('askPharmacyKeypad')],
  hear: (text) => {
    const onFile = /\b(on file|usual|same|regular|you have|normal|last time|same one)\b/.test(text);
    if (onFile) return {};
    return text.split(' ').length > 12 ? undefined : { pharmacy: text };
  },
  keys: { kind: 'key', read: (digit) => (digit === 1 ? {} : undefined) },
  next: (answer, d) => {
    d.call.refill.pharmacy = answer.pharmacy;
    d.goto('refill-confirm');
  },
  freeText: true,
});

function refillConfirmText(d: Dialog) {
  const medication = d.call.refill.medication ?? 'your medication';
  const pharmacy = d.call.refill.pharmacy ? `the pharmacy you named, ${d.call.refill.pharmacy}` : 'your pharmacy on file';
  return d.p('confirmRefill', { medication, pharmacy });
}

export const refillConfirm = defineNode<YesNo>({
  id: 'refill-confirm',
  expects: () => ({ kind: 'yes-no' }),
  speechPrompt: (d) => [refillConfirmText(d)],
  keypadPrompt: (d) => [refillConfirmText(d), d.p('yesNoKeypad')],
  hear: (text) => parseYesNo(text),
  keys: YES_NO_KEYS,
  next: (answer, d) => {
    if (answer === 'yes') return sendRefill(d);
    d.call.refill = {};
    d.goto('refill-med');
  },
});
