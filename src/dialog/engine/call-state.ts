/**
 * What the dialog knows about one call: who the caller is, what they are doing and the details gathered so
 * far. Flows read and fill it; the engine resets the task when the caller starts over.
 */
import type { Appointment, Patient, Slot } from '../../emr/types.js';
import type { WhenPreference } from '../dates.js';
import type { Intent } from '../nlu.js';
import type { EmrResult, Task } from './node.js';

/** The booking form: each field is asked for only while it is missing. */
export interface BookingDraft {
  typeId?: string;
  /** undefined: not asked yet; null: no preference. */
  providerId?: string | null;
  when?: WhenPreference;
  offers: Slot[];
  chosen?: Slot;
  /** Only offer slots after this `date time` ("other times"). */
  after?: string;
  rescheduleOf?: Appointment;
}

export interface Identification {
  /** How the candidates were found: caller ID, a phone number typed in, or a spoken name. */
  via: 'caller' | 'phone' | 'name';
  candidates: Patient[];
  name?: { first: string; last: string };
  attempts: number;
  /** What to do once the caller is verified (the task that needed it). */
  resume?: (patient: Patient) => Promise<void>;
}

export class CallState {
  callerNumber?: string;
  /** The caller-ID lookup started at the greeting, so identification rarely waits for it. */
  callerLookup: Promise<EmrResult<Patient[]>> = Promise.resolve({ ok: true, value: [] });
  task?: Task;
  patient?: Patient;
  identification: Identification = { via: 'name', candidates: [], attempts: 0 };
  booking: BookingDraft = { offers: [] };
  upcoming: Appointment[] = [];
  selected?: Appointment;
  refill: { medication?: string; pharmacy?: string } = {};
  messageBody?: string;
  /** The intents a clarifying question offers, in the order it said them. */
  clarifyBetween: Intent[] = [];
  /** Bumped per write so a retried request id is the same request, and a new one is new. */
  requestSeq = 0;

  constructor(callerNumber: string | undefined) {
    this.callerNumber = callerNumber;
  }

  /**
   * Remembers everything the flows may change in one turn, and gives the function that puts it back, once (a
   * tentative turn the caller withdrew). Flows set fields and replace arrays, never mutate them in place, so
   * shallow copies of the objects whose fields they set are enough.
   */
  checkpoint(): () => void {
    const saved: Partial<CallState> = {
      callerNumber: this.callerNumber, callerLookup: this.callerLookup, task: this.task, patient: this.patient,
      identification: { ...this.identification }, booking: { ...this.booking }, upcoming: this.upcoming,
      selected: this.selected, refill: { ...this.refill }, messageBody: this.messageBody,
      clarifyBetween: this.clarifyBetween, requestSeq: this.requestSeq,
    };
    return () => { Object.assign(this, saved); };
  }

  resetTask(): void {
    this.task = undefined;
    this.booking = { offers: [] };
    this.selected = undefined;
    this.refill = {};
    this.messageBody = undefined;
  }
}
