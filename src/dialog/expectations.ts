/**
 * What each question waits for, and how far the caller's words so far go towards it. Turn-taking calls
 * assessByKind on every partial transcript: 'complete' ends the turn after a short silence, 'incomplete' holds it
 * open (a date of birth without its year, nine digits of a phone number, a message stopping on "and"),
 * 'not-an-answer' leaves the decision to the default rule. The grammar-aware timeouts of VoiceXML
 * (completetimeout / incompletetimeout), driven by the dialog's own knowledge of the answer.
 *
 * Runs on every partial: pure, synchronous, all patterns and word sets built once at load.
 */
import { isKeypadStyleRun, parseDob, parseSpokenDate } from './dates.js';
import { parseName, parseYesNo } from './nlu.js';
import { mergeLeadingZeros, numberAtoms, spokenDigits, tokenize, type NumberAtom } from './numbers.js';

export type Expectation =
  | { kind: 'yes-no' } | { kind: 'menu-choice' } | { kind: 'date-of-birth' } | { kind: 'date-time' }
  | { kind: 'phone-number' } | { kind: 'person-name' } | { kind: 'medication' } | { kind: 'free-text' }
  | { kind: 'digits'; length: number };
export type ExpectationKind = Expectation['kind'];
export type AnswerState = 'complete' | 'incomplete' | 'not-an-answer';
export interface AssessContext { today: string /* YYYY-MM-DD in the clinic's zone */ }

// Sounds a speaker makes while thinking; never an answer. ("oh" is a digit, so it is not here.)
const FILLER_WORDS = new Set(['um', 'umm', 'uhm', 'uh', 'uhh', 'er', 'erm', 'ah', 'ahh', 'eh', 'hmm', 'hm', 'hmmm', 'mm', 'mmm']);
// Asking for time. Longest first, so "just a second" is taken whole before "a second".
const FILLER_PHRASES: ReadonlyArray<readonly string[]> = [
  'give me a second', 'give me a sec', 'give me a moment', 'give me a minute', 'just a second', 'just a sec',
  'just a moment', 'just a minute', 'wait a second', 'wait a minute', 'let me think', 'let me see', 'let me check',
  'let me look', 'one second', 'one sec', 'one moment', 'one minute', 'a second', 'a sec', 'a moment',
  'hold on', 'hang on',
].map((phrase) => phrase.split(' ')).sort((a, b) => b.length - a.length);

// Words a finished sentence does not end on: conjunctions, prepositions, determiners, subjects and contractions
// that need what follows. Words that often end a complete reply are left out on purpose: "in"/"on" ("come in",
// "later on"), "so" ("i think so"), "her" ("call her"), "by" (ASR's "bye"), "is"/"do"/"can" ("yes it is").
const DANGLING_WORDS = new Set([
  'and', 'or', 'but', 'nor', 'plus', 'because', 'cause', 'cuz', 'if', 'than', 'whether', 'unless',
  'about', 'at', 'for', 'to', 'of', 'with', 'from', 'into', 'onto', 'after', 'before', 'around', 'between',
  'until', 'till', 'til', 'since', 'through', 'thru', 'without', 'near', 'regarding', 'towards', 'toward',
  'the', 'a', 'an', 'my', 'your', 'our', 'their', 'this', 'some', 'next', 'every',
  'i', 'im', 'ive', 'its', 'thats', 'theres', 'whats', 'heres', 'names', 'gonna', 'wanna', 'gotta', 'just',
]);
// Two-word endings that need a complement ("i want", "i'd like", "let me", "i mean").
const DANGLING_PAIRS = new Set([
  'i want', 'i wanted', 'i need', 'i needed', 'id like', 'd like', 'would like', 'let me', 'i mean', 'was wondering',
]);
// "my name is", "the number is", "date of birth was": the value is next.
const INTRODUCING_NOUNS = new Set([
  'name', 'number', 'birthday', 'birth', 'date', 'dob', 'phone', 'medication', 'medicine', 'prescription', 'pharmacy',
  'message', 'question', 'reason', 'address', 'id', 'code', 'problem', 'thing',
]);
const COPULAS = new Set(['is', 'was', 's']);

