/**
 * The menu flow: a request that could mean two things gets a clarifying question, answered by voice or key.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { conversation, spoken } from '../testing.js';

const JANE = '+15555550101';

test('"it is about my appointment": which of list, change, cancel; the answer starts that task', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  const question = spoken(await c.say("it's about my appointment"));
  assert.match(question, 'Do you want to hear the appointments you have, change an appointment you have, or cancel an appointment?');
  assert.match(spoken(await c.say('cancel it')), 'date of birth');
  assert.match(spoken(await c.say('march third nineteen eighty one')), 'Which one would you like to cancel?');
});

test('two tasks in one sentence: the caller picks by ordinal or by key', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  assert.match(spoken(await c.say('i need a refill and also a check up')), 'Do you want to request a prescription refill, or book a new appointment?');
  assert.match(spoken(await c.say('the second one')), 'date of birth');
  assert.match(spoken(await c.say('march third nineteen eighty one')), 'What kind of visit');

  // The question asked by voice, then answered by key once the line loses speech recognition.
  const v = conversation({ callerNumber: JANE });
  await v.start();
  await v.say('i need to do something about my appointment');
  await v.press('#'); // repeat
  const keypad = spoken(await v.send({ type: 'speech-unavailable', reason: 'asr-failed' }));
  assert.match(keypad, 'To hear the appointments you have, press 1. To change an appointment you have, press 2. To cancel an appointment, press 3.');
  assert.match(spoken(await v.press('1')), 'date of birth');
});

test('a clear request of its own at the clarifying question is taken as it is', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  await c.say("it's about my appointment");
  assert.match(spoken(await c.say('actually what are your hours')), 'We are open');
});

test.run();
