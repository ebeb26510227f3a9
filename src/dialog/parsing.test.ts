import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseDob, parseSpokenDate, numeralize } from './dates.js';
import { parseSpokenNumber, spokenDigits } from './numbers.js';
import {
  afterYesNo, detectEmergency, detectGlobalCommand, detectIntent, parseName, parseOrdinalPick, parseYesNo, type Intent,
} from './nlu.js';
import { speakDate, speakTime, zonedParts } from './clock.js';

const TODAY = '2026-11-23';
/** Monday 23 November 2026, 9:00 in New York. */
const NOW = new Date('2026-11-23T14:00:00Z');
const NY = { now: NOW, timeZone: 'America/New_York' };

const dob = suite('parseDob');
const DOB_TABLE: Array<[string, string | undefined]> = [
  ['march third nineteen eighty one', '1981-03-03'],
  ['three three eighty one', '1981-03-03'],
  ['oh three oh three nineteen eighty one', '1981-03-03'],
  ['zero three zero three eighty one', '1981-03-03'],
  ['03/03/1981', '1981-03-03'],
  ['3-3-81', '1981-03-03'],
  ['03031981', '1981-03-03'],
  ['0 3 0 3 1 9 8 1', '1981-03-03'],
  // Six digits one by one with a leading zero: the zero merges with the digit after it.
  ['oh one one five eight five', '1985-01-15'],
  ['zero one one five eight five', '1985-01-15'],
  ['the third of march 1981', '1981-03-03'],
  ['march 3rd 1981', '1981-03-03'],
  ['its march the third nineteen eighty one', '1981-03-03'],
  ['my date of birth is july fourth nineteen seventy six', '1976-07-04'],
  ['twelve twenty five nineteen ninety', '1990-12-25'],
  ['december twenty fifth ninety', '1990-12-25'],
  ['one twelve two thousand', '2000-01-12'],
  ['eleven five two thousand and five', '2005-11-05'],
  ['june tenth twenty ten', '2010-06-10'],
  ['january first nineteen oh five', '1905-01-01'],
  ['three thirty one eighty one', '1981-03-31'],
  ['feb twenty ninth two thousand', '2000-02-29'],
  ['oh one oh two twenty', '2020-01-02'],
  // Not a complete or real date of birth.
  ['february thirtieth nineteen eighty', undefined],
  ['february twenty ninth nineteen eighty one', undefined],
  ['march third', undefined],
  ['nineteen eighty one', undefined],
  ['thirteen five eighty', undefined],
  ['december first twenty thirty', undefined],
  ['i dont know', undefined],
  ['', undefined],
];
for (const [spoken, expected] of DOB_TABLE) {
  dob(`"${spoken}" -> ${expected}`, () => {
    assert.is(parseDob(spoken, TODAY), expected);
  });
}
dob.run();

