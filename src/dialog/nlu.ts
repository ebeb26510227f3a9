/**
 * Rule-based understanding of ASR text (lower case, no punctuation, recognition errors). Each rule is a
 * readable regular expression in a table; add a phrase by adding it to the table.
 */
import { numberAtoms, tokenize } from './numbers.js';

export type Intent =
  | 'book' | 'list' | 'reschedule' | 'cancel' | 'refill' | 'message' | 'hours' | 'address' | 'directions'
  | 'operator' | 'repeat' | 'help' | 'back' | 'goodbye' | 'main-menu';

/** A rule pattern from readable alternatives, each matched as whole words. */
function anyOf(...alternatives: readonly string[]): RegExp {
  return new RegExp(`\\b(?:${alternatives.join('|')})\\b`);
}

type Rule = { intent: Intent; pattern: RegExp };

/**
 * Ordered: the first matching rule wins, so specific phrasings come before general ones. The patterns read
 * `canonical(text)`: contractions spelled out ("can't", "cant" -> "cannot"; "i'm" -> "i am") and common
 * misrecognitions mended ("a point meant" -> "appointment"), so each rule says a phrase once.
 */
const NAVIGATION_RULES: readonly Rule[] = [
  { intent: 'operator', pattern: anyOf(
    'operator', 'representative', 'receptionist', 'front desk', 'reception', 'agent', 'human( being)?',
    '(real|live|actual) (person|human)', 'transfer me', 'put me through', 'connect me',
    '(talk|speak|speaking) (to|with) (a |an |the )?(person|someone|somebody|staff|staff member|nurse|doctor|anyone|anybody)',
    '(a person|someone|somebody|anyone) i can (talk|speak) to',
    '(talk|speak|speaking) (to|with) (the )?(billing|scheduling|accounts|office manager|manager|someone in)',
    '(need|want|get) (a|an) (person|human)') },
  { intent: 'repeat', pattern: anyOf(
    'repeat(?! (prescription|script|medication|meds))', 'say (that|it) again', 'come again', 'pardon', 'what did you say',
    'did not (hear|catch) (that|you)', 'one more time') },
  { intent: 'help', pattern: /^(help|help me|what can i (say|do)|options|menu options|i do not know what to (say|do))$|\bwhat are (my|the) options\b/ },
  { intent: 'back', pattern: /\b(go back|back up|previous( menu| question)?|undo)\b|^back$/ },
  { intent: 'main-menu', pattern: anyOf('start over', 'main menu', 'start again', 'from the (top|beginning)') },
];

const CLINIC_INFO_RULES: readonly Rule[] = [
  { intent: 'hours', pattern: anyOf(
    '(your|the|opening|business|office|clinic|weekend|holiday|saturday|sunday) hours', 'hours (of operation|are you|today|on)',
    'what are (the|your)( \\w+)? hours', '^hours$', 'until what time', 'what days (are|do) you',
    '(what time|when|until when|till when) (do|does|will|are) (you|the \\w+)( guys)? (open|close|shut)',
    '(are|is) (you|the (clinic|office|practice)|it)( guys)? (open|closed)', 'how (late|early) (are|do|does) (you|the \\w+)',
    'open (on|over|late|early|today|tomorrow|tonight|right now|weekends|saturdays?|sundays?)') },
  { intent: 'directions', pattern: anyOf(
    'directions?', 'how (do|can|would|should) (i|we) (get|find|reach|go)', 'best way to (get|go)', 'how far',
    'get (there|to you|to the (clinic|office|building))', '(where|can) (do|can|should|i|we) (i |we )?park', 'park (at|in|on|there)', 'parking', 'entrance',
    'find (you|the (clinic|office|building|place))', 'which (door|floor)', 'what (bus|train|floor)', 'by (bus|train|subway)', '(bus|train|subway|metro) (stop|station|line)',
    '(closest|nearest) (bus|train|subway|station|stop|parking)',
    'i am lost') },
  { intent: 'address', pattern: anyOf(
    '(?<!\\b(my|our|his|her|new|billing|email) )address', 'where (are|is) (you|(the|your) (clinic|office|practice|building))', 'where you are',
    '(your|the|what|which) location', 'located', 'street', 'zip ?code', 'postcode', 'what (city|town|area|neighborhood|part of town)') },
];

