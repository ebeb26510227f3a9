/**
 * Messages for staff: a spoken message read back and confirmed, or (keypad) a call-back request. Also the
 * fallback offered when the scheduling system cannot be reached. Every staff request carries the caller's
 * number and says when the caller was not identified.
 */
import { detectIntent, parseYesNo } from '../nlu.js';
import { defineNode, type Dialog, type YesNo } from '../engine/node.js';
import { YES_NO_KEYS } from './common.js';

export function continueMessage(d: Dialog): void {
  d.goto(d.call.messageBody ? 'message-confirm' : 'message-body');
}

/** 'sent', or 'queued' (saved, to be delivered); undefined when it could not be saved (the caller is transferred). */
export async function deliverStaffMessage(
  d: Dialog, message: { kind: 'refill' | 'message' | 'callback'; subject: string; body: string },
): Promise<'sent' | 'queued' | undefined> {
  const requestId = `${d.callId}:message:${++d.call.requestSeq}`;
  const patient = d.call.patient;
  const unverified = patient ? '' : ' The caller was not identified.';
  const result = await d.emrCall(() => d.emr.sendStaffMessage({
    patientId: patient?.id, kind: message.kind, subject: message.subject, body: `${message.body}${unverified}`,
  }, requestId), 'fillerSave');
  if (result.ok || result.code === 'queued') {
    const outcome = result.ok ? 'sent' : 'queued';
    d.log?.info({ kind: message.kind, outcome }, 'dialog staff message saved');
    return outcome;
  }
  // The message could not be saved either: a person is the only honest fallback left.
  d.say(d.p('messageFailed'));
  d.transfer('emr-unavailable');
  return undefined;
}

async function sendMessage(d: Dialog, kind: 'message' | 'callback'): Promise<void> {
  const callerNumber = d.call.callerNumber;
  const body = kind === 'callback'
    ? `The caller asked by keypad for a call back.${callerNumber ? ` Caller number: ${callerNumber}.` : ''}`
    : `${d.call.messageBody ?? ''}${callerNumber ? ` (Caller number: ${callerNumber}.)` : ''}`;
  const subject = kind === 'callback' ? 'Call-back request' : 'Message from the phone assistant';
  const sent = await deliverStaffMessage(d, { kind, subject, body });
  if (!sent) return;
  d.say(d.p(sent === 'queued' ? 'messageQueued' : 'messageSent'));
  d.call.messageBody = undefined;
  d.forgetHistory();
  d.goto('anything-else');
}

/** A spoken message, or (keypad 1) a call-back request without one. */
type Body = { text: string } | 'call-back';

export const messageBody = defineNode<Body>({
  id: 'message-body',
  expects: () => ({ kind: 'free-text' }),
  speechPrompt: (d) => [d.p('askMessage')],
  keypadPrompt: (d) => [d.p('askMessageKeypad')],
  hear: (text) => (text.split(' ').length < 2 ? undefined : { text }),
  keys: { kind: 'key', read: (digit) => (digit === 1 ? 'call-back' : undefined) },
  next: (answer, d) => {
    if (answer === 'call-back') return sendMessage(d, 'callback');
    d.call.messageBody = answer.text;
    d.goto('message-confirm');
  },
  freeText: true,
});

function confirmText(d: Dialog) {
  return d.p('confirmMessage', { message: d.call.messageBody ?? '' });
}

export const messageConfirm = defineNode<YesNo>({
  id: 'message-confirm',
  expects: () => ({ kind: 'yes-no' }),
  speechPrompt: (d) => [confirmText(d)],
  keypadPrompt: (d) => [confirmText(d), d.p('yesNoKeypad')],
  hear: (text) => parseYesNo(text),
  keys: YES_NO_KEYS,
  next: (answer, d) => {
    if (answer === 'yes') return sendMessage(d, 'message');
    d.say(d.p('messageDeclined'));
    d.call.messageBody = undefined;
    d.goto('message-body');
  },
});

/** The scheduling system is unreachable: a message for staff (or 0, the front desk, as everywhere). */
export const emrFallback = defineNode<'message'>({
  id: 'emr-fallback',
  expects: () => ({ kind: 'menu-choice' }),
  speechPrompt: (d) => [d.p('emrFallback')],
  keypadPrompt: (d) => [d.p('emrFallback')],
  hear: (text) => (detectIntent(text) === 'message' || /\bmessage\b/.test(text) ? 'message' : undefined),
  keys: { kind: 'key', read: (digit) => (digit === 1 ? 'message' : undefined) },
  next: (_answer, d) => {
    d.call.task = 'message';
    d.goto('message-body');
  },
  assist: true,
});
