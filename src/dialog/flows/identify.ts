/**
 * Identification, a sub-flow any task can require: `withPatient(d, then)` runs `then` with a verified patient,
 * at once when the caller is already verified, else after the questions below, and resumes the task that
 * needed it. Caller ID (prefetched at the greeting) or a phone number or a spoken name finds the candidates; the
 * date of birth verifies. Whether a number is on file is never told to an unverified caller.
 */
import type { Patient } from '../../emr/types.js';
import { parseDob } from '../dates.js';
import { splitNameAndDob } from '../helpers.js';
import { parseName } from '../nlu.js';
import { spokenDigits } from '../numbers.js';
import { defineNode, type Dialog } from '../engine/node.js';

export async function withPatient(d: Dialog, then: (patient: Patient) => Promise<void>): Promise<void> {
  const patient = d.call.patient;
  if (patient) return then(patient);
  d.call.identification.resume = then;
  const lookup = await d.awaitWithFiller(d.call.callerLookup);
  const matches = lookup.ok ? lookup.value : [];
  if (matches.length > 0) {
    d.call.identification = { ...d.call.identification, via: 'caller', candidates: matches };
    return d.goto('id-dob');
  }
  askNameOrPhone(d);
}

function askNameOrPhone(d: Dialog): void {
  d.call.identification.name = undefined;
  d.call.identification.candidates = [];
  d.goto(d.keypadMode ? 'id-phone' : 'id-name');
}

async function lookupPhone(digits: string, d: Dialog): Promise<void> {
  const result = await d.emrCall(() => d.emr.findPatientsByPhone(digits));
  if (!result.ok) return d.emrFailed();
  // The date of birth is asked either way: whether the number is on file is not told to an unverified caller.
  d.call.identification.via = 'phone';
  d.call.identification.candidates = result.value;
  d.goto('id-dob');
}

async function verifyDob(dob: string, d: Dialog): Promise<void> {
  const id = d.call.identification;
  let matches: Patient[];
  if (id.via === 'name' && id.name) {
    const { first, last } = id.name;
    const result = await d.emrCall(() => d.emr.findPatientsByNameDob(first, last, dob));
    if (!result.ok) return d.emrFailed();
    matches = result.value;
  } else {
    matches = id.candidates.filter((p) => p.dob === dob);
  }
  if (matches.length === 1) {
    const patient = matches[0]!;
    d.call.patient = patient;
    id.attempts = 0;
    d.say(d.p('identified', { name: patient.firstName }));
    const resume = id.resume;
    id.resume = undefined;
    return resume ? resume(patient) : d.continueTask();
  }
  id.attempts++;
  d.log?.info({ attempt: id.attempts }, 'dialog identification did not match');
  if (id.attempts >= d.clinic.identification.maxAttempts) {
    d.say(d.p('identifyFailed'));
    return d.transfer('identification-failed');
  }
  d.say(d.p('notMatched'));
  if (id.via === 'name') return d.goto('id-name');
  askNameOrPhone(d);
}

/** Ten digits, or eleven with a leading 1 (the country code). */
function phoneComplete(digits: string): boolean {
  return digits.length >= 10 && !(digits.startsWith('1') && digits.length < 11);
}

/** Verified callers never come back to identification through "go back". */
const verified = (d: Dialog) => d.call.patient !== undefined;

export const idDob = defineNode<string>({
  id: 'id-dob',
  expects: () => ({ kind: 'date-of-birth' }),
  speechPrompt: (d) => [d.p(d.call.identification.via === 'caller' ? 'askDobCaller' : 'askDob')],
  keypadPrompt: (d) => [d.p(d.call.identification.via === 'caller' ? 'askDobCallerKeypad' : 'askDobKeypad')],
  notUnderstood: 'dobNotUnderstood',
  hear: (text, d) => parseDob(text, d.today()),
  keys: {
    kind: 'entry',
    complete: (digits) => digits.length >= 8,
    read: (digits, d) => (digits.length === 8 || digits.length === 6 ? parseDob(digits, d.today()) : undefined),
  },
  next: verifyDob,
  leftBehind: verified,
});

type NameAnswer = { name: { first: string; last: string }; dob?: string } | { phone: string };

export const idName = defineNode<NameAnswer>({
  id: 'id-name',
  expects: () => ({ kind: 'person-name' }),
  speechPrompt: (d) => [d.p('askName')],
  keypadPrompt: (d) => [d.p('askNameKeypad')],
  notUnderstood: 'nameNotUnderstood',
  hear: (text, d) => {
    // "jane doe born march third eighty one": both at once.
    const [namePart, dobPart] = splitNameAndDob(text);
    const name = parseName(namePart);
    if (name) {
      const dob = dobPart ? parseDob(dobPart, d.today()) : undefined;
      return dob ? { name, dob } : { name };
    }
    // Digits where a name was asked: the caller is giving the phone number on file instead.
    const digits = spokenDigits(text);
    return digits.length >= 10 ? { phone: digits } : undefined;
  },
  // Keys here type the phone number on file (0 still reaches the front desk: no number starts with it).
  keys: { kind: 'entry', opensOn: (digit) => /^[1-9]$/.test(digit), complete: phoneComplete, read: (digits) => (digits.length >= 10 ? { phone: digits } : undefined) },
  next: (answer, d) => {
    if ('phone' in answer) return lookupPhone(answer.phone, d);
    d.call.identification.name = answer.name;
    d.call.identification.via = 'name';
    if (answer.dob) return verifyDob(answer.dob, d);
    return d.goto('id-dob');
  },
  leftBehind: verified,
});

export const idPhone = defineNode<string>({
  id: 'id-phone',
  expects: () => ({ kind: 'phone-number' }),
  speechPrompt: (d) => [d.p('askPhoneKeypad')],
  keypadPrompt: (d) => [d.p('askPhoneKeypad')],
  notUnderstood: 'phoneNotUnderstood',
  hear: (text) => { const digits = spokenDigits(text); return digits.length >= 10 ? digits : undefined; },
  keys: { kind: 'entry', complete: phoneComplete, read: (digits) => (digits.length >= 10 ? digits : undefined) },
  next: lookupPhone,
  leftBehind: verified,
});