const TASK_RULES: readonly Rule[] = [
  // A call back or a message for staff, whatever it is about ("call me about my refill").
  { intent: 'message', pattern: anyOf(
    '(call|ring|phone) (me|us)( back)?', 'call ?back', 'give (me|us) a (call|ring|buzz)', 'get back to (me|us)',
    'leave (a|an) (message|note|voicemail)', 'take a message', 'pass (on )?a message', '(send|leave) a message',
    'message for', 'let (the |my )?(doctor|nurse)( \\w+)? know', 'tell (the |my )?(doctor|nurse)( \\w+)? (i|that)',
    '(a|the) call from (the|my|a|your) (nurse|doctor|office|clinic)', 'waiting (for|on) a call',
    'returning (a|your|the doctor|the nurse) ?call') },
  // What the clinic answers by calling back: results, and questions for the doctor or nurse (not about an appointment).
  { intent: 'message', pattern: anyOf(
    'questions? for', 'ask (the|a|my) (nurse|doctor|provider)', 'speak to (a |the )?nurse', 'talk to my doctor',
    'results?', '(labs?|tests?|blood work|lab work) (are |is |came |come )?back', 'questions? (about|regarding|on) (?!(my|the|our|his|her) (\\w+ )?(appointment|visit|booking))') },
  // Medication: the words for it, and running out of something the caller takes.
  { intent: 'refill', pattern: anyOf(
    'refill\\w*', 'prescri\\w*', 'script', 'renew\\w*', 'pharmac(y|ies)', 'medications?', 'medicines?', 'meds', 'pills',
    'inhaler', 'insulin', 'birth control', 'antidepressants?', 'blood thinners?', 'epipen',
    '(more|run|ran|running|almost|low) (out )?(of|on) (my|his|her|the)', 'out of (my|his|her) \\w+', 'out of insulin',
    'down to (my|his|her) last', 'call in (my|his|her|a|the)', 'called in', '(ran|run|running) (out|low)',
    '(almost|nearly|all) (gone|finished|used up)') },
  // Moving an appointment: the verbs, a different day or time, or one day in place of another.
  { intent: 'reschedule', pattern: anyOf(
    're ?schedul\\w*', 're ?book\\w*', 'postpone\\w*', 'rearrange\\w*',
    '(move|moving|change|changing|switch|swap|bump|shift|push)( \\w+){0,3}? (appointment|visit|booking|it|time|date|day|checkup|check up|physical|follow up|back|forward)',
    '(different|another|new|other|later|earlier) (day|time|date|slot|one)',
    '(later|earlier) (in the (week|day|month|morning|afternoon)|that day|the same day|today|tonight|this (week|morning|afternoon))',
    'instead', 'rather than', '(earlier|later|sooner) than', '(make|do|have) it( a bit| a little)? (later|earlier|sooner)') },
  // Not coming: cancelling outright, or saying the caller cannot make it.
  { intent: 'cancel', pattern: anyOf(
    'cancel\\w*', 'call(ing)? off',
    '(cannot|could not|will not|not going to|not able to|unable to|not be able to)( be able to)? (make|come|attend|be there|be in)',
    'not (be )?(coming|attending)', 'will not be there',
    '(no longer|do not|does not|will not|not) (be )?need(ing)? (the|my|our|this|that|his|her) (\\w+ )?(appointment|visit)', '(no longer|do not) need to (come|be seen)',
    '(drop|scratch|remove|delete|get rid of) (my|the|that|this|our|his|her) (\\w+ )?(appointment|visit|booking|checkup|one)',
    'take (me|us|him|her) off (the|your) (schedule|books|list|calendar)') },
  // Asking when, or whether, the caller is booked.
  { intent: 'list', pattern: anyOf(
    '(when|what time|what day|what date|which day|which date|which doctor|who) (is|was|are|am|will|should|do|did) (my|i)',
    '(when|what time|what day|what date) (my|our|his|her) (\\w+ )?(appointment|visit|booking|follow up|physical|checkup)',
    'the (date|time|day) of (my|our|his|her) (\\w+ )?(appointment|visit|booking|follow up|physical|checkup)',
    'do i (still )?have (an?|any|anything|something)', 'have i got (an?|any|anything)', '(what|which|how many) (appointments|visits|bookings)',
    'am i (booked|scheduled|down|on the (books|schedule|list)|in for)', '(have|got) me (down|booked|scheduled|in)',
    'on the (books|schedule|calendar) for me', 'reminder', 'is (my|the) (\\w+ )?(appointment|visit) still',
    '(forgot|forget|remember|lost track of|not sure|unsure) (when|what time|what day|which (day|time|date)|the (day|time|date))',
    '(confirm\\w*|verify|double check|check|checking|look up|pull up|remind me|read( me)?|tell me|hear)\\b.*\\b(appointments?|visits?|booking|booked|scheduled|when|what time)') },
  // A new appointment: asked for, a provider to see, a time to come in, or a service that needs a visit.
  { intent: 'book', pattern: anyOf(
    '(book|schedule|make|set up|arrange|need|want|like|get|request|looking for)( \\w+){0,3}? (an?|new|another) (\\w+ ){0,2}(appointment|visit|booking)',
    '(book|schedule) (me|us|him|her|my|an?|in|it|for|something)', '(to|can i|could i|can you|please|i will) (book|schedule)',
    '(see|seeing) (a|the|my|doctor|someone|somebody|anyone|anybody)', 'be seen',
    '(get|have) ((it|this|that|them|him|her|me|my \\w+) )?(looked at|checked( out)?|seen)',
    '(get|fit|squeeze|put|book|bring) ((me|us|him|her|them|my \\w+) )?in', 'come in',
    'do you have (any )?(time|room|space|anything|something)( open| free)? (for|on|this|next|today|tomorrow)',
    'openings?', 'availab\\w*', 'slots?', '(anything|something) (open|free)', 'earliest',
    '(doctor|nurse|practitioner|anyone|someone|somebody)( \\w+)? (free|available)',
    'physicals?', 'check ?ups?', 'annual (exam|physical|visit|check)', 'exam', '(flu|tetanus|covid|booster) (shot|jab|vaccine)',
    'shots', 'vaccin\\w*', 'immuni[sz]\\w*', 'well (child|baby|woman) (visit|check)', 'follow up', 'blood pressure check',
    'new patient', 'sick visit', 'pap( smear)?', 'mammogram', 'screening', 'blood (work|test|tests|drawn|draw)', 'lab work', 'labs',
    '(get|need|have|do) (\\w+ ){0,2}tests?', 'get tested') },
  { intent: 'goodbye', pattern: anyOf(
    'bye', 'goodbye', 'that is (all|it|everything)', 'that will be all', 'nothing (else|more)', 'i am (all )?(set|done|good)',
    'no thanks?( you)?', 'hang up', 'have a (good|nice|great) (day|one|afternoon|evening)',
    '(do not|does not) need anything (else|more)', 'i am (fine|ok|okay) (thanks|thank you)') },
];

