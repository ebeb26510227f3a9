/**
 * Rule-based understanding of ASR text (lower case, no punctuation, recognition errors). Each rule is a
 * readable regular expression in a table; add a phrase by adding it to the table.
 */
import { numberAtoms, tokenize } from './numbers.js';

export type Intent =
  | 'book' | 'list' | 'reschedule' | 'cancel' | 'refill' | 'message' | 'hours' | 'address' | 'directions'
  | 'operator' | 'repeat' | 'help' | 'back' | 'goodbye' | 'main-menu';

/** Ordered: the first matching rule wins, so specific phrasings come before general ones. */
export const INTENT_RULES: ReadonlyArray<{ intent: Intent; pattern: RegExp }> = [
  { intent: 'message', pattern: /\b(call me back|callback|call back|leave a (message|note)|message for|take a message|(ring|phone|call) me( back)?|get back to me)\b/ },
  { intent: 'operator', pattern: /\b(operator|representative|receptionist|front desk|real person|live person|human|agent|transfer me|connect me|(talk|speak|speaking) (to|with) (a |an |the )?(person|someone|somebody|staff|staff member|nurse|doctor|anyone|anybody))\b/ },
  { intent: 'repeat', pattern: /\b(repeat|say (that|it) again|come again|pardon|what did you say|didn ?t (hear|catch) (that|you)|one more time)\b/ },
  { intent: 'help', pattern: /^(help|help me|what can i (say|do)|options|menu options|i don ?t know what to (say|do))$|\bwhat are (my|the) options\b/ },
  { intent: 'back', pattern: /\b(go back|back up|previous( menu| question)?|undo)\b|^back$/ },
  { intent: 'main-menu', pattern: /\b(start over|main menu|start again|from the (top|beginning))\b/ },
  { intent: 'reschedule', pattern: /\b(re ?schedul\w*|move|change|push back|switch|different (day|time))\b.*\b(appointment|visit|booking|it|time|day)\b|\breschedul\w*/ },
  // "I'm not going to be able to come on Thursday": the caller cannot keep an appointment (not a new booking).
  { intent: 'cancel', pattern: /\b(cancel\w*|call off|can ?t make it|won ?t make it|not (be )?able to make it|(not|never) (going to|gonna) (be able to )?(come|make it|attend)|(not|won ?t) be able to (come|make it|attend)|unable to (come|make it|attend)|can ?t (come|attend) (to|in for) (my|the|our) (appointment|visit))\b/ },
  { intent: 'refill', pattern: /\b(refill|re fill|prescription|medication|medicine|meds|pharmacy|renew|(run|ran|running) (out|low)( of| on)?)\b/ },
  { intent: 'list', pattern: /\b(when is my|when ?s my|what time is my|do i have (an|any)|my (upcoming|next|scheduled) (appointment|visit)s?|check (on )?my appointment|confirm my appointment|list|hear my appointments?|what (appointments|visits) (have|do) i|(have i|do i have|i have) (got )?(anything|any (appointments?|visits?)|an appointment) (booked|scheduled|coming up|lined up)|am i booked)\b/ },
  { intent: 'book', pattern: /\b(book|schedule|make|set up|need|want|get|see|come in|appointment|visit|check ?up|physical|sick)\b.*\b(appointment|visit|doctor|check ?up|physical|in|seen|someone|provider)\b|\b(book|schedule|new appointment|make an appointment)\b/ },
  { intent: 'message', pattern: /\b(message|call me back|callback|call back|speak to (a |the )?nurse|question for|talk to my doctor|leave a note)\b/ },
  { intent: 'directions', pattern: /\b(directions?|how (do|can) i get|parking|park|find you|get there)\b/ },
  { intent: 'address', pattern: /\b(address|where are you|where is the (clinic|office)|location|located)\b/ },
  { intent: 'hours', pattern: /\b(hours|open|close|closing|opening)\b|\bwhat time do you\b/ },
  { intent: 'goodbye', pattern: /\b(bye|goodbye|that ?s all|that is all|that ?s it|nothing else|i ?m (all )?(set|done|good)|no thanks?( you)?|hang up)\b/ },
];

