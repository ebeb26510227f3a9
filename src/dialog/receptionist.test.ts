import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMemoryEmr } from '../emr/memory.js';
import type { Appointment, EmrGateway, Patient } from '../emr/types.js';
import { fileURLToPath } from 'node:url';
import { defaultClinicConfig, loadClinicConfig, parseClinicConfig } from './clinic.js';
import { createReceptionistPolicy } from './engine/index.js';
import { conversation, spoken, TEST_APPOINTMENTS, TEST_NOW, TEST_PATIENTS } from './testing.js';
import type { DialogAction } from './types.js';

const JANE = '+15555550101';
const UNKNOWN = '+15550009999';

function kinds(actions: DialogAction[]): string[] {
  return actions.filter((a) => a.type !== 'say').map((a) => a.type);
}

function newAppointments(emr: { allAppointments(): Appointment[] }): Appointment[] {
  return emr.allAppointments().filter((a) => !TEST_APPOINTMENTS.some((t) => t.id === a.id));
}

test('greets by clinic name at once while the caller-ID lookup is still running', async () => {
  const clinic = defaultClinicConfig();
  const memory = createMemoryEmr({ clinic, patients: TEST_PATIENTS, now: () => TEST_NOW });
  let release!: () => void;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  let lookupDone = false;
  const emr: EmrGateway = {
    ...memory,
    findPatientsByPhone: async (phone) => {
      await gate;
      const found = await memory.findPatientsByPhone(phone);
      lookupDone = true;
      return found;
    },
  };
  const session = createReceptionistPolicy({ clinic, emr, now: () => TEST_NOW, fillerAfterMs: 50 })
    .createSession({ callId: 'c1', callerNumber: JANE });
  const greeting: DialogAction[] = [];
  for await (const action of session.respond({ type: 'call-start', callerNumber: JANE }, new AbortController().signal)) greeting.push(action);
  assert.is(lookupDone, false, 'the greeting did not wait for the EMR');
  assert.match(spoken(greeting), 'Thank you for calling Maple Street Family Clinic');
  assert.is(greeting[0]!.type === 'say' && greeting[0]!.cacheable, true, 'the greeting is a fixed, cacheable prompt');
  // The caller asks to book while the lookup is still out: a filler, then the DOB question once it is back.
  const turn: DialogAction[] = [];
  const pending = (async () => {
    for await (const action of session.respond({ type: 'utterance', text: 'i want to book an appointment' }, new AbortController().signal)) turn.push(action);
  })();
  for (let waited = 0; waited < 3_000 && turn.length === 0; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.is(spoken(turn), 'One moment while I check.', 'a filler while the lookup is out');
  assert.is(lookupDone, false);
  release();
  await pending;
  assert.match(spoken(turn), 'confirm it is you');
  session.close();
});

test('voice: caller ID + spoken DOB, booking with slots from the first sentence and an explicit yes', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  let reply = spoken(await c.say('hi i need a sick visit tomorrow afternoon with doctor nguyen'));
  assert.match(reply, 'date of birth');
  reply = spoken(await c.say('march third nineteen eighty one'));
  assert.match(reply, 'Thank you, Jane');
  assert.match(reply, 'with Doctor Sam Nguyen: first, tomorrow at noon');
  assert.equal(newAppointments(c.emr), [], 'nothing is booked before the confirmation');
  reply = spoken(await c.say('the second one'));
  assert.match(reply, 'To confirm: a sick visit with Doctor Sam Nguyen tomorrow at');
  assert.equal(newAppointments(c.emr), []);
  reply = spoken(await c.say('yes please'));
  assert.match(reply, 'You are all set');
  const booked = newAppointments(c.emr);
  assert.is(booked.length, 1);
  assert.is(booked[0]!.providerId, 'nguyen');
  assert.is(booked[0]!.typeId, 'sick');
  assert.is(booked[0]!.date, '2026-11-24');
  assert.is(booked[0]!.patientId, '1');
  const bye = await c.say('no thats all');
  assert.equal(kinds(bye), ['hangup']);
  assert.match(spoken(bye), 'Goodbye');
});