/** Used only when nothing clearer matched and the caller does not point at an appointment they already have. */
const FALLBACK_RULES: readonly Rule[] = [
  { intent: 'message', pattern: anyOf('questions?', 'message', 'referral', 'note for') },
  { intent: 'book', pattern: anyOf('appointments?', 'visit', 'doctor', 'sick') },
];

/** Every rule in the order readRequest tries them (navigation, clinic facts, tasks, fallbacks). */
export const INTENT_RULES: ReadonlyArray<{ intent: Intent; pattern: RegExp }> = [
  ...NAVIGATION_RULES, ...CLINIC_INFO_RULES, ...TASK_RULES, ...FALLBACK_RULES,
];

/** An appointment the caller already has ("my appointment", "i have an appointment on friday"). */
const EXISTING_APPOINTMENT = /\b(appointment|visit|booking) (that )?(i|we|he|she) (have|had|has|made|booked)\b|\b(my|our|his|her|their|the|this|that) (\w+ )?(upcoming |next |scheduled )?(appointment|visit|booking)s?\b|\b(i|we|he|she) (have|had|has|got|booked|made) (an?|one) (\w+ )?(appointment|visit)\b/;

/** Task intents: the ones a caller can ask for two of at once ("a refill and a checkup"). */
const TASKS: ReadonlySet<Intent> = new Set(['book', 'list', 'reschedule', 'cancel', 'refill', 'message']);