export function detectIntent(text: string): Intent | undefined {
  const normalized = normalize(text);
  if (!normalized) return undefined;
  for (const rule of INTENT_RULES) if (rule.pattern.test(normalized)) return rule.intent;
  return undefined;
}

/** The global commands that work in every state. */
export type GlobalCommand = 'operator' | 'repeat' | 'help' | 'back' | 'main-menu';

export function detectGlobalCommand(text: string): GlobalCommand | undefined {
  const normalized = normalize(text);
  for (const rule of INTENT_RULES) {
    if (rule.pattern.test(normalized)) {
      return ['operator', 'repeat', 'help', 'back', 'main-menu'].includes(rule.intent) ? rule.intent as GlobalCommand : undefined;
    }
  }
  return undefined;
}

export type EmergencyKind = 'medical' | 'crisis';

const CRISIS = /\b(suicid\w*|kill(ing)? myself|end (my|it all)|take my (own )?life|want to die|wanna die|hurt(ing)? myself|harm(ing)? myself|self harm|overdos\w*)\b/;
const MEDICAL = /\b(chest (pain|pains|hurts|pressure|tightness)|chess pain|heart attack|can ?t breathe?|cannot breathe?|can not breathe?|couldn ?t breathe?|trouble breathing|short(ness)? of breath|not breathing|stopped breathing|choking|stroke|face (is )?drooping|slurr\w* (speech|words)|unconscious|passed out|not responding|unresponsive|seizure|bleeding (a lot|badly|heavily|won ?t stop)|severe bleeding|anaphyla\w*|allergic reaction|throat (is )?closing|emergency|dying)\b/;
// Swallowed too much of something (an overdose or a poisoning, often a child's): poison control and 911 at once.
const INGESTION = /\b((whole|entire|full) (bottle|pack|packet|box|container) of|bottle of|handful of|too many( of)?|too much( of)?|all (of )?(my|his|her|their|the)) (\w+ ){0,3}(pills|tablets|capsules|meds|medicine|medication|medications)\b|\bpoison\w*\b|\b(swallowed|drank|drunk|ate) (some |a |the )?(bleach|detergent|cleaner|battery|batteries|antifreeze|chemicals?|pills|tablets)\b/;
const NEGATED = /\b(no|not|don ?t have|without|never had|isn ?t|not having)\s+(\w+\s+)?$/;

/** Emergency words anywhere in the text ("chest pain", "can't breathe", "suicidal", ...). Simple negations are respected. */
export function detectEmergency(text: string): EmergencyKind | undefined {
  const normalized = normalize(text);
  for (const [kind, pattern] of [['crisis', CRISIS], ['medical', MEDICAL], ['medical', INGESTION]] as const) {
    const match = pattern.exec(normalized);
    if (match && !NEGATED.test(normalized.slice(0, match.index))) return kind;
  }
  return undefined;
}

const YES = /^(yes|yeah|yea|yep|yup|ya|yah|sure|correct|right|that ?s right|that ?s correct|thats right|ok|okay|alright|all right|please|please do|go ahead|do it|book it|absolutely|definitely|of course|sounds good|that works|perfect|affirmative|uh huh|mm hmm|i do|it is|that ?s me|it ?s me|yes please|confirm|confirmed|true)\b/;
const NO = /^(no|nope|nah|not really|negative|wrong|incorrect|that ?s wrong|that ?s not right|don ?t|do not|not that|neither|none|nothing|no thanks|no thank you|never mind|nevermind|not now|i don ?t|it ?s not|that ?s not)\b/;
const UNSURE = /\b(not sure|don ?t know|dunno|maybe)\b/;

/** yes / no variants at the start of the reply ("yeah that's right", "no, tuesday"). */
export function parseYesNo(text: string): 'yes' | 'no' | undefined {
  const normalized = normalize(text).replace(/^(uh|um|er|oh|well|hmm)\s+(?!huh)/, '');
  if (UNSURE.test(normalized)) return undefined;
  if (NO.test(normalized)) return 'no';
  if (YES.test(normalized)) return 'yes';
  return undefined;
}