test('corrections: "no, friday" at the confirmation and a provider change at the offers', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  await c.say('book a checkup');
  await c.say('three three eighty one');
  await c.say('doctor patel');
  let reply = spoken(await c.say('wednesday morning'));
  assert.match(reply, 'Wednesday, November 25th at 9:30 AM');
  reply = spoken(await c.say('first'));
  assert.match(reply, 'To confirm');
  reply = spoken(await c.say('no friday'));
  assert.match(reply, 'Friday, November 27th', 'the correction searched Friday');
  assert.not.match(reply, 'Wednesday');
  reply = spoken(await c.say('actually with doctor nguyen'));
  assert.match(reply, 'Doctor Sam Nguyen');
  assert.match(reply, 'Friday, November 27th');
  reply = spoken(await c.say('the last one'));
  assert.match(reply, 'To confirm: a check-up with Doctor Sam Nguyen on Friday, November 27th');
  reply = spoken(await c.say('yeah'));
  assert.match(reply, 'You are all set');
  const booked = newAppointments(c.emr);
  assert.equal(booked.map((b) => [b.providerId, b.date]), [['nguyen', '2026-11-27']]);
});

test('a line without speech recognition hears the keypad menu right after the greeting, and the notice once', async () => {
  const c = conversation({ callerNumber: UNKNOWN, speechAvailable: false });
  const greeting = spoken(await c.start());
  assert.match(greeting, 'Thank you for calling');
  assert.match(greeting, 'cannot understand speech');
  assert.match(greeting, 'To book an appointment, press 1');
  const afterSpeech = spoken(await c.send({ type: 'speech-unavailable', reason: 'no-asr' }));
  assert.not.match(afterSpeech, 'cannot understand speech', 'the notice is not repeated');
  assert.match(afterSpeech, 'press 1');
});

test('keypad only: no speech recognition, phone number + DOB by keypad, book, confirm, hang up', async () => {
  const c = conversation({ callerNumber: UNKNOWN });
  await c.start();
  let reply = spoken(await c.send({ type: 'speech-unavailable', reason: 'no-asr' }));
  assert.match(reply, 'cannot understand speech');
  assert.match(reply, 'To book an appointment, press 1');
  reply = spoken(await c.send({ type: 'speech-unavailable', reason: 'no-asr' }));
  assert.not.match(reply, 'cannot understand speech', 'the keypad notice is given once');
  assert.match(reply, 'press 1');
  reply = spoken(await c.press('1'));
  assert.match(reply, 'enter the phone number');
  assert.equal(await c.press('555555010'), [], 'digits are collected silently');
  reply = spoken(await c.press('2#'));
  assert.match(reply, 'eight digits');
  reply = spoken(await c.press('07041975'));
  assert.match(reply, 'Thank you, John');
  assert.match(reply, 'For a check-up, press 1');
  reply = spoken(await c.press('1'));
  assert.match(reply, 'For whoever is available first, press 9');
  reply = spoken(await c.press('9'));
  assert.match(reply, 'For the first available time, press 1');
  reply = spoken(await c.press('1'));
  assert.match(reply, 'press 1');
  assert.match(reply, 'For other times, press 4');
  reply = spoken(await c.press('4'));
  assert.match(reply, 'press 3');
  reply = spoken(await c.press('3'));
  assert.match(reply, 'Press 1 for yes, or 2 for no');
  reply = spoken(await c.press('1'));
  assert.match(reply, 'You are all set');
  assert.is(newAppointments(c.emr).length, 1);
  const end = await c.press('2');
  assert.equal(kinds(end), ['hangup']);
});

test('keypad: a specific date as MMDD', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  await c.press('1');
  await c.press('03031981');
  await c.press('2');
  let reply = spoken(await c.press('1'));
  assert.match(reply, 'To choose a date, press 4');
  reply = spoken(await c.press('4'));
  assert.match(reply, 'four digits');
  assert.equal(await c.press('120'), []);
  reply = spoken(await c.press('2'));
  assert.match(reply, 'For Wednesday, December 2nd at');
  assert.not.match(reply, 'November');
  reply = spoken(await c.press('4'));
  assert.match(reply, 'press 1', 'other times');
  const back = conversation({ callerNumber: JANE });
  await back.start();
  await back.press('1');
  await back.press('03031981');
  await back.press('2');
  await back.press('1');
  await back.press('4');
  reply = spoken(await back.press('1399'));
  assert.match(reply, 'Sorry, I did not get that');
});