const MONTH_WORDS = new Set([
  'january', 'jan', 'february', 'feb', 'march', 'mar', 'april', 'apr', 'may', 'june', 'jun', 'july', 'jul', 'august',
  'aug', 'september', 'sept', 'sep', 'october', 'oct', 'november', 'nov', 'december', 'dec',
]);
const TENS_WORDS = new Set(['twenty', 'thirty', 'forty', 'fourty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety']);
const SCALE_WORDS = new Set(['hundred', 'thousand']);
// The first word of a spoken year ("nineteen ...", "twenty ...", "two thousand ...").
const YEAR_STARTS = new Set(['nineteen', 'twenty', 'hundred', 'thousand']);
const DIGIT_ONLY = /^\d+$/;
const ORDINAL_NUMERAL = /^\d+(st|nd|rd|th)$/;
const ORDINAL_WORDS = new Set([
  'first', 'second', 'third', 'fourth', 'fifth', 'sixth', 'seventh', 'eighth', 'ninth', 'tenth', 'eleventh', 'twelfth',
  'thirteenth', 'fourteenth', 'fifteenth', 'sixteenth', 'seventeenth', 'eighteenth', 'nineteenth', 'twentieth', 'thirtieth',
]);

// Words that only lead up to a recited value ("it's", "my number is", "sure, it's"): with nothing after them the
// caller is about to say it; with other words and no value, the reply is something else.
const COMMON_LEADS = ['yes', 'yeah', 'yep', 'sure', 'ok', 'okay', 'alright', 'right', 'so', 'well', 'oh', 'its', 'it', 'is', 'was', 'my', 'the', 'thats', 'uh'];
const PHONE_LEADS = new Set([...COMMON_LEADS, 'number', 'phone', 'cell', 'mobile', 'home', 'work', 'area', 'code', 'telephone', 'on', 'file']);
const DIGITS_LEADS = new Set([...COMMON_LEADS, 'number', 'id', 'member', 'code', 'account', 'pin', 'zip', 'insurance', 'policy', 'card']);
const DOB_LEADS = new Set([
  ...COMMON_LEADS, 'birthday', 'birth', 'date', 'of', 'dob', 'born', 'i', 'im', 'on', 'in', 'and', 'his', 'her', 'their',
  'be', 'would', 'that', 'a', 'mine', 'double', 'triple', 'slash', 'dash', 'o',
]);
// Said before or around a medication name without naming it.
const MEDICATION_LEADS = new Set([
  ...COMMON_LEADS, 'i', 'im', 'id', 'need', 'needs', 'want', 'would', 'like', 'a', 'an', 'for', 'of', 'on', 'to', 'get',
  'refill', 'refilled', 'refills', 'renew', 'renewed', 'prescription', 'prescriptions', 'medication', 'medications',
  'medicine', 'medicines', 'meds', 'please', 'called', 'this', 'that', 'me', 'can', 'could', 'you', 'take', 'just',
]);
const UNSURE_WORDS = new Set(['dont', 'do', 'not', 'know', 'sure', 'no', 'idea', 'dunno', 'cant', 'remember', 'forgot', 'recall', 'what']);
const UNSURE = /\b(dont know|not sure|no idea|dunno|cant remember|dont remember|forgot|cant recall)\b/;

// Words that start a name reply ("my name is", "this is", "it's", "hi, i'm").
const NAME_LEADS: ReadonlyArray<readonly string[]> = [
  'my name is', 'my names', 'the name is', 'the names', 'name is', 'names', 'this is', 'it is', 'its', 'i am', 'im',
  'yes', 'yeah', 'sure', 'ok', 'okay', 'hi', 'hello', 'hey', 'well', 'so', 'oh', 'my first name is', 'first name',
  'last name', 'the patient is', 'patient', 'for',
].map((lead) => lead.split(' ')).sort((a, b) => b.length - a.length);
const NAME_TRAILERS = new Set(['speaking', 'here', 'calling']);
// Words that show a reply is not a name (function words, verbs, clinic words).
const NOT_NAME_WORDS = new Set([
  'i', 'you', 'he', 'she', 'we', 'they', 'me', 'it', 'its', 'him', 'them', 'us', 'dont', 'know', 'not', 'no', 'what', 'why',
  'how', 'who', 'where', 'when', 'want', 'wanted', 'need', 'like', 'to', 'the', 'a', 'an', 'of', 'about', 'with', 'or',
  'but', 'is', 'are', 'was', 'am', 'be', 'have', 'has', 'had', 'do', 'does', 'did', 'can', 'could', 'would', 'will',
  'should', 'appointment', 'book', 'cancel', 'schedule', 'reschedule', 'call', 'speak', 'talk', 'help', 'please',
  'sorry', 'thanks', 'thank', 'repeat', 'again', 'that', 'this', 'there', 'operator', 'person', 'someone', 'doctor',
  'nurse', 'refill', 'prescription', 'message', 'my', 'your', 'name', 'say', 'said', 'sure', 'yes', 'yeah', 'nope',
]);