const when = suite('parseSpokenDate (clinic zone America/New_York, now Monday 2026-11-23 09:00)');
const WHEN_TABLE: Array<[string, Record<string, unknown> | undefined]> = [
  ['tomorrow', { date: '2026-11-24' }],
  ['tomorrow afternoon', { date: '2026-11-24', partOfDay: 'afternoon', earliestTime: '12:00', latestTime: '17:00' }],
  ['next tuesday morning', { date: '2026-12-01', partOfDay: 'morning', earliestTime: '07:00', latestTime: '12:00' }],
  ['tuesday at ten thirty', { date: '2026-11-24', time: '10:30' }],
  ['friday at nine a m', { date: '2026-11-27', time: '09:00' }],
  ['wednesday at two fifteen p m', { date: '2026-11-25', time: '14:15' }],
  ['thursday at three', { date: '2026-11-26', time: '15:00' }],
  ['at ten oclock', { time: '10:00' }],
  ['the fifth at three', { date: '2026-12-05', time: '15:00' }],
  ['the twenty fifth', { date: '2026-11-25' }],
  ['the tenth', { date: '2026-12-10' }],
  ['december second', { date: '2026-12-02' }],
  ['january third', { date: '2027-01-03' }],
  ['after three', { earliestTime: '15:00' }],
  ['before noon on friday', { date: '2026-11-27', latestTime: '12:00' }],
  ['next week', { fromDate: '2026-11-30', toDate: '2026-12-06' }],
  ['sometime next week in the afternoon', { fromDate: '2026-11-30', toDate: '2026-12-06', partOfDay: 'afternoon', earliestTime: '12:00', latestTime: '17:00' }],
  ['first available', { asap: true }],
  ['as soon as possible', { asap: true }],
  ['tuesday no wednesday', { date: '2026-11-25' }],
  ['i want a checkup', undefined],
  ['doctor patel', undefined],
];
for (const [spoken, expected] of WHEN_TABLE) {
  when(`"${spoken}"`, () => {
    assert.equal(parseSpokenDate(spoken, NY), expected);
  });
}
when('uses the clinic zone, not the server zone: late evening in New York is already tomorrow in UTC', () => {
  const lateEvening = new Date('2026-11-24T03:30:00Z'); // Monday 22:30 in New York
  assert.equal(parseSpokenDate('tomorrow', { now: lateEvening, timeZone: 'America/New_York' }), { date: '2026-11-24' });
  assert.equal(parseSpokenDate('tomorrow', { now: lateEvening, timeZone: 'Europe/London' }), { date: '2026-11-25' });
});
when('numeralize feeds chrono numerals', () => {
  assert.is(numeralize('the twenty first at ten thirty a m'), 'the 21st at 10:30 am');
  assert.is(numeralize('three oh five pm'), '3:05 pm');
});
when.run();

const numbers = suite('spoken numbers');
numbers('digits as spoken', () => {
  assert.is(spokenDigits('five five five double one two three four'), '55511234');
  assert.is(spokenDigits('five five five twelve thirty four'), '5551234');
  assert.is(spokenDigits('my number is 555-555-0101'), '5555550101');
  assert.is(spokenDigits('oh three oh three'), '0303');
});
numbers('single numbers', () => {
  assert.is(parseSpokenNumber('twenty three'), 23);
  assert.is(parseSpokenNumber('the third'), 3);
  assert.is(parseSpokenNumber('one hundred and five'), 105);
  assert.is(parseSpokenNumber('two thousand twelve'), 2012);
  assert.is(parseSpokenNumber('nothing here'), undefined);
  assert.is(parseSpokenNumber('one two'), undefined);
});
numbers.run();