test('name and date of birth in one sentence', async () => {
  const c = conversation({ callerNumber: UNKNOWN });
  await c.start();
  await c.say('i need a refill');
  const reply = spoken(await c.say('maria garcia and my date of birth is december twenty fifth nineteen ninety'));
  assert.match(reply, 'Thank you, Maria. Which medication');
});

test('unknown caller identified by name and date of birth', async () => {
  const c = conversation({ callerNumber: UNKNOWN });
  await c.start();
  let reply = spoken(await c.say('when is my next appointment'));
  assert.match(reply, 'first and last name');
  reply = spoken(await c.say('my name is maria garcia'));
  assert.match(reply, 'date of birth');
  reply = spoken(await c.say('twelve twenty five nineteen ninety'));
  assert.match(reply, 'Thank you, Maria');
  assert.match(reply, 'do not have any upcoming appointments');
  assert.match(reply, 'Would you like to book one');
  reply = spoken(await c.say('no'));
  assert.match(reply, 'anything else');
});

test('identification fails after the configured attempts and hands over to a person', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  await c.say('i need a refill');
  let reply = spoken(await c.say('january first two thousand'));
  assert.match(reply, 'could not find a record');
  assert.match(reply, 'first and last name', 'a mismatch on the caller-ID record falls back to name + DOB');
  await c.say('jane doe');
  reply = spoken(await c.say('june second nineteen eighty'));
  assert.match(reply, 'could not find a record');
  await c.say('jane doe');
  const last = await c.say('june third nineteen eighty');
  assert.match(spoken(last), 'not able to verify');
  assert.equal(kinds(last), ['transfer']);
  assert.equal(await c.say('hello'), [], 'nothing more after the transfer');
});

test('hears upcoming appointments', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  await c.say('do i have any appointments coming up');
  const reply = spoken(await c.say('oh three oh three nineteen eighty one'));
  assert.match(reply, 'You have 2 upcoming appointments: a check-up with Doctor Priya Patel on Wednesday, November 25th at 9 AM; a follow-up with Doctor Sam Nguyen on Wednesday, December 2nd at 2 PM');
});

test('reschedule: pick the appointment, new offers, confirm; the old one is cancelled', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  await c.say('i need to reschedule my appointment');
  let reply = spoken(await c.say('march 3rd 1981'));
  assert.match(reply, 'Which one would you like to change');
  reply = spoken(await c.say('the follow up'));
  assert.match(reply, 'What day and time');
  reply = spoken(await c.say('next monday at ten'));
  assert.match(reply, 'Monday, November 30th at 10 AM');
  reply = spoken(await c.say('the ten oclock one'));
  assert.match(reply, 'move your follow-up from Wednesday, December 2nd at 2 PM to Monday, November 30th at 10 AM');
  reply = spoken(await c.say('yes'));
  assert.match(reply, 'You are all set');
  const all = c.emr.allAppointments();
  assert.is(all.find((a) => a.id === 'a2')!.status, 'cancelled');
  const moved = newAppointments(c.emr);
  assert.equal(moved.map((a) => [a.date, a.time, a.typeId, a.providerId]), [['2026-11-30', '10:00', 'followup', 'nguyen']]);
});

test('cancel asks first; "no" keeps it, "yes" cancels', async () => {
  const c = conversation({ callerNumber: '+15555550102' });
  await c.start();
  await c.say('i have to cancel my appointment');
  let reply = spoken(await c.say('july fourth nineteen seventy five'));
  assert.match(reply, 'Cancel your sick visit with Doctor Sam Nguyen tomorrow at 10 AM?');
  reply = spoken(await c.say('no'));
  assert.match(reply, 'left your appointment as it is');
  assert.is(c.emr.allAppointments().find((a) => a.id === 'a3')!.status, 'booked');
  reply = spoken(await c.say('yes actually i want to cancel my appointment'));
  assert.match(reply, 'Cancel your sick visit');
  reply = spoken(await c.press('1'));
  assert.match(reply, 'is cancelled');
  assert.is(c.emr.allAppointments().find((a) => a.id === 'a3')!.status, 'cancelled');
});