export type RequestReading =
  | { kind: 'emergency'; emergency: EmergencyKind }
  | { kind: 'intent'; intent: Intent }
  | { kind: 'ambiguous'; between: readonly Intent[] }  // 2-3 candidate intents, most likely first
  | { kind: 'none' };

const firstMatch = (rules: readonly Rule[], text: string): Intent | undefined =>
  rules.find((rule) => rule.pattern.test(text))?.intent;

/**
 * What a caller's request is: an emergency first (whatever else they say), then a task or a clinic question.
 * Two different tasks joined by "and" (or an existing appointment with nothing said about it) are 'ambiguous',
 * so the caller is asked which they mean instead of being sent down one guess.
 */
export function readRequest(text: string): RequestReading {
  const emergency = detectEmergency(text);
  if (emergency) return { kind: 'emergency', emergency };
  const words = canonical(text);
  if (!words) return { kind: 'none' };
  const direct = firstMatch(NAVIGATION_RULES, words) ?? firstMatch(CLINIC_INFO_RULES, words);
  if (direct) return { kind: 'intent', intent: direct };
  const clauses = words.split(/\b(?:and also|and then|and|also|plus)\b/).map((clause) => clause.trim());
  const tasks = [...new Set(clauses.map((clause) => firstMatch(TASK_RULES, clause)).filter((intent): intent is Intent => intent !== undefined))];
  const combined = combineTasks(tasks, words);
  if (combined) return combined;
  if (EXISTING_APPOINTMENT.test(words)) return { kind: 'ambiguous', between: ['list', 'reschedule', 'cancel'] };
  const fallback = firstMatch(FALLBACK_RULES, words);
  return fallback ? { kind: 'intent', intent: fallback } : { kind: 'none' };
}

/** One reading from the tasks found clause by clause: some pairs are one request ("cancel and rebook" is a move). */
function combineTasks(found: readonly Intent[], words: string): RequestReading | undefined {
  let tasks = found.filter((intent) => intent !== 'goodbye' || found.length === 1);
  if (tasks.length === 0) return undefined;
  if (tasks.includes('cancel') && (tasks.includes('book') || tasks.includes('reschedule'))) tasks = ['reschedule', ...tasks.filter((t) => t !== 'cancel' && t !== 'book' && t !== 'reschedule')];
  // Looking an appointment up before acting on it is part of the same request.
  if (tasks.includes('list') && tasks.some((t) => t === 'reschedule' || t === 'cancel')) tasks = tasks.filter((t) => t !== 'list');
  if (tasks.length === 1) return { kind: 'intent', intent: tasks[0]! };
  const real = tasks.filter((t) => TASKS.has(t));
  if (real.length < 2) return { kind: 'intent', intent: firstMatch(TASK_RULES, words) ?? tasks[0]! };
  return { kind: 'ambiguous', between: real.slice(0, 3) };
}

export function detectIntent(text: string): Intent | undefined {
  const reading = readRequest(text);
  return reading.kind === 'intent' ? reading.intent : undefined;
}

/** The global commands that work in every state. */
export type GlobalCommand = 'operator' | 'repeat' | 'help' | 'back' | 'main-menu';