/** The rest of a reply after a leading yes/no ("no, tuesday" -> "tuesday"), for corrections. */
export function afterYesNo(text: string): string {
  const normalized = normalize(text).replace(/^(uh|um|er|oh|well|hmm)\s+(?!huh)/, '');
  const match = NO.exec(normalized) ?? YES.exec(normalized);
  const rest = match ? normalized.slice(match[0].length) : normalized;
  return rest.replace(/^\s*(i said|i meant|i mean|make it|rather|instead|actually|it ?s|how about|what about)\b/, '').trim();
}

const NAME_LEADS = /^(my name is|my name s|name is|the name is|it ?s|this is|i am|i ?m|im|it is|yes|yeah|sure|okay|ok|uh|um|its)\s+/;
const NOT_NAME = new Set(['the', 'a', 'and', 'my', 'is', 'name', 'patient', 'calling', 'for', 'about', 'please', 'speaking', 'here', 'hi', 'hello']);

/** "my name is jane doe" -> { first: 'jane', last: 'doe' }; needs at least two words. */
export function parseName(text: string): { first: string; last: string } | undefined {
  let normalized = normalize(text);
  for (let i = 0; i < 3; i++) normalized = normalized.replace(NAME_LEADS, '');
  normalized = normalized.replace(/\b(speaking|here|calling)\b.*$/, '').trim();
  const words = normalized.split(' ').filter((word) => word.length > 0 && !NOT_NAME.has(word) && /^[a-z][a-z-]*$/.test(word));
  if (words.length < 2 || words.length > 4) return undefined;
  return { first: words[0]!, last: words[words.length - 1]! };
}

const ORDINAL_PICKS: ReadonlyArray<[RegExp, number]> = [
  [/\b(first|1st|number one|option one|earliest)\b/, 0],
  [/\b(second|2nd|number two|option two|middle)\b/, 1],
  [/\b(third|3rd|number three|option three|last one|last)\b/, 2],
  [/\b(fourth|4th|number four|option four)\b/, 3],
  [/\b(fifth|5th|number five|option five)\b/, 4],
];

/** "the second one", "number two", "two" -> 1 (zero-based), when within `count`. */
export function parseOrdinalPick(text: string, count: number): number | undefined {
  const normalized = normalize(text);
  for (const [pattern, index] of ORDINAL_PICKS) {
    if (pattern.test(normalized)) return index === 2 && /\blast\b/.test(normalized) ? count - 1 : index < count ? index : undefined;
  }
  const atoms = numberAtoms(tokenize(normalized));
  if (atoms.length === 1 && tokenize(normalized).length <= 3 && atoms[0]!.value >= 1 && atoms[0]!.value <= count) return atoms[0]!.value - 1;
  return undefined;
}

export interface Named { id: string; words: string[] }

/** Which of the named things the text mentions (by any word), or undefined when none or ambiguous. */
export function matchNamed(text: string, items: readonly Named[]): string | undefined {
  const normalized = ` ${normalize(text)} `;
  const hits = items.filter((item) => item.words.some((word) => word.length > 1 && normalized.includes(` ${normalize(word)} `)));
  return hits.length === 1 ? hits[0]!.id : undefined;
}

export function isNoPreference(text: string): boolean {
  return /\b(any(one|body| one| provider| doctor)?|no preference|doesn ?t matter|don ?t care|whoever|either|first available|whichever|no one in particular|not really)\b/.test(normalize(text));
}

export function wantsOtherTimes(text: string): boolean {
  return /\b(none|neither|other (times|days|options)|something else|different (time|day)|later|earlier|another (time|day)|none of (those|them|these)|no good|doesn ?t work|don ?t work)\b/.test(normalize(text));
}

/** Lower case, apostrophes and punctuation to spaces ("can't" -> "can t", which the rules read as `can ?t`). */
export function normalize(text: string): string {
  return text.toLowerCase().replace(/[’']/g, ' ').replace(/[^a-z0-9 ]+/g, ' ').replace(/\s+/g, ' ').trim();
}

export type RequestReading =
  | { kind: 'emergency'; emergency: EmergencyKind }
  | { kind: 'intent'; intent: Intent }
  | { kind: 'ambiguous'; between: readonly Intent[] }
  | { kind: 'none' };

export function readRequest(text: string): RequestReading {
  const emergency = detectEmergency(text);
  if (emergency) return { kind: 'emergency', emergency };
  const intent = detectIntent(text);
  return intent ? { kind: 'intent', intent } : { kind: 'none' };
}