test('prescription refill becomes a staff message in the EMR', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  await c.say('i need a prescription refill');
  let reply = spoken(await c.say('three three nineteen eighty one'));
  assert.match(reply, 'Which medication');
  reply = spoken(await c.say('my metformin'));
  assert.match(reply, 'Which pharmacy');
  reply = spoken(await c.say('the cvs on main street'));
  assert.match(reply, 'refill request for metformin to the pharmacy you named, the cvs on main street');
  assert.equal(c.emr.staffMessages(), []);
  reply = spoken(await c.say('yes'));
  assert.match(reply, 'refill request is in');
  const [message] = c.emr.staffMessages();
  assert.is(message!.kind, 'refill');
  assert.is(message!.patientId, '1');
  assert.match(message!.body, 'metformin');
  assert.match(message!.body, 'cvs on main street');
});

test('leave a message by voice, and a call-back request by keypad', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  await c.say('can i leave a message for the nurse');
  await c.say('march third nineteen eighty one');
  let reply = spoken(await c.say('please call me about my lab results from last week'));
  assert.match(reply, 'I have your message as: please call me about my lab results from last week');
  reply = spoken(await c.say('yes'));
  assert.match(reply, 'message has been sent');
  assert.is(c.emr.staffMessages()[0]!.kind, 'message');

  const k = conversation({ callerNumber: JANE });
  await k.start();
  await k.press('6');
  reply = spoken(await k.press('03031981'));
  assert.match(reply, 'To confirm, press 1');
  reply = spoken(await k.press('1'));
  assert.match(reply, 'message has been sent');
  assert.is(k.emr.staffMessages()[0]!.kind, 'callback');
});

test('hours, address and directions by voice and keypad, without identification or the EMR', async () => {
  const c = conversation({ callerNumber: JANE, emr: { failWith: { code: 'unavailable' } } });
  await c.start();
  let reply = spoken(await c.say('what are your hours'));
  assert.match(reply, 'We are open Monday through Friday, 8 AM to 5 PM, and Saturday, 9 AM to noon');
  reply = spoken(await c.say('yes'));
  reply = spoken(await c.say('where are you located'));
  assert.match(reply, '100 Maple Street');
  reply = spoken(await c.say('how do i get there'));
  assert.match(reply, 'corner of Maple and Fifth');
  const k = conversation({ callerNumber: JANE });
  await k.start();
  reply = spoken(await k.press('7'));
  assert.match(reply, 'We are open');
  assert.match(reply, '100 Maple Street');
  assert.match(reply, 'For the main menu, press 1');
});

test('operator by voice and by keypad 0 transfers', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  const byVoice = await c.say('can i talk to a real person');
  assert.equal(kinds(byVoice), ['transfer']);
  assert.match(spoken(byVoice), 'front desk');
  const k = conversation({ callerNumber: JANE });
  await k.start();
  await k.press('1');
  assert.equal(kinds(await k.press('0')), [], 'inside a date-of-birth entry, 0 is a digit');
  const k2 = conversation({ callerNumber: JANE });
  await k2.start();
  assert.equal(kinds(await k2.press('0')), ['transfer']);
});

