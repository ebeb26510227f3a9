/**
 * Every question the receptionist can ask, by node id, and the task dispatcher. One module per flow:
 * menu (main, anything else, clarify), identify, booking, appointments (list, reschedule, cancel), refill,
 * message, info, emergency.
 */
import type { AnyNode, Dialog, NodeId } from '../engine/node.js';
import { cancelConfirm, loadAppointments, offerBook, pickAppointment } from './appointments.js';
import { bookConfirm, bookDate, bookOffers, bookProvider, bookType, bookWhen, continueBooking } from './booking.js';
import { emergencyOffer } from './emergency.js';
import { idDob, idName, idPhone } from './identify.js';
import { anythingElse, clarify, mainMenu } from './menu.js';
import { continueMessage, emrFallback, messageBody, messageConfirm } from './message.js';
import { continueRefill, refillConfirm, refillMed, refillPharmacy } from './refill.js';

export const NODES: Readonly<Record<Exclude<NodeId, 'ended'>, AnyNode>> = {
  main: mainMenu,
  'anything-else': anythingElse,
  clarify,
  'emergency-offer': emergencyOffer,
  'emr-fallback': emrFallback,
  'offer-book': offerBook,
  'id-dob': idDob,
  'id-name': idName,
  'id-phone': idPhone,
  'book-type': bookType,
  'book-provider': bookProvider,
  'book-when': bookWhen,
  'book-date': bookDate,
  'book-offers': bookOffers,
  'book-confirm': bookConfirm,
  'pick-appointment': pickAppointment,
  'cancel-confirm': cancelConfirm,
  'refill-med': refillMed,
  'refill-pharmacy': refillPharmacy,
  'refill-confirm': refillConfirm,
  'message-body': messageBody,
  'message-confirm': messageConfirm,
};

/** Carries the current task on from wherever it stands (every task but a message needs a verified caller). */
export async function continueTask(d: Dialog): Promise<void> {
  switch (d.call.task) {
    case 'book': return continueBooking(d);
    case 'reschedule':
      if (d.call.booking.rescheduleOf) return continueBooking(d);
      return loadAppointments(d);
    case 'list':
    case 'cancel':
      return loadAppointments(d);
    case 'refill': return continueRefill(d);
    case 'message': return continueMessage(d);
    default: return d.goto('main');
  }
}

export { chooseOffer, offerTexts } from './booking.js';
export { emergencyGuidance } from './emergency.js';
export { withPatient } from './identify.js';
export { startIntent } from './menu.js';
