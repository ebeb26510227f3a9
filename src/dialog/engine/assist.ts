/**
 * The language model's turn, where a node allows it: its sentences are spoken as they stream in, then its
 * tool calls drive the flows' own transitions. It never books, cancels or sends: those stay behind the rules'
 * explicit confirmation, as do emergencies and identification.
 */
import type { AssistToolCall, LanguageModelAssist } from '../llm.js';
import { isNoPreference } from '../nlu.js';
import { parseSpokenDate } from '../dates.js';
import { chooseOffer, offerTexts } from '../flows/index.js';
import type { Dialog, Task } from './node.js';
import type { Turn } from './turn.js';

export interface AssistView {
  dialog: Dialog;
  lastPrompt: string;
  history: ReadonlyArray<{ role: 'caller' | 'assistant'; text: string }>;
  fillerAfterMs: number;
  /** The model asked or answered in its own words: that is the question now on the table. */
  onModelSpoke(sentences: string[]): void;
  onModelActed(): void;
  repromptHere(): void;
}

/** True when the model handled the turn (spoke or acted); false: the rules' escalation answers. */
export async function askAssist(assist: LanguageModelAssist, view: AssistView, text: string, turn: Turn): Promise<boolean> {
  const { dialog } = view;
  let timer: NodeJS.Timeout | undefined = setTimeout(() => {
    timer = undefined;
    if (!turn.fillerSaid) {
      turn.fillerSaid = true;
      turn.say(dialog.p('fillerThinking'));
    }
  }, view.fillerAfterMs);
  const spokenNow: string[] = [];
  const outcome = await assist.interpret({
    callId: dialog.callId,
    text,
    lastPrompt: view.lastPrompt,
    history: view.history,
    offers: dialog.node === 'book-offers' ? offerTexts(dialog) : undefined,
    task: dialog.call.task,
  }, {
    sentence: (sentence) => {
      clearTimeout(timer);
      spokenNow.push(sentence);
      turn.say({ text: sentence, cacheable: false });
    },
  }, turn.signal).catch(() => undefined);
  clearTimeout(timer);
  if (turn.signal.aborted) return true;
  if (!outcome) return false;
  if (outcome.tools.length === 0) {
    if (!outcome.spoke) return false;
    view.onModelSpoke(spokenNow);
    return true;
  }
  view.onModelActed();
  await applyTools(outcome.tools, view);
  return true;
}

/**
 * Tool calls -> the flows' own transitions. Details are recorded first, then one step is taken; whatever it
 * leads to (identification, an offer's confirmation) is asked by the rules.
 */
async function applyTools(tools: AssistToolCall[], view: AssistView): Promise<void> {
  const { dialog } = view;
  const call = dialog.call;
  const byName = <N extends AssistToolCall['name']>(name: N) => tools.find((t): t is Extract<AssistToolCall, { name: N }> => t.name === name);
  if (byName('transfer_to_front_desk')) return dialog.transfer('caller-asked');
  if (byName('end_call')) return dialog.hangup();
  const info = byName('clinic_info');
  if (info) return dialog.startIntent(info.topic, '');
  const offer = byName('choose_offer');
  if (offer && dialog.node === 'book-offers' && offer.number <= call.booking.offers.length) return chooseOffer(offer.number - 1, dialog);

  const start = byName('start_task');
  const details = byName('set_booking_details');
  const message = byName('leave_message');
  const refill = byName('request_refill');
  const task: Task | undefined = start?.task ?? (details ? 'book' : message ? 'message' : refill ? 'refill' : undefined);
  if (!task) return view.repromptHere();
  const continuing = call.task === task || (task === 'book' && call.task === 'reschedule' && call.booking.rescheduleOf);
  if (!continuing) {
    call.resetTask();
    call.task = task;
  }
  if (details) {
    if (details.appointmentType) call.booking.typeId = details.appointmentType;
    if (details.provider) call.booking.providerId = details.provider === 'any' ? null : details.provider;
    if (details.when) {
      const when = parseSpokenDate(details.when, { now: dialog.now(), timeZone: dialog.clinic.timezone })
        ?? (isNoPreference(details.when) ? { asap: true } : undefined);
      if (when) {
        call.booking.when = when;
        call.booking.after = undefined;
      }
    }
  }
  if (message) call.messageBody = message.text;
  if (refill) call.refill = { medication: refill.medication, pharmacy: refill.pharmacy };
  return dialog.withPatient(() => dialog.continueTask());
}

