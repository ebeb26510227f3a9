/**
 * Test helpers for scripted conversations at text level: a demo clinic, a memory EMR with known patients and a
 * session whose turns are collected as plain actions. Used by the dialog tests (and by the media tests).
 */
import { createMemoryEmr, type MemoryEmr, type MemoryEmrOptions } from '../emr/memory.js';
import type { Appointment, Patient } from '../emr/types.js';
import { defaultClinicConfig, type ClinicConfig } from './clinic.js';
import { createReceptionistPolicy, type ReceptionistOptions } from './engine/index.js';
import type { DialogAction, DialogInput, DialogSession } from './types.js';

/** Monday 23 November 2026, 9:00 in New York. */
export const TEST_NOW = new Date('2026-11-23T14:00:00Z');

export const TEST_PATIENTS: Patient[] = [
  { id: '1', firstName: 'Jane', lastName: 'Doe', dob: '1981-03-03', phones: ['+15555550101'] },
  { id: '2', firstName: 'John', lastName: 'Smith', dob: '1975-07-04', phones: ['555-555-0102'] },
  { id: '3', firstName: 'Maria', lastName: 'Garcia', dob: '1990-12-25', phones: [] },
];

export const TEST_APPOINTMENTS: Appointment[] = [
  { id: 'a1', patientId: '1', providerId: 'patel', typeId: 'checkup', date: '2026-11-25', time: '09:00', durationMin: 30, status: 'booked' },
  { id: 'a2', patientId: '1', providerId: 'nguyen', typeId: 'followup', date: '2026-12-02', time: '14:00', durationMin: 20, status: 'booked' },
  { id: 'a3', patientId: '2', providerId: 'nguyen', typeId: 'sick', date: '2026-11-24', time: '10:00', durationMin: 20, status: 'booked' },
];

export interface ConversationOptions {
  /** As the call session reports it: false when the line has no speech recognition. */
  speechAvailable?: boolean;
  clinic?: ClinicConfig;
  callerNumber?: string;
  emr?: Partial<MemoryEmrOptions>;
  policy?: Partial<ReceptionistOptions>;
}

export interface Conversation {
  emr: MemoryEmr;
  session: DialogSession;
  clinic: ClinicConfig;
  send(input: DialogInput, signal?: AbortSignal): Promise<DialogAction[]>;
  start(): Promise<DialogAction[]>;
  say(text: string): Promise<DialogAction[]>;
  press(keys: string): Promise<DialogAction[]>;
  silence(): Promise<DialogAction[]>;
}

export function conversation(options: ConversationOptions = {}): Conversation {
  const clinic = options.clinic ?? defaultClinicConfig();
  const now = () => TEST_NOW;
  const emr = createMemoryEmr({ clinic, patients: TEST_PATIENTS, appointments: TEST_APPOINTMENTS, now, ...options.emr });
  const policy = createReceptionistPolicy({ clinic, emr, now, fillerAfterMs: 100, emrTimeoutMs: 1_000, ...options.policy });
  const session = policy.createSession({ callId: 'test-call', callerNumber: options.callerNumber, speechAvailable: options.speechAvailable });
  const send = async (input: DialogInput, signal = new AbortController().signal) => {
    const actions: DialogAction[] = [];
    for await (const action of session.respond(input, signal)) actions.push(action);
    return actions;
  };
  return {
    emr, session, clinic, send,
    start: () => send({ type: 'call-start', callerNumber: options.callerNumber }),
    say: (text) => send({ type: 'utterance', text }),
    press: async (keys) => {
      const all: DialogAction[] = [];
      for (const digit of keys) all.push(...await send({ type: 'dtmf', digit }));
      return all;
    },
    silence: () => send({ type: 'no-input' }),
  };
}

/** The spoken text of a turn, joined. */
export function spoken(actions: readonly DialogAction[]): string {
  return actions.filter((a): a is Extract<DialogAction, { type: 'say' }> => a.type === 'say').map((a) => a.text).join(' ');
}