test('emergency words at any moment: 911 guidance, then an offer to transfer, with the EMR down', async () => {
  const c = conversation({ callerNumber: JANE, emr: { failWith: { code: 'unavailable' } } });
  await c.start();
  await c.say('i want to book an appointment');
  const reply = await c.say('actually i have really bad chest pain');
  assert.match(spoken(reply), 'call 9 1 1');
  assert.match(spoken(reply), 'connect you');
  assert.equal(kinds(reply), []);
  const yes = await c.say('yes');
  assert.equal(kinds(yes), ['transfer']);

  const crisis = conversation({ callerNumber: JANE });
  await crisis.start();
  const crisisReply = spoken(await crisis.say('i feel suicidal'));
  assert.match(crisisReply, '9 8 8');
  const silent = await crisis.silence();
  assert.equal(kinds(silent), ['transfer'], 'silence after the emergency offer transfers');

  const declined = conversation({ callerNumber: JANE });
  await declined.start();
  await declined.say('he cant breathe');
  const no = spoken(await declined.press('2'));
  assert.match(no, 'If anything changes');
  assert.match(no, 'anything else');
  assert.is(detectNothingBooked(declined), true);
});

function detectNothingBooked(c: ReturnType<typeof conversation>): boolean {
  return newAppointments(c.emr).length === 0 && c.emr.staffMessages().length === 0;
}

test('silence escalates: rephrase, then keypad menu, then a person; never loops', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  let reply = spoken(await c.silence());
  assert.match(reply, 'Are you still there? What can I help you with?');
  reply = spoken(await c.silence());
  assert.match(reply, 'To book an appointment, press 1');
  const last = await c.silence();
  assert.equal(kinds(last), ['transfer']);
  assert.match(spoken(last), 'trouble');
});

test('no-match escalates the same way; a success in between starts the count again', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  let reply = spoken(await c.say('purple monkey dishwasher'));
  assert.match(reply, 'Sorry, I did not get that');
  reply = spoken(await c.say(''));
  assert.match(reply, 'press 1');
  reply = spoken(await c.press('5'));
  assert.match(reply, 'date of birth');
  reply = spoken(await c.say('banana'));
  assert.match(reply, 'did not catch that date', 'a node-specific reprompt');
  reply = spoken(await c.say('banana'));
  assert.match(reply, 'eight digits');
  const last = await c.say('banana');
  assert.equal(kinds(last), ['transfer']);
});

test('repeat, help and go back, by voice and keypad', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  await c.say('book an appointment');
  await c.say('march third nineteen eighty one');
  let reply = spoken(await c.say('sick visit'));
  assert.match(reply, 'Would you like to see Doctor Priya Patel, Doctor Sam Nguyen, Nurse Practitioner Dana Lee, or whoever');
  assert.is(spoken(await c.say('can you repeat that')), reply);
  assert.is(spoken(await c.press('#')), reply);
  reply = spoken(await c.say('help'));
  assert.match(reply, 'To see Doctor Priya Patel, press 1. To see Doctor Sam Nguyen, press 2. To see Nurse Practitioner Dana Lee, press 3. For whoever is available first, press 9.');
  assert.match(reply, 'press star to go back');
  reply = spoken(await c.say('go back'));
  assert.match(reply, 'What kind of visit do you need', 'back to the visit type');
  reply = spoken(await c.press('*'));
  assert.match(reply, 'To book an appointment, press 1', 'back to the main menu');
});

test('an interruption waits for the caller instead of repeating the prompt', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  const interrupted = await c.send({ type: 'interrupted', heardText: 'How can I help' });
  assert.equal(interrupted, []);
  const reply = spoken(await c.say('what time do you close'));
  assert.match(reply, 'We are open');
});

test('slow EMR: filler first, then the answer', async () => {
  const c = conversation({ callerNumber: JANE, emr: { latencyMs: { findAvailability: 250 } } });
  await c.start();
  await c.say('book a follow up with doctor nguyen first available');
  const reply = await c.say('march third nineteen eighty one');
  const texts = reply.filter((a) => a.type === 'say').map((a) => (a as { text: string }).text);
  const fillerIndex = texts.findIndex((t) => t === 'One moment while I check.');
  const offersIndex = texts.findIndex((t) => t.startsWith('I have'));
  assert.ok(fillerIndex >= 0 && offersIndex > fillerIndex, 'the filler comes before the offers');
  assert.is(texts.filter((t) => t.startsWith('One moment')).length, 1, 'one filler per turn');
});

