/**
 * The main menu, "anything else?", and the clarifying question for a request that could mean two things.
 * `startIntent` is where every request begins, however it was made (speech, key, the language model).
 */
import { parseOrdinalPick, parseYesNo, readRequest, type Intent } from '../nlu.js';
import { defineNode, type Dialog } from '../engine/node.js';
import { applyBookingDetails, readBookingDetails } from './booking.js';
import { captureWhen, keypadMenu, listWords } from './common.js';
import { clinicInfo } from './info.js';

/** A request: an intent (with the words, for booking details said with it) or a choice to put to the caller. */
type Request = { intent: Intent; text: string; byKey?: boolean } | { between: readonly Intent[] };

/** What the caller asks for in their own words (pure); emergencies never get here (the engine saw them first). */
function readMenuRequest(text: string): Request | undefined {
  const reading = readRequest(text);
  if (reading.kind === 'intent') return { intent: reading.intent, text };
  if (reading.kind === 'ambiguous') return { between: reading.between };
  return undefined;
}

const MAIN_MENU_KEYS: Record<number, Intent> = { 1: 'book', 2: 'list', 3: 'reschedule', 4: 'cancel', 5: 'refill', 6: 'message', 7: 'hours' };

export async function startIntent(intent: Intent, text: string, d: Dialog, fromKeypad = false): Promise<void> {
  switch (intent) {
    case 'hours':
    case 'address':
    case 'directions':
      return clinicInfo(intent, d, fromKeypad);
    case 'operator': return d.transfer('caller-asked');
    case 'goodbye': return d.hangup();
    case 'repeat':
    case 'help':
    case 'back':
    case 'main-menu':
      return d.command(intent);
    default: {
      d.call.resetTask();
      d.call.task = intent;
      if (intent === 'book') applyBookingDetails({ ...readBookingDetails(text, d), when: captureWhen(text, d) }, d);
      return d.withPatient(() => d.continueTask());
    }
  }
}

function request(answer: Request, d: Dialog): Promise<void> | void {
  if ('between' in answer) {
    d.call.clarifyBetween = [...answer.between];
    return d.goto('clarify');
  }
  return startIntent(answer.intent, answer.text, d, answer.byKey);
}

export const mainMenu = defineNode<Request>({
  id: 'main',
  expects: () => ({ kind: 'menu-choice' }),
  speechPrompt: (d) => [d.p('mainMenu')],
  keypadPrompt: (d) => [d.p('mainMenuKeypad')],
  reprompt: (d) => [d.p('mainMenuShort')],
  hear: readMenuRequest,
  keys: { kind: 'key', read: (digit) => { const intent = MAIN_MENU_KEYS[digit]; return intent ? { intent, text: '', byKey: true } : undefined; } },
  next: request,
  assist: true,
});

type AnythingElse = Request | 'more' | 'done';

export const anythingElse = defineNode<AnythingElse>({
  id: 'anything-else',
  expects: () => ({ kind: 'menu-choice' }),
  speechPrompt: (d) => [d.p('anythingElse')],
  keypadPrompt: (d) => [d.p('anythingElse'), d.p('anythingElseKeypad')],
  hear: (text) => {
    const request = readMenuRequest(text);
    if (request && !('intent' in request && request.intent === 'goodbye')) return request;
    const answer = parseYesNo(text);
    if (request || answer === 'no') return 'done';
    return answer === 'yes' ? 'more' : undefined;
  },
  keys: { kind: 'key', read: (digit) => (digit === 1 ? 'more' : digit === 2 ? 'done' : undefined) },
  next: (answer, d) => {
    if (answer === 'done') return d.hangup();
    if (answer === 'more') {
      d.call.resetTask();
      return d.goto('main', d.keypadMode ? undefined : [d.p('mainMenuAgain')]);
    }
    return request(answer, d);
  },
  assist: true,
});

/** How each request is named in a clarifying question. */
const INTENT_CHOICES: Partial<Record<Intent, string>> = {
  book: 'book a new appointment',
  list: 'hear the appointments you have',
  reschedule: 'change an appointment you have',
  cancel: 'cancel an appointment',
  refill: 'request a prescription refill',
  message: 'leave a message for our staff',
  hours: 'hear our opening hours',
  address: 'hear our address',
  directions: 'get directions',
  operator: 'speak with the front desk',
};

const choiceText = (intent: Intent) => INTENT_CHOICES[intent] ?? intent;

/** "Do you want to book a new appointment, or change an appointment you have?" */
export const clarify = defineNode<Intent>({
  id: 'clarify',
  expects: () => ({ kind: 'menu-choice' }),
  speechPrompt: (d) => [d.p('clarify', { choices: listWords(d.call.clarifyBetween.map(choiceText), 'or') })],
  keypadPrompt: (d) => [keypadMenu(d.call.clarifyBetween.map((intent) => `to ${choiceText(intent)}`))],
  hear: (text, d) => {
    const between = d.call.clarifyBetween;
    const pick = parseOrdinalPick(text, between.length);
    if (pick !== undefined) return between[pick];
    const request = readMenuRequest(text);
    // A clear request of its own is taken as it is, even if it was not one of the choices.
    if (request && 'intent' in request) return request.intent;
    return undefined;
  },
  keys: { kind: 'key', read: (digit, d) => d.call.clarifyBetween[digit - 1] },
  next: (intent, d) => startIntent(intent, '', d),
  assist: true,
});