export function detectGlobalCommand(text: string): GlobalCommand | undefined {
  const words = canonical(text);
  for (const rule of INTENT_RULES) {
    if (rule.pattern.test(words)) {
      return ['operator', 'repeat', 'help', 'back', 'main-menu'].includes(rule.intent) ? rule.intent as GlobalCommand : undefined;
    }
  }
  return undefined;
}

export type EmergencyKind = 'medical' | 'crisis';

const SELF = '(myself|himself|herself|themselves|themself)';
/** Suicidal or self-harm intent, said outright or around the edges ("i don't want to be here anymore"). */
const CRISIS = anyOf(
  'suicid\\w*', 'self harm\\w*',
  `(kill|killing|killed|shoot|shooting|hang|hanging|harm|harming|poison|poisoning|drown|drowning|hurting|cutting|burning) ${SELF}`,
  // "i hurt myself playing soccer" is an injury; wanting to, or doing it over and over, is self-harm.
  `(going to|want to|wants to|wanted to|will|might|plan to|planning to|thinking (about|of)|urge to|afraid i will|scared i will|keep|kept) (hurt|hurting|cut|cutting|stab|stabbing|burn|burning) ${SELF}`,
  `(hurt|cut|burn|stab|stabbed|burned|burnt) ${SELF} (on purpose|deliberately)`,
  '(end|ending|take|taking) (my|his|her|their) (own )?life', '(end|ending) (it all|everything)',
  '(going to|want to|wants to|should|will|plan to|planning to|ready to|decided to|thinking (about|of)|feel like) (just )?(end|ending) (it|things)',
  '(want|wants|wanted|wanting) to die', '(wish|wished) (i|he|she) (was|were) dead', 'better off (dead|without me)',
  '(do not|does not|not) (really )?want to (be alive|live|be around|wake up|go on|exist)',
  '(do not|does not|not) (really )?want to be here(?! (at|for|on|early|all|too|when|that|long|before|in|by|until|till|with))',
  'never wake up', '(want|wish|need) (it all|everything|my life|all of it|life) to (be over|end|stop)',
  '(no|not any) (point|reason)( \\w+){0,3} (to )?(live|living|go on|going on|be alive|being alive)', 'not worth living',
  // "i can't go on tuesday" is a scheduling problem; "i can't go on (like this|anymore)" is not.
  '((cannot|can not)|(do not|not) think i can) (go on|keep going|carry on)(?= (like this|anymore|any longer|living)|$)',
  '(think|thinking|thought|thoughts) (about|of) (not waking up|dying|death|ending (it|my life)|killing|suicide|not being (here|alive))',
  'if i (was|were) (dead|gone|not here|not around)',
  '(do not|not) see the point (of|in) (going on|living|life)', '(nobody|no one) would (miss|care about) me',
  'jump (off|from) (a|the) (bridge|building|roof)', 'suicide (note|letter)s?', 'goodbye (note|letter)s?', 'done with (life|living)',
  'to end (it|it all|my life|things)(?! (here|now|there|for now))', '(saved|saving|stockpil\\w*|hoard\\w*) (up )?(pills|meds|medication|tablets)',
  '(pills|meds|tablets) saved up',
  'overdose on purpose', '(going|want|wants|plan|planning) to overdose', 'i (took|have taken|just took) an overdose', 'i overdosed',
  '(take|taking) all (of )?(my|his|her) (pills|tablets|meds|medication)',
  '(going|want|wants|plan|planning|thinking of|thinking about) (to )?(take|taking|swallow|swallowing) (a bunch|a lot|lots|a handful|too many|the whole bottle) of');

