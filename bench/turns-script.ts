/**
 * The turn-taking benchmark's callers: what they say (one table of phrases, shared with the bench server's
 * transcript double) and the scripted calls built from it, with pauses drawn from a seeded RNG so a run can be
 * repeated exactly. Every call comes from the demo patient's number (+15555550123: Alex Rivera, born
 * 1985-01-15, in src/emr/embedded.ts), so caller ID finds the patient and the dialog asks only the date of birth.
 *
 * Data and arithmetic only: the audio is made by test/support/caller-speech.ts.
 */
import type { ExpectationKind } from '../src/dialog/expectations.js';
import { createHash } from 'node:crypto';
import { seededRandom, synthesizeCallerPhrases } from '../test/support/caller-speech.js';

export const DEMO_PATIENT_NUMBER = '+15555550123';

/**
 * Every phrase a bench caller says, by key. The bench server synthesizes this same table (same text, same voice)
 * for its transcript double, so the table is the one contract between the two processes: change it here only.
 * No punctuation: flite pauses at commas, and a pause inside a phrase would split it into two speech segments.
 */
export const TURNS_PHRASES = {
  // The main menu (menu-choice).
  messageRequest: 'i would like to leave a message',
  messageRequestAlt: 'i want to leave a message for the doctor',
  refillRequest: 'i need a prescription refill',
  refillRequestAlt: 'i would like to request a refill',
  bookRequest: 'i would like to book an appointment',
  bookRequestAlt: 'i need to make an appointment',
  // The date of birth (date-of-birth), in pieces, and whole for a caller asked again.
  dobDay: 'january fifteenth',
  dobDayAlt: 'it is january fifteenth',
  dobMonth: 'january',
  dobDayOnly: 'fifteenth',
  dobYear: 'nineteen eighty five',
  dobWhole: 'january fifteenth nineteen eighty five',
  // Messages (free-text), each in two pieces with a pause between, and one whole for a caller asked again.
  messageAStart: 'please ask the doctor to call me',
  messageAEnd: 'about my blood test results',
  messageBStart: 'i wanted to ask about',
  messageBEnd: 'changing my blood pressure medication',
  messageCStart: 'could the nurse call me back this afternoon',
  messageCEnd: 'i have a question about my bill',
  messageWhole: 'please call me back about my results',
  // Refill (medication, then the pharmacy as free text).
  medicationStart: 'a refill of my',
  medicationName: 'metformin',
  medicationAlt: 'my lisinopril please',
  pharmacyOnFile: 'the pharmacy on file',
  pharmacyNamed: 'the walgreens on main street',
  // Booking (menu-choice for type, provider and offer; date-time for when).
  visitCheckup: 'a check up',
  visitFollowup: 'a follow up visit',
  providerAny: 'whoever is available first',
  providerNguyen: 'doctor nguyen please',
  // One half-day per booking call of a run (see bookingSteps); "next", so it is never today's, already past.
  whenMondayMorning: 'next monday morning',
  whenTuesdayMorning: 'next tuesday morning',
  whenWednesdayMorning: 'next wednesday morning',
  whenThursdayMorning: 'next thursday morning',
  whenFridayMorning: 'next friday morning',
  whenMondayAfternoon: 'next monday afternoon',
  whenTuesdayAfternoon: 'next tuesday afternoon',
  whenWednesdayAfternoon: 'next wednesday afternoon',
  whenThursdayAfternoon: 'next thursday afternoon',
  whenFridayAfternoon: 'next friday afternoon',
  offerFirst: 'the first one',
  offerSecond: 'the second one please',
  offerThird: 'the third one',
  // Confirmations (yes-no) and "anything else?" (menu-choice).
  yes: 'yes',
  yesPlease: 'yes please',
  yesRight: 'yes that is right',
  noThanks: 'no thanks',
  noThatsAll: 'no that is all',
  noThankYou: 'no thank you',
} as const;
export type PhraseKey = keyof typeof TURNS_PHRASES;
export type PhraseAudio = Record<PhraseKey, Int16Array>;

/** The phrases' audio, as both the bench callers and the bench server's transcript double make it. */
export function synthesizeTurnsPhrases(): Promise<PhraseAudio> {
  return synthesizeCallerPhrases(TURNS_PHRASES, { lineNoisePeak: 700 });
}

/** A fingerprint of the phrases' audio: the bench checks that its server process made the very same samples. */
export function digestPhrases(audio: PhraseAudio): string {
  const hash = createHash('sha256');
  for (const key of Object.keys(TURNS_PHRASES) as PhraseKey[]) {
    const samples = audio[key];
    hash.update(`${key}:${samples.length}:`).update(Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength));
  }
  return hash.digest('hex').slice(0, 16);
}

/** One answer: the question (dialog node) it goes to, the pieces said, and the silence between them. */
export interface ScriptStep {
  node: string;
  kind: ExpectationKind;
  pieces: PhraseKey[];
  /** Silence between piece i and i + 1 (ms): one fewer than the pieces. */
  gapsMs: number[];
  /** What the caller says, in one breath, when the bot asks this question again. */
  retry: PhraseKey;
}

export interface CallScript { flow: 'message' | 'message-three-piece-dob' | 'refill' | 'booking'; steps: ScriptStep[] }

/** The pause range the brief asks for: long enough to cross the fixed 640 ms rule, as people do. */
export const PAUSE_MS = { min: 800, max: 1500 } as const;

/** One caller's RNG for one round: independent of how many callers or rounds there are. */
export function randomFor(seed: number, caller: number, round: number): () => number {
  return seededRandom(Math.imul(seed, 0x9e3779b1) ^ Math.imul(caller + 1, 0x85ebca6b) ^ Math.imul(round + 1, 0xc2b2ae35));
}

