/**
 * Emergencies, both sides: what must get 911 or crisis guidance at once, and the everyday requests that share
 * words with emergencies and must not. The fixture (understanding.test.ts) measures the same on more rows; these
 * are the cases each qualifier in nlu.ts exists for.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { detectEmergency, readRequest, type EmergencyKind } from './nlu.js';
import { conversation, spoken } from './testing.js';

const EMERGENCIES: ReadonlyArray<[string, EmergencyKind]> = [
  ['my husband collapsed', 'medical'],
  ["she's not breathing", 'medical'],
  ['no he is not breathing', 'medical'], // "no" answers a question; it denies nothing
  ["i don't know what to do he collapsed", 'medical'],
  ['pain in my chest going down my left arm', 'medical'],
  ['one side of her face is drooping', 'medical'],
  ['he has sudden weakness on one side', 'medical'],
  ['my son is having a seizure right now', 'medical'],
  ['she had a seizure a few minutes ago', 'medical'],
  ['my dad had a stroke this morning', 'medical'],
  ['he cut his hand and it will not stop bleeding', 'medical'],
  ['her lips and tongue are swelling', 'medical'],
  ['my toddler swallowed a battery last night', 'medical'],
  ['he took a whole bottle of his pills', 'medical'],
  ['my brother overdosed', 'medical'],
  ['i want to kill myself', 'crisis'],
  ["i don't want to be here anymore", 'crisis'],
  ["i'm going to end it", 'crisis'],
  ["i can't go on like this", 'crisis'],
  ['everyone would be better off without me', 'crisis'],
  ['i keep cutting myself', 'crisis'],
  ['he hurt himself on purpose', 'crisis'],
  ['i had thoughts of suicide last night', 'crisis'], // crisis words are never discounted as past
  ['im going to take a bunch of pills tonight', 'crisis'],
];

const ROUTINE: readonly string[] = [
  'i need an appointment for my back pain',
  'i want to get my chest x ray results',
  'i need a refill of my pain medication',
  'my son had a seizure last year and needs a follow up',
  'i need a refill on my nitroglycerin for chest pain',
  'i need to schedule a follow up for my dads stroke',
  "i'm not suicidal i just need a refill",
  'no chest pain just a cough',
  'not having any trouble breathing i just need my inhaler refilled',
  "i'm dying to know my test results",
  'my back is killing me',
  'i hurt myself playing soccer',
  'i have poison ivy',
  'i think i have food poisoning',
  "i can't wake up that early",
  "i can't go on tuesday",
  'my ankle is swelling up',
  'my number is 555 911 2020',
  'the emergency room told me to follow up with my doctor',
  'i am overdue for my physical',
  'i need a fitting for my brace',
];

for (const [text, kind] of EMERGENCIES) {
  test(`emergency: "${text}" -> ${kind}`, () => {
    assert.is(detectEmergency(text), kind);
    assert.equal(readRequest(text), { kind: 'emergency', emergency: kind });
  });
}

for (const text of ROUTINE) {
  test(`not an emergency: "${text}"`, () => {
    assert.is(detectEmergency(text), undefined);
    assert.is.not(readRequest(text).kind, 'emergency');
  });
}

test('an indirect crisis phrasing gets crisis guidance in the middle of a booking', async () => {
  const c = conversation({ callerNumber: '+15555550101' });
  await c.start();
  await c.say('i want to book an appointment');
  const reply = spoken(await c.say("honestly i don't want to be here anymore"));
  assert.match(reply, '9 8 8');
});

test.run();