const KIN = '(he|she|they|baby|child|kid|son|daughter|husband|wife|mom|mother|dad|father|grandma|grandpa|brother|sister|friend|partner)';
/** Signs that need 911 now. Read with the qualifiers below ("no chest pain", "had a stroke last year"). */
const MEDICAL = anyOf(
  // heart
  'chest (pain|pains|hurts|hurting|pressure|tightness|is (\\w+ )?tight|feels (\\w+ )?(tight|heavy))', 'chess pain',
  '(pain|pressure|tightness) (in|on) (my|his|her) chest', 'clutching (my|his|her) chest', 'crushing (pain|pressure|chest)',
  'heart attack', 'cardiac arrest',
  // breathing, choking, swelling
  '(cannot|could not|can barely|unable to|struggling to|hard to|trouble|difficulty|having a hard time) (\\w+ )?(breath\\w*|catch (my|his|her|their) breath|get (any )?air)',
  '(not|stopped) breathing', 'gasping', 'short(ness)? of breath', 'turning (blue|purple|grey|gray)', '(going|turning) blue', 'choking',
  'throat (is )?(closing|swelling|swollen)', '(tongue|lips|face|throat|mouth) (\\w+ ){0,2}(swelling|swollen|swelled)',
  'anaphyla\\w*', 'allergic reaction',
  // stroke
  'stroke', 'droop\\w*', 'slurr\\w*', 'cannot (lift|move|feel) (my|his|her) (\\w+ )?(arms?|legs?|face|side|body|hands?)',
  '(left|right|one) side of (my|his|her) (body|face)', '(weak\\w*|numb\\w*|paralyz\\w*) (on|in|down) (one|the (left|right)) side',
  'sudden (weakness|numbness)', 'cannot (speak|talk)( properly| clearly| at all| anymore)(?! to| with)', '(he|she) (suddenly )?cannot (speak|talk)$',
  // consciousness, injury
  'collaps\\w*', 'unconscious', 'unresponsive', 'not (responding|responsive|conscious)', 'passed out', 'fainted', 'blacked out',
  // "i can't wake up that early" is about the time of day; someone else not waking up is not.
  '(?<!\\bi )(will not|cannot|is not|does not|would not|not) (wake|waking) up', 'cannot wake (him|her|them)',
  `${KIN} (is |are )?not moving`, 'lifeless', 'no pulse', '(i am|he is|she is) dying(?! to)',
  'hit (his|her|my|their) head( \\w+){0,6} (throwing up|vomiting|confused|unconscious|passed out)',
  '(car|bad|serious) (accident|crash|wreck)', 'been in an accident', '(hit|struck|run over) by a (car|truck|bus)',
  // seizure
  'seiz\\w*', 'convuls\\w*', 'having a fit',
  // bleeding
  'bleeding (\\w+ ){0,2}(a lot|badly|bad|heavily|profusely|everywhere|non stop)', 'bleeding (and )?(it )?(will not|does not|is not going to) stop',
  '(will not|cannot|does not|not) stop bleeding', 'blood everywhere', 'lot of blood', 'losing (a lot of )?blood', 'severe bleeding',
  'bleeding out', 'hemorrhag\\w*',
  // overdose, help now (a bare "911" may be part of a phone number)
  'overdos\\w*', '(this is|it is|i have|we have|there is|having) an? (medical )?emergency', 'medical emergency', 'ambulance',
  '(call|calling|called|dial|dialing|need|get) (9 1 1|911|nine one one)');

// Swallowed too much of something (an overdose or a poisoning, often a child's): poison control and 911 at once.
const TAKEN = '(took|taken|take|taking|swallowed|ate|eaten|had|drank|got into)';
const TOO_MUCH = '((whole|entire|full) (\\w+ )?(bottle|pack|packet|box|container|prescription|supply) of|bottle of|handful of|(a bunch|lots|a lot|loads) of|too many( of)?|too much( of)?|all (of )?(my|his|her|their|the))';
const INGESTION = anyOf(
  `${TAKEN}( \\w+){0,2}? ${TOO_MUCH} (\\w+ ){0,3}(pills|tablets|capsules|meds|medicine|medications?|oxycodone|opioids|painkillers|vitamins|gummies)`,
  '(?<!food )poison(?! (ivy|oak|sumac))\\w*',
  '(swallowed|drank|drunk|ate) (some |a |the )?(bleach|detergent|cleaner|battery|batteries|antifreeze|chemicals?|pills|tablets)');