const pick = <T>(random: () => number, options: readonly T[]): T => options[Math.floor(random() * options.length)]!;
const pause = (random: () => number): number => Math.round(PAUSE_MS.min + random() * (PAUSE_MS.max - PAUSE_MS.min));

function step(node: string, kind: ExpectationKind, pieces: PhraseKey[], random: () => number, retry: PhraseKey = pieces[0]!): ScriptStep {
  return { node, kind, pieces, gapsMs: pieces.slice(1).map(() => pause(random)), retry };
}

function dobStep(random: () => number, threePieces: boolean): ScriptStep {
  const pieces: PhraseKey[] = threePieces ? ['dobMonth', 'dobDayOnly', 'dobYear'] : [pick(random, ['dobDay', 'dobDayAlt'] as const), 'dobYear'];
  return step('id-dob', 'date-of-birth', pieces, random, 'dobWhole');
}

function messageSteps(random: () => number, threePieceDob: boolean): ScriptStep[] {
  const message = pick(random, [['messageAStart', 'messageAEnd'], ['messageBStart', 'messageBEnd'], ['messageCStart', 'messageCEnd']] as const);
  return [
    step('main', 'menu-choice', [pick(random, ['messageRequest', 'messageRequestAlt'] as const)], random),
    dobStep(random, threePieceDob),
    step('message-body', 'free-text', [...message], random, 'messageWhole'),
    step('message-confirm', 'yes-no', [pick(random, ['yes', 'yesPlease', 'yesRight'] as const)], random),
    step('anything-else', 'menu-choice', [pick(random, ['noThanks', 'noThatsAll', 'noThankYou'] as const)], random),
  ];
}

function refillSteps(random: () => number): ScriptStep[] {
  // Half the callers stop to recall the drug's name ("a refill of my ... metformin").
  const medication: PhraseKey[] = random() < 0.5 ? ['medicationStart', 'medicationName'] : [pick(random, ['medicationName', 'medicationAlt'] as const)];
  return [
    step('main', 'menu-choice', [pick(random, ['refillRequest', 'refillRequestAlt'] as const)], random),
    dobStep(random, random() < 0.5),
    step('refill-med', 'medication', medication, random, 'medicationName'),
    step('refill-pharmacy', 'free-text', [pick(random, ['pharmacyOnFile', 'pharmacyNamed'] as const)], random),
    step('refill-confirm', 'yes-no', [pick(random, ['yes', 'yesPlease', 'yesRight'] as const)], random),
    step('anything-else', 'menu-choice', [pick(random, ['noThanks', 'noThatsAll', 'noThankYou'] as const)], random),
  ];
}

const WHEN: readonly PhraseKey[] = [
  'whenMondayMorning', 'whenTuesdayMorning', 'whenWednesdayMorning', 'whenThursdayMorning', 'whenFridayMorning',
  'whenMondayAfternoon', 'whenTuesdayAfternoon', 'whenWednesdayAfternoon', 'whenThursdayAfternoon', 'whenFridayAfternoon',
];

/**
 * Booking: every answer in one piece (the pauses are in the date of birth). All calls book for the one demo
 * patient, so each booking call of a run asks for its own half-day (`booking`: its number among the run's
 * booking calls): two calls offered the same slot at once would race for it, and the loser's "that time was just
 * taken" is a derailment that has nothing to do with turn-taking.
 */
function bookingSteps(random: () => number, booking: number): ScriptStep[] {
  return [
    step('main', 'menu-choice', [pick(random, ['bookRequest', 'bookRequestAlt'] as const)], random),
    dobStep(random, random() < 0.5),
    step('book-type', 'menu-choice', [pick(random, ['visitCheckup', 'visitFollowup'] as const)], random),
    step('book-provider', 'menu-choice', [pick(random, ['providerAny', 'providerNguyen'] as const)], random),
    step('book-when', 'date-time', [WHEN[booking % WHEN.length]!], random),
    step('book-offers', 'menu-choice', [pick(random, ['offerFirst', 'offerSecond', 'offerThird'] as const)], random),
    step('book-confirm', 'yes-no', [pick(random, ['yes', 'yesPlease', 'yesRight'] as const)], random),
    step('anything-else', 'menu-choice', [pick(random, ['noThanks', 'noThatsAll', 'noThankYou'] as const)], random),
  ];
}

const FLOWS: CallScript['flow'][] = ['message', 'message-three-piece-dob', 'refill', 'booking'];

/**
 * The call caller `caller` (of `callers`) makes in round `round`: flows rotate over callers and rounds, phrasing
 * and pauses come from the RNG.
 */
export function scriptFor(seed: number, caller: number, round: number, callers: number): CallScript {
  const random = randomFor(seed, caller, round);
  const flow = FLOWS[(caller + round) % FLOWS.length]!;
  switch (flow) {
    case 'message': return { flow, steps: messageSteps(random, false) };
    case 'message-three-piece-dob': return { flow, steps: messageSteps(random, true) };
    case 'refill': return { flow, steps: refillSteps(random) };
    case 'booking': return { flow, steps: bookingSteps(random, bookingNumber(caller, round, callers)) };
  }
}

/** How many booking calls come before this one, counting round by round and caller by caller. */
function bookingNumber(caller: number, round: number, callers: number): number {
  const isBooking = (c: number, r: number) => FLOWS[(c + r) % FLOWS.length] === 'booking';
  let count = 0;
  for (let r = 0; r <= round; r++) for (let c = 0; c < callers && (r < round || c < caller); c++) if (isBooking(c, r)) count++;
  return count;
}
