/**
 * Everyday phrasings callers use, each with what it must be understood as. The first rows are the ones a new
 * user found misunderstood (issue: "Dialog as flows"); the rest were written as unseen variants before the rules
 * changed. Add a row when a real caller is misunderstood.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { detectEmergency, detectIntent, type Intent } from './nlu.js';
import { conversation, spoken } from './testing.js';

const PHRASINGS: ReadonlyArray<[string, Intent | 'emergency']> = [
  ['what appointments have i got', 'list'],
  ['have i got anything booked', 'list'],
  ["i'm not going to be able to come on thursday", 'cancel'],
  ['can i move it to later in the week', 'reschedule'],
  ['could somebody ring me back about my lab work', 'message'],
  ["i've run out of my metformin", 'refill'],
  ['my son took a whole bottle of pills', 'emergency'],
  ['do i have anything coming up', 'list'],
  ['am i booked in for anything', 'list'],
  ['what appointments do i have', 'list'],
  ["i won't be able to come in tomorrow", 'cancel'],
  ["i can't come to my appointment", 'cancel'],
  ["i'm unable to attend on friday", 'cancel'],
  ['can we change my appointment to next week', 'reschedule'],
  ['i need to move my appointment', 'reschedule'],
  ['can someone call me about my results', 'message'],
  ['please have the nurse ring me', 'message'],
  ["i'd like a call back about my bill", 'message'],
  ["i'm running low on my lisinopril", 'refill'],
  ['i ran out of my inhaler', 'refill'],
  ['my daughter swallowed some pills', 'emergency'],
  ['my husband took too many of his sleeping pills', 'emergency'],
  ['i think my kid drank bleach', 'emergency'],
  ['he took a handful of tablets', 'emergency'],
];

test('everyday phrasings are understood as what the caller means', () => {
  const wrong = PHRASINGS
    .map(([text, want]) => ({ text, want, got: detectEmergency(text) ? 'emergency' : detectIntent(text) }))
    .filter((row) => row.got !== row.want);
  assert.equal(wrong, []);
});

test('phrasings that are not emergencies stay ordinary requests', () => {
  for (const text of ['i need a refill of my blood pressure pills', 'i take two tablets a day']) {
    assert.is(detectEmergency(text), undefined, text);
  }
});

test('a swallowed bottle of pills gets emergency guidance at once, whatever the caller was doing', async () => {
  const c = conversation({ callerNumber: '+15555550101' });
  await c.start();
  await c.say('i want to book an appointment');
  const reply = spoken(await c.say('my son took a whole bottle of pills'));
  assert.match(reply, 'call 9 1 1');
});

test.run();
