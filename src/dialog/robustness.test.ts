/**
 * Random caller behaviour (seeded, so a failure replays): whatever the caller does, every turn finishes, the bot
 * answers every completed input, nothing is said after a transfer or hang-up, no turn fails internally, and no
 * appointment is booked or cancelled without a yes just before it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Logger } from '../log.js';
import { conversation, spoken } from './testing.js';
import type { DialogAction, DialogInput } from './types.js';

const UTTERANCES = [
  'book an appointment', 'i need to cancel', 'reschedule please', 'when is my appointment', 'refill', 'leave a message',
  'what are your hours', 'march third nineteen eighty one', 'july fourth nineteen seventy five', 'jane doe', 'maria garcia',
  'yes', 'no', 'no friday', 'the second one', 'first available', 'tomorrow afternoon', 'doctor patel', 'a sick visit',
  'repeat that', 'help', 'go back', 'start over', 'purple monkey', '', 'uh', 'other times', 'the cvs on main', 'metformin',
  'please call me back about my results', 'thats all', 'anyone is fine', 'next week in the morning', 'twelve',
];
/** Answers that move a call on, so random calls also reach the deeper states. */
const COOPERATIVE = ['book a checkup', 'march third nineteen eighty one', 'yes', 'first available', 'the first one', 'cancel my appointment', 'anyone'];
const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', '0'];

function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function silentLogger(errors: string[]): Logger {
  const logger = {
    error: (obj: unknown) => { errors.push(JSON.stringify(obj)); },
    warn: () => {}, info: () => {}, debug: () => {}, trace: () => {}, fatal: () => {},
    child: () => logger,
  };
  return logger as unknown as Logger;
}

test('random callers never crash the dialog, never hear silence, never book without a yes', async () => {
  let identifiedCalls = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const random = rng(seed);
    const errors: string[] = [];
    const c = conversation({
      callerNumber: random() < 0.5 ? '+15555550101' : '+15550009999',
      policy: { logger: silentLogger(errors), fillerAfterMs: 1_000 },
    });
    let ended = false;
    await c.start();
    for (let step = 0; step < 30; step++) {
      const roll = random();
      let input: DialogInput;
      if (roll < 0.3) input = { type: 'utterance', text: COOPERATIVE[Math.floor(random() * COOPERATIVE.length)]! };
      else if (roll < 0.55) input = { type: 'utterance', text: UTTERANCES[Math.floor(random() * UTTERANCES.length)]! };
      else if (roll < 0.85) input = { type: 'dtmf', digit: KEYS[Math.floor(random() * KEYS.length)]! };
      else if (roll < 0.95) input = { type: 'no-input' };
      else input = { type: 'interrupted', heardText: '' };
      const bookedBefore = c.emr.callCount('book') + c.emr.callCount('cancel') + c.emr.callCount('reschedule');
      const actions: DialogAction[] = await c.send(input);
      const bookedAfter = c.emr.callCount('book') + c.emr.callCount('cancel') + c.emr.callCount('reschedule');
      const isYes = (input.type === 'utterance' && /^(yes|yeah)/.test(input.text)) || (input.type === 'dtmf' && input.digit === '1');
      const context = `seed ${seed} step ${step} ${JSON.stringify(input)} -> ${spoken(actions)}`;
      if (bookedAfter > bookedBefore) assert.ok(isYes, `an EMR change only right after a yes: ${context}`);
      if (ended) {
        assert.equal(actions, [], `nothing after the end: ${context}`);
        continue;
      }
      const terminal = actions.filter((a) => a.type === 'transfer' || a.type === 'hangup');
      assert.ok(terminal.length <= 1, context);
      if (terminal.length === 1) {
        assert.is(actions[actions.length - 1]!.type, terminal[0]!.type, `the end comes last: ${context}`);
        ended = true;
      }
      const mayBeSilent = input.type === 'interrupted' || input.type === 'dtmf';
      if (!mayBeSilent) assert.ok(actions.some((a) => a.type === 'say'), `the caller always hears something: ${context}`);
    }
    assert.equal(errors, [], `seed ${seed}: no turn failed internally`);
    if (c.emr.callCount('listAppointments') + c.emr.callCount('findAvailability') + c.emr.staffMessages().length > 0) identifiedCalls++;
    c.session.close();
  }
  assert.ok(identifiedCalls >= 5, `random callers reach the EMR-backed states often enough to matter (${identifiedCalls})`);
});

test.run();