/** True when the words so far stop where a speaker is clearly not finished ("and", "about", "my", "the", "um", "at", "in the", "nineteen" in a year ...). */
export function endsMidPhrase(text: string): boolean {
  return tokensEndMidPhrase(tokenize(text));
}

function tokensEndMidPhrase(tokens: readonly string[]): boolean {
  const last = tokens[tokens.length - 1];
  if (last === undefined) return false;
  if (FILLER_WORDS.has(last) && !isBackchannelPair(tokens, tokens.length - 1)) return true;
  if (DANGLING_WORDS.has(last)) return true;
  const previous = tokens[tokens.length - 2];
  if (previous !== undefined) {
    if (DANGLING_PAIRS.has(`${previous} ${last}`)) return true;
    if (COPULAS.has(last) && INTRODUCING_NOUNS.has(previous)) return true;
  }
  if (endsWithFillerPhrase(tokens)) return true;
  // "double" / "triple" need their digit; "nineteen oh" / "twenty oh" need the year's last digit.
  if (last === 'double' || last === 'triple') return true;
  if ((last === 'oh' || last === 'o') && (previous === 'nineteen' || previous === 'twenty')) return true;
  // "january fifteenth nineteen": a year has begun after the day ("twenty nineteen" is a whole year).
  if (YEAR_STARTS.has(last) && !(previous !== undefined && YEAR_STARTS.has(previous)) && yearMayFollow(tokens)) return true;
  return false;
}

/** The day of a date was spoken before the last token: "march third nineteen", "the fifth of june twenty". */
function yearMayFollow(tokens: readonly string[]): boolean {
  const beforeLast = tokens.length - 1;
  let monthAt = -1;
  for (let i = 0; i < beforeLast; i++) if (MONTH_WORDS.has(tokens[i]!)) monthAt = i;
  const previous = tokens[beforeLast - 1];
  if (previous !== undefined && (ORDINAL_WORDS.has(previous) || ORDINAL_NUMERAL.test(previous))) return true;
  if (monthAt < 0) return false;
  // A number between the month and the last token is the day ("march three nineteen").
  for (let i = monthAt + 1; i < beforeLast; i++) if (isNumberWord(tokens[i]!)) return true;
  // "the third of march nineteen": the day came before the month.
  for (let i = 0; i < monthAt; i++) if (isNumberWord(tokens[i]!)) return monthAt === beforeLast - 1;
  return false;
}

function isNumberWord(token: string): boolean {
  return DIGIT_ONLY.test(token) || ORDINAL_NUMERAL.test(token) || ORDINAL_WORDS.has(token) || numberAtoms([token]).length > 0;
}

function endsWithFillerPhrase(tokens: readonly string[]): boolean {
  for (const phrase of FILLER_PHRASES) {
    if (phrase.length > tokens.length) continue;
    const offset = tokens.length - phrase.length;
    if (phrase.every((word, k) => tokens[offset + k] === word)) return true;
  }
  return false;
}

/** "uh huh" and "mm hmm" are a yes, not two fillers. */
function isBackchannelPair(tokens: readonly string[], index: number): boolean {
  const token = tokens[index];
  const next = tokens[index + 1];
  const previous = tokens[index - 1];
  return (token === 'uh' && next === 'huh') || (token === 'huh' && previous === 'uh') ||
    ((token === 'mm' || token === 'mmm') && next === 'hmm') || (token === 'hmm' && (previous === 'mm' || previous === 'mmm'));
}

/**
 * The tokens without fillers and requests for time ("um", "let me see", "hold on", "one second"). Where a date
 * is expected, "one second" beside numbers is a date ("one second nineteen eighty" is January 2nd); in a digit
 * string an ordinal cannot occur, so there it is always a pause.
 */