/** "no chest pain", "i am not suicidal", "not having any trouble breathing": the words are denied (but "no, he is not breathing" is not). */
const NEGATED = /\b(no|not|never|without|denies|do not have|does not have|is not|am not|not having|nor)( (any|a|an|the|really|actually|having|have|feeling|experiencing|been|ever|currently))* $/;
/** "had a stroke last year", "history of seizures": a past event, not one happening now. */
const IN_THE_PAST_BEFORE = /\b((?<!just )had|has had|have had|history of|after|since|died (of|from))( (a|an|his|her|my|some|the|mild|minor|small))? $/;
const IN_THE_PAST_AFTER = /^ (\w+ )?(last (year|month|week|summer|winter|spring|fall|autumn|time)|(years?|months?|weeks?) ago|a while (back|ago)|in the past|as a (child|kid|baby)|in (january|february|march|april|may|june|july|august|september|october|november|december))\b/;
/** "had a stroke this morning": recent enough to need help now, even though said in the past tense. */
const RECENT_AFTER = /^ (\w+ ){0,2}(minutes? ago|an hour ago|(a )?few hours ago|this (morning|afternoon|evening)|today|tonight|earlier|just now)\b/;
/** "seizure medication", "stroke risk", "pills for chest pain": the words name a condition the request is about. */
const ABOUT_A_CONDITION_AFTER = /^ ((?!(my|his|her|and|the|so|but|i|he|she|now|please|help)\b)\w+ )?(medications?|meds|medicine|pills|tablets|drugs?|prescriptions?|x ray|results?|tests?|scan|follow up|appointment|check ?up|specialist|history|monitor|condition|problems?|risk|prevention|screening|rehab\w*|recovery|survivors?)\b/;
const ABOUT_A_CONDITION_BEFORE = /\b(medications?|medicine|meds|pills|tablets|spray|inhaler|prescriptions?|refill|nitro\w*|treatment|specialist|\w+ologist|follow up|rehab\w*|recovery|check ?up)( \w+){0,3} (for|to treat|that treats|about|after|from) (\w+ ){0,2}$/;

/**
 * Whether the pattern matches somewhere that is not denied; with `condition`, also not a past event or a
 * condition named as the topic. Crisis words and swallowed things are never discounted as past or as a topic:
 * "thoughts of suicide last night" and "swallowed a battery last night" still need help now.
 */
function liveMatch(pattern: RegExp, words: string, condition: boolean): boolean {
  const global = new RegExp(pattern.source, 'g');
  for (let match = global.exec(words); match; match = global.exec(words)) {
    if (match[0].length === 0) { global.lastIndex++; continue; }
    const before = words.slice(0, match.index);
    const after = words.slice(match.index + match[0].length);
    if (NEGATED.test(before)) continue;
    if (condition && !RECENT_AFTER.test(after) && (IN_THE_PAST_BEFORE.test(before) || IN_THE_PAST_AFTER.test(after))) continue;
    if (condition && (ABOUT_A_CONDITION_AFTER.test(after) || ABOUT_A_CONDITION_BEFORE.test(before))) continue;
    return true;
  }
  return false;
}

/** Emergency words anywhere in the text ("chest pain", "can't breathe", "suicidal", ...). Negations and past events are respected. */
export function detectEmergency(text: string): EmergencyKind | undefined {
  const words = canonical(text);
  if (liveMatch(CRISIS, words, false)) return 'crisis';
  if (liveMatch(MEDICAL, words, true) || liveMatch(INGESTION, words, false)) return 'medical';
  return undefined;
}