const nlu = suite('yes/no, intents, emergencies, names, picks');
const YES_NO: Array<[string, 'yes' | 'no' | undefined]> = [
  ['yes', 'yes'], ['yeah', 'yes'], ['yep thats right', 'yes'], ['sure', 'yes'], ['correct', 'yes'], ['uh huh', 'yes'],
  ['okay', 'yes'], ['um yes please', 'yes'], ['that works', 'yes'], ['go ahead', 'yes'], ['absolutely', 'yes'],
  ['no', 'no'], ['nope', 'no'], ['nah', 'no'], ['no tuesday', 'no'], ['not really', 'no'], ['dont', 'no'],
  ['thats wrong', 'no'], ['no thank you', 'no'],
  ['i dont know', undefined], ['maybe', undefined], ['tuesday', undefined], ['', undefined],
];
for (const [text, expected] of YES_NO) nlu(`yes/no "${text}" -> ${expected}`, () => assert.is(parseYesNo(text), expected));
nlu('corrections keep what follows the no', () => {
  assert.is(afterYesNo('no tuesday'), 'tuesday');
  assert.is(afterYesNo("no, I said Wednesday"), 'wednesday');
  assert.is(afterYesNo('no make it the afternoon'), 'the afternoon');
});
const INTENTS: Array<[string, Intent | undefined]> = [
  ['i need to make an appointment', 'book'], ['i want to see the doctor', 'book'], ['book a checkup', 'book'],
  ['when is my next appointment', 'list'], ['do i have any appointments', 'list'],
  ['i need to reschedule', 'reschedule'], ['can i move my appointment to friday', 'reschedule'],
  ['i need to cancel my appointment', 'cancel'], ['i cant make it tomorrow', 'cancel'],
  ['i need a refill on my blood pressure medication', 'refill'], ['prescription', 'refill'],
  ['can someone call me back', 'message'], ['i want to leave a message', 'message'],
  ['what are your hours', 'hours'], ['what time do you close on saturday', 'hours'],
  ['where are you located', 'address'], ['how do i get there', 'directions'], ['is there parking', 'directions'],
  ['operator', 'operator'], ['let me talk to a real person', 'operator'], ['representative', 'operator'],
  ['can i speak with someone', 'operator'], ['i need to talk to the nurse', 'operator'],
  ['id like someone to look at her rash', undefined],
  ['say that again', 'repeat'], ['help', 'help'], ['go back', 'back'], ['start over', 'main-menu'],
  ['no thats all', 'goodbye'], ['bye', 'goodbye'],
  ['purple monkey dishwasher', undefined], ['', undefined],
];
for (const [text, expected] of INTENTS) nlu(`intent "${text}" -> ${expected}`, () => assert.is(detectIntent(text), expected));
nlu('global commands are only the navigation ones', () => {
  assert.is(detectGlobalCommand('operator please'), 'operator');
  assert.is(detectGlobalCommand('can you repeat that'), 'repeat');
  assert.is(detectGlobalCommand('book an appointment'), undefined);
  assert.is(detectGlobalCommand('can someone call me back'), undefined);
});
const EMERGENCIES: Array<[string, 'medical' | 'crisis' | undefined]> = [
  ['i have chest pain', 'medical'], ['my husband cant breathe', 'medical'], ["he can't breathe", 'medical'],
  ['i think im having a stroke', 'medical'], ['shes having a heart attack', 'medical'], ['chess pain', 'medical'],
  ['my son is unconscious', 'medical'], ['i am suicidal', 'crisis'], ['i want to kill myself', 'crisis'],
  ['i took an overdose', 'crisis'],
  ['no chest pain just a cough', undefined], ['i dont have chest pain', undefined], ['i need a refill', undefined],
  ['book a checkup', undefined],
];
for (const [text, expected] of EMERGENCIES) nlu(`emergency "${text}" -> ${expected}`, () => assert.is(detectEmergency(text), expected));
nlu('names', () => {
  assert.equal(parseName('my name is jane doe'), { first: 'jane', last: 'doe' });
  assert.equal(parseName('this is john smith speaking'), { first: 'john', last: 'smith' });
  assert.equal(parseName('maria de la garcia'), { first: 'maria', last: 'garcia' });
  assert.equal(parseName("it's mary-ann o'neil"), { first: 'mary', last: 'neil' });
  assert.is(parseName('jane'), undefined);
  assert.is(parseName(''), undefined);
});
nlu('ordinal picks', () => {
  assert.is(parseOrdinalPick('the first one', 3), 0);
  assert.is(parseOrdinalPick('second', 3), 1);
  assert.is(parseOrdinalPick('number three', 3), 2);
  assert.is(parseOrdinalPick('the last one', 2), 1);
  assert.is(parseOrdinalPick('two', 3), 1);
  assert.is(parseOrdinalPick('the third', 2), undefined);
  assert.is(parseOrdinalPick('tuesday', 3), undefined);
});
nlu.run();

const clock = suite('clinic clock');
clock('zoned parts and spoken dates and times', () => {
  assert.equal(zonedParts(NOW, 'America/New_York'), { date: '2026-11-23', time: '09:00', weekday: 'mon', offsetMinutes: -300 });
  assert.equal(zonedParts(new Date('2026-07-01T12:00:00Z'), 'America/Los_Angeles').offsetMinutes, -420);
  assert.is(speakDate('2026-12-02', TODAY), 'Wednesday, December 2nd');
  assert.is(speakDate('2027-01-01', TODAY), 'Friday, January 1st, 2027');
  assert.is(speakTime('09:00'), '9 AM');
  assert.is(speakTime('14:30'), '2:30 PM');
  assert.is(speakTime('12:00'), 'noon');
  assert.is(speakTime('00:15'), '12:15 AM');
});
clock.run();