function withoutFillers(tokens: readonly string[], datesExpected: boolean): string[] {
  const out: string[] = [];
  let i = 0;
  outer: while (i < tokens.length) {
    const token = tokens[i]!;
    if (FILLER_WORDS.has(token) && !isBackchannelPair(tokens, i)) {
      i++;
      continue;
    }
    for (const phrase of FILLER_PHRASES) {
      if (i + phrase.length <= tokens.length && phrase.every((word, k) => tokens[i + k] === word)) {
        if (datesExpected && phrase[0] === 'one' && (isNumberWord(tokens[i - 1] ?? '') || isNumberWord(tokens[i + phrase.length] ?? ''))) continue;
        i += phrase.length;
        continue outer;
      }
    }
    out.push(token);
    i++;
  }
  return out;
}

/** What the words so far look like for this kind of answer, knowing nothing of the node's own options. */
export function assessByKind(expectation: Expectation, text: string, context: AssessContext): AnswerState {
  const tokens = tokenize(text);
  if (tokens.length === 0) return 'not-an-answer';
  const content = withoutFillers(tokens, expectation.kind === 'date-of-birth' || expectation.kind === 'date-time');
  // Only "um", "let me see", "hold on": the caller has the floor and is thinking, whatever the question.
  if (content.length === 0) return 'incomplete';
  if (tokensEndMidPhrase(tokens)) return 'incomplete';
  switch (expectation.kind) {
    case 'yes-no': return parseYesNo(content.join(' ')) ? 'complete' : 'not-an-answer';
    // The node's own reader upgrades to 'complete' when it understands the choice.
    case 'menu-choice': return 'not-an-answer';
    case 'date-of-birth': return assessDob(content, context);
    case 'date-time': return assessDateTime(content, context);
    case 'phone-number': return assessPhone(content);
    case 'digits': return assessDigits(content, expectation.length);
    case 'person-name': return assessName(content);
    case 'medication': return assessMedication(content);
    case 'free-text': return content.length >= 3 ? 'complete' : 'incomplete';
  }
}

function onlyLeads(content: readonly string[], leads: ReadonlySet<string>): boolean {
  return content.every((token) => leads.has(token));
}

/** The last spoken number group may still grow: "... twenty" (+ "three"), "five hundred" (+ "twelve"). */
function lastGroupMayGrow(content: readonly string[]): boolean {
  const last = content[content.length - 1]!;
  return TENS_WORDS.has(last) || SCALE_WORDS.has(last);
}

function assessPhone(content: readonly string[]): AnswerState {
  const digits = spokenDigits(content.join(' '));
  if (digits.length === 0) return onlyLeads(content, PHONE_LEADS) ? 'incomplete' : 'not-an-answer';
  // Ten digits, or eleven with the country code 1 (a US area code never starts with 1, so ten starting with 1
  // is a country code and nine digits).
  const complete = digits.length === 10 ? !digits.startsWith('1') : digits.length === 11 && digits.startsWith('1');
  if (complete) return lastGroupMayGrow(content) ? 'incomplete' : 'complete';
  return digits.length < 11 ? 'incomplete' : 'not-an-answer';
}

function assessDigits(content: readonly string[], length: number): AnswerState {
  const digits = spokenDigits(content.join(' '));
  if (digits.length === 0) return onlyLeads(content, DIGITS_LEADS) ? 'incomplete' : 'not-an-answer';
  if (digits.length < length) return 'incomplete';
  if (digits.length > length) return 'not-an-answer';
  return lastGroupMayGrow(content) ? 'incomplete' : 'complete';
}

/**
 * A date of birth is complete only when its year cannot go on: "nineteen eighty" is 1980 but may become
 * "nineteen eighty five", "two thousand" may become "two thousand and five", "nineteen" alone is the start of a
 * year (though parseDob reads it as 2019). Ending the turn early there files a wrong date; holding it open only
 * costs the longer wait.
 */