const YES = /^(yes|yeah|yea|yep|yup|ya|yah|sure|correct|right|that ?s right|that ?s correct|thats right|that is correct|ok|okay|alright|all right|please|please do|go ahead|do it|book it|absolutely|definitely|of course|sounds good|that works|perfect|affirmative|uh huh|mm hmm|i do|it is|that ?s me|it ?s me|yes please|confirm|confirmed|true|i guess( so)?|i think so|i believe so|that ?s fine|that is fine|fine|that ?d be (great|good|perfect|fine)|that would be (great|good|perfect|fine)|great)\b/;
const NO = /^((absolutely|definitely|certainly|of course) not|no|nope|nah|not really|negative|wrong|incorrect|that ?s wrong|that ?s not right|that ?s incorrect|that is (wrong|incorrect|not right)|don ?t|do not|not that|neither|none|nothing|no thanks|no thank you|never mind|nevermind|not now|not quite|not at all|i don ?t|it ?s not|that ?s not)\b/;
const UNSURE = /\b(not sure|not certain|don ?t know|don ?t remember|dunno|maybe|possibly|perhaps)\b|^(wait|hold on|one (second|sec|moment|minute)|just a (second|sec|moment|minute)|let me (check|see|think))\b/;
/** Sounds and words a reply may start with before its yes or no ("uh yeah", "mm no", "actually no"). */
const LEADING_FILLER = /^((uh|um|er|erm|oh|ah|well|hmm|mm|so|actually)\s+(?!huh|hmm))+/;

/** yes / no variants at the start of the reply ("yeah that's right", "no, tuesday"). */
export function parseYesNo(text: string): 'yes' | 'no' | undefined {
  const normalized = normalize(text).replace(LEADING_FILLER, '');
  if (UNSURE.test(normalized)) return undefined;
  if (NO.test(normalized)) return 'no';
  if (YES.test(normalized)) return 'yes';
  return undefined;
}

/** The rest of a reply after a leading yes/no ("no, tuesday" -> "tuesday"), for corrections. */
export function afterYesNo(text: string): string {
  const normalized = normalize(text).replace(LEADING_FILLER, '');
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


/** Recognizer slips and spellings that mean one thing, mended before the rules read the text. */
const MISHEARD: ReadonlyArray<[RegExp, string]> = [
  [/\b(a point meant|a pointment|apointment|appoint ment|appoint mint|apartment|appt)(s?)\b/g, 'appointment$2'],
  [/\b(docter|doctr|docta|dr)\b/g, 'doctor'],
  [/\b(perscription|prescripshun|subscription)(s?)\b/g, 'prescription$2'],
  [/\bre fil(l?)(\w*)/g, 'refill$2'],
  [/\brefil\b/g, 'refill'],
  [/\bre ?schedual\w*/g, 'reschedule'],
  [/\bcancle\w*/g, 'cancel'],
];
/** Contractions, with or without the apostrophe the recognizer may have dropped ("cant", "can t"). */
const CONTRACTIONS: ReadonlyArray<[RegExp, string]> = [
  [/\b(can ?t|can not)\b/g, 'cannot'], [/\bwon ?t\b/g, 'will not'],
  [/\b(do|does|did|is|are|was|were|could|would|should|has|have|had|need|must)n ?t\b/g, '$1 not'],
  [/\bi ?m\b/g, 'i am'], [/\bi ?ve\b/g, 'i have'], [/\bi ?d\b/g, 'i would'], [/\bi ll\b/g, 'i will'],
  [/\b(you|they) ?re\b/g, '$1 are'], [/\bwe re\b/g, 'we are'], [/\b(he|she|it|that|what|there|where|when|who|how) ?s\b/g, '$1 is'],
  [/\bthat ?d\b/g, 'that would'], [/\blet s\b/g, 'let us'],
  [/\bgonna\b/g, 'going to'], [/\bwanna\b/g, 'want to'], [/\bgotta\b/g, 'got to'],
  [/ s\b/g, ''], // a possessive whose apostrophe became a space ("my son s visit")
];

/** normalize, then contractions spelled out and misrecognitions mended: the text the rule tables read. */
export function canonical(text: string): string {
  let words = normalize(text);
  for (const [pattern, replacement] of [...MISHEARD, ...CONTRACTIONS]) words = words.replace(pattern, replacement);
  return words.replace(/\s+/g, ' ').trim();
}