test('failed EMR: an honest message, then a message for staff or the front desk', async () => {
  const c = conversation({ callerNumber: JANE, emr: { failWith: { code: 'unavailable', operations: ['findAvailability'] } } });
  await c.start();
  await c.say('book a checkup with doctor patel as soon as possible');
  let reply = spoken(await c.say('march third nineteen eighty one'));
  assert.match(reply, 'cannot reach our scheduling system');
  assert.match(reply, 'take a message');
  reply = spoken(await c.say('take a message'));
  assert.match(reply, 'tell me your message');
  await c.say('i need a checkup soon please call me');
  reply = spoken(await c.say('yes'));
  assert.match(reply, 'message has been sent');

  const down = conversation({ callerNumber: JANE, emr: { failWith: { code: 'unavailable', operations: ['listAppointments'] } } });
  await down.start();
  await down.say('when is my appointment');
  await down.say('march third nineteen eighty one');
  const toDesk = await down.press('0');
  assert.equal(kinds(toDesk), ['transfer']);
});

test('a write saved but not yet confirmed (queued): the caller hears it is saved and will be completed, not "cannot reach"', async () => {
  const c = conversation({ callerNumber: JANE, emr: { failWith: { code: 'queued', operations: ['book', 'cancel', 'sendStaffMessage'] } } });
  await c.start();
  await c.say('hi i need a sick visit tomorrow afternoon with doctor nguyen');
  await c.say('march third nineteen eighty one');
  await c.say('the second one');
  let reply = spoken(await c.say('yes please'));
  assert.match(reply, /your request for a sick visit with Doctor Sam Nguyen tomorrow at .* is saved and will be completed\. If it cannot be, our staff will call you to confirm/);
  assert.not.match(reply, 'cannot reach');
  assert.not.match(reply, 'You are all set');
  assert.match(reply, 'anything else', 'the call carries on');
  await c.say('yes');
  await c.say('cancel my appointment');
  await c.say('the first one');
  reply = spoken(await c.say('yes'));
  assert.match(reply, 'your cancellation is saved and will be completed');
  await c.say('yes');
  await c.say('leave a message');
  await c.say('please call me about my results');
  reply = spoken(await c.say('yes'));
  assert.match(reply, 'your request is saved and will be passed on to our staff');
  assert.not.match(reply, 'message has been sent');
});

test('EMR timeout: the caller is not left waiting', async () => {
  const c = conversation({
    callerNumber: JANE,
    emr: { latencyMs: { listAppointments: 400 } },
    policy: { emrTimeoutMs: 200, fillerAfterMs: 50 },
  });
  await c.start();
  await c.say('when is my appointment');
  const reply = spoken(await c.say('march third nineteen eighty one'));
  assert.match(reply, 'One moment');
  assert.match(reply, 'cannot reach our scheduling system');
  await new Promise((resolve) => setTimeout(resolve, 250));
});

test('a slot taken before the yes: sorry, and fresh offers', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  await c.say('i need a checkup with doctor patel on friday');
  await c.say('march third nineteen eighty one');
  let reply = spoken(await c.say('first'));
  assert.match(reply, 'Friday, November 27th at 9 AM');
  const other: Patient = TEST_PATIENTS[1]!;
  await c.emr.book(other.id, { providerId: 'patel', typeId: 'checkup', date: '2026-11-27', time: '09:00', durationMin: 30 }, 'someone-else');
  reply = spoken(await c.say('yes'));
  assert.match(reply, 'that time was just taken');
  assert.match(reply, 'I have');
  assert.not.match(reply, 'at 9 AM;');
});

test('barge-in stops the reply, but a confirmed booking still completes', async () => {
  const c = conversation({ callerNumber: JANE, emr: { latencyMs: { book: 150 } } });
  await c.start();
  await c.say('book a checkup with doctor patel on friday');
  await c.say('march third nineteen eighty one');
  await c.say('first');
  const controller = new AbortController();
  const seen: DialogAction[] = [];
  for await (const action of c.session.respond({ type: 'utterance', text: 'yes' }, controller.signal)) {
    seen.push(action);
    controller.abort();
  }
  assert.is(seen.length, 1, 'nothing is yielded after the abort');
  const next = spoken(await c.say('no thanks'));
  assert.match(next, 'Goodbye');
  assert.is(newAppointments(c.emr).length, 1);
});