function assessDob(content: readonly string[], context: AssessContext): AnswerState {
  const text = content.join(' ');
  const atoms = mergeLeadingZeros(numberAtoms(content));
  const monthAt = content.findIndex((token) => MONTH_WORDS.has(token));
  if (parseDob(text, context.today) !== undefined) {
    if (lastGroupMayGrow(content)) return 'incomplete';
    // A year of one digit ("oh one one five" read as 2005) or a bare century is still being said.
    const year = spokenYear(atoms, monthAt);
    return year.length < 2 || year === '19' || year === '20' ? 'incomplete' : 'complete';
  }
  // Words that are neither numbers, months nor the usual lead-in ("my date of birth is"): something else.
  const numberTokens = new Set<number>();
  for (const atom of atoms) for (let i = atom.start; i < atom.end; i++) numberTokens.add(i);
  const foreign = content.some((token, i) => !numberTokens.has(i) && !MONTH_WORDS.has(token) && !DOB_LEADS.has(token) && !ORDINAL_WORDS.has(token));
  if (foreign) return 'not-an-answer';
  if (monthAt >= 0) {
    const numbers = atoms.filter((atom) => atom.end <= monthAt || atom.start > monthAt);
    // Month alone, month and day, or a year spoken digit by digit and not yet four digits.
    if (numbers.length <= 1) return 'incomplete';
    const yearAtoms = numbers.slice(1);
    if (yearAtoms.length < 4 && yearAtoms.every((atom) => atom.digits === 1)) return 'incomplete';
    // A whole date that is not a possible date of birth ("february thirtieth nineteen eighty").
    return 'not-an-answer';
  }
  if (atoms.length === 0) return 'incomplete';
  // Keypad style or grouped numbers on the way to MM DD YYYY ("oh one", "one fifteen", "0 1 1 5 1 9 8").
  const digitCount = atoms.reduce((sum, atom) => sum + Math.max(atom.digits, String(atom.value).length), 0);
  return digitCount < 8 ? 'incomplete' : 'not-an-answer';
}

/** The year as spoken ("19", "1985", "85"), found the way parseDob splits month, day and year. */
function spokenYear(atoms: readonly NumberAtom[], monthAt: number): string {
  const asText = (list: readonly NumberAtom[]) => list.map((atom) => String(atom.value).padStart(atom.digits, '0')).join('');
  if (monthAt >= 0) return asText(atoms.filter((atom) => atom.end <= monthAt || atom.start > monthAt).slice(1));
  const all = asText(atoms);
  if (isKeypadStyleRun(atoms) && (all.length === 8 || all.length === 6)) return all.slice(4);
  return asText(atoms.slice(2));
}

function assessDateTime(content: readonly string[], context: AssessContext): AnswerState {
  // "in march", "the fifth of": a month with no day yet; the day usually follows.
  const last = content[content.length - 1]!;
  if (MONTH_WORDS.has(last) && last !== 'may' && !content.some((token) => ORDINAL_WORDS.has(token) || ORDINAL_NUMERAL.test(token))) {
    return 'incomplete';
  }
  // Noon UTC on the clinic's date stands in for "now": only the calendar matters for completeness.
  const preference = parseSpokenDate(content.join(' '), { now: new Date(`${context.today}T12:00:00Z`), timeZone: 'UTC' });
  return preference ? 'complete' : 'not-an-answer';
}

function assessName(content: readonly string[]): AnswerState {
  let start = 0;
  // Leading "yes, my name is", "hi this is" (in any order, a few of them).
  for (let round = 0; round < 4; round++) {
    const lead = NAME_LEADS.find((words) => start + words.length <= content.length && words.every((word, k) => content[start + k] === word));
    if (!lead) break;
    start += lead.length;
  }
  let end = content.length;
  while (end > start && NAME_TRAILERS.has(content[end - 1]!)) end--;
  const words = content.slice(start, end);
  if (words.length === 0) return 'incomplete';
  // Spelling it out, letter by letter.
  if (words.every((word) => word.length === 1 && !DIGIT_ONLY.test(word))) return 'incomplete';
  if (words.some((word) => NOT_NAME_WORDS.has(word) || isNumberWord(word))) return 'not-an-answer';
  const nameWords = words.filter((word) => word.length > 1);
  if (nameWords.length === 1) return 'incomplete';
  if (nameWords.length > 4) return 'not-an-answer';
  return parseName(content.join(' ')) ? 'complete' : 'not-an-answer';
}

function assessMedication(content: readonly string[]): AnswerState {
  const named = content.filter((token) => !MEDICATION_LEADS.has(token) && !UNSURE_WORDS.has(token));
  if (named.length > 0) return 'complete';
  return UNSURE.test(content.join(' ')) ? 'not-an-answer' : 'incomplete';
}
