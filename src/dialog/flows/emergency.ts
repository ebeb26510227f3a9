/**
 * Emergencies: the engine checks every utterance for emergency words before anything else and comes here.
 * The guidance is said at once (911, or the 988 crisis line); then the caller is offered a person, and
 * silence, a yes or key 1 connects them.
 */
import { detectIntent, parseYesNo, type EmergencyKind, type Intent } from '../nlu.js';
import { defineNode, type Dialog, type YesNo } from '../engine/node.js';
import { YES_NO_KEYS } from './common.js';

export function emergencyGuidance(kind: EmergencyKind, d: Dialog): void {
  d.log?.warn({ kind }, 'dialog emergency words');
  d.say(d.p(kind === 'crisis' ? 'crisis' : 'emergency'));
  d.goto('emergency-offer');
}

/** Yes / no to "shall I connect you", or a new request (the caller is fine and moves on). */
type OfferAnswer = YesNo | { intent: Intent; text: string };

export const emergencyOffer = defineNode<OfferAnswer>({
  id: 'emergency-offer',
  expects: () => ({ kind: 'yes-no' }),
  speechPrompt: (d) => [d.p('emergencyOffer')],
  keypadPrompt: (d) => [d.p('emergencyOffer')],
  hear: (text) => {
    const answer = parseYesNo(text);
    if (answer === 'yes' || /\b(connect|transfer)\b/.test(text)) return 'yes';
    if (answer === 'no') return 'no';
    const intent = detectIntent(text);
    return intent && intent !== 'goodbye' ? { intent, text } : undefined;
  },
  keys: YES_NO_KEYS,
  next: (answer, d) => {
    if (answer === 'yes') return d.transfer('emergency');
    if (answer === 'no') {
      d.say(d.p('emergencyDeclined'));
      return d.goto('anything-else');
    }
    return d.startIntent(answer.intent, answer.text);
  },
  // Silence after emergency guidance may be a caller who cannot speak: connect them.
  onSilence: (d) => d.transfer('emergency'),
  leftBehind: () => true,
});