test('prompt overrides from the clinic config', async () => {
  const clinic = parseClinicConfig({ ...structuredClone(defaultClinicConfig()), prompts: { greeting: 'Hello from {clinic}!' } });
  const c = conversation({ clinic, callerNumber: JANE });
  assert.is(spoken(await c.start()).startsWith('Hello from Maple Street Family Clinic!'), true);
});

test('ASR-style input: misheard names, fillers and digits inside words still work', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  await c.say('um yeah i need a check up with doctor new yen');
  let reply = spoken(await c.say('uh its march uh third nineteen eighty one'));
  assert.match(reply, 'What day and time');
  reply = spoken(await c.say('how about next tuesday after two'));
  assert.match(reply, 'with Doctor Sam Nguyen: first, Tuesday, December 1st at 2 PM');
});

test('keypad details: 6-digit DOB ended by a pause, star goes back, speech-unavailable while asking a name', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  await c.press('2');
  assert.equal(await c.press('0303'), []);
  let reply = spoken(await c.press('*'));
  assert.match(reply, 'To book an appointment, press 1', 'star inside an entry goes back');
  await c.press('2');
  assert.equal(await c.press('030381'), []);
  reply = spoken(await c.silence());
  assert.match(reply, 'You have 2 upcoming appointments', 'a pause after the digits submits them');

  const u = conversation({ callerNumber: UNKNOWN });
  await u.start();
  reply = spoken(await u.say('i want to cancel'));
  assert.match(reply, 'first and last name');
  reply = spoken(await u.send({ type: 'speech-unavailable', reason: 'asr failed' }));
  assert.match(reply, 'enter the phone number we have on file');
  await u.press('5555550102');
  reply = spoken(await u.press('07041975'));
  assert.match(reply, 'Cancel your sick visit');
});

test('fixed prompts are cacheable, personal ones are not', async () => {
  const c = conversation({ callerNumber: JANE });
  const start = await c.start();
  assert.ok(start.every((a) => a.type !== 'say' || a.cacheable === true));
  const menu = await c.press('1');
  assert.ok(menu.every((a) => a.type !== 'say' || a.cacheable === true), 'the DOB question is fixed');
  const identified = await c.press('03031981');
  const thanks = identified.find((a) => a.type === 'say' && a.text.startsWith('Thank you, Jane'));
  assert.is(thanks && thanks.type === 'say' && thanks.cacheable, false);
  const typeMenu = identified.find((a) => a.type === 'say' && a.text.startsWith('For a check-up'));
  assert.is(typeMenu && typeMenu.type === 'say' && typeMenu.cacheable, true, 'a menu built from the clinic config is fixed');
  await c.press('1');
  await c.press('1');
  const offers = await c.press('1');
  assert.ok(offers.some((a) => a.type === 'say' && a.cacheable === false && /press 1/.test(a.text)));
});

test('the example clinic file drives the same dialog (its zone, types, notice and prompts)', async () => {
  const clinic = loadClinicConfig(fileURLToPath(new URL('../../config/clinic.example.json', import.meta.url)));
  const c = conversation({ clinic, callerNumber: JANE });
  let reply = spoken(await c.start());
  assert.match(reply, 'Thanks for calling Riverside Family Medicine. You are speaking with our automated assistant.');
  await c.say('i would like to book my yearly physical with doctor okafor');
  reply = spoken(await c.say('march third nineteen eighty one'));
  assert.match(reply, 'What day and time');
  // Monday 08:00 in Chicago with two hours' notice; Okafor's Monday starts 08:30 in 20-minute steps: 10:10.
  reply = spoken(await c.say('first available'));
  assert.match(reply, 'with Doctor Amaka Okafor: first, today at 10:10 AM; second, today at 1 PM');
  reply = spoken(await c.press('1'));
  assert.match(reply, 'To confirm: an annual physical with Doctor Amaka Okafor today at 10:10 AM');
});

test.run();
