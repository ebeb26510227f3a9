/**
 * The engine's own contracts, below the scripted conversations of ../receptionist.test.ts: the expectation
 * each question publishes (and how it judges partial answers), the spent pound after a completed entry, and
 * call ids on every dialog log line.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import { createLogger } from '../../log.js';
import { EmrError } from '../../emr/types.js';
import { conversation, spoken } from '../testing.js';
import type { AnswerExpectation, DialogSession } from '../types.js';
import { NODES } from '../flows/index.js';

const JANE = '+15555550101';
const UNKNOWN = '+15550009999';

function expectationOf(session: DialogSession): AnswerExpectation {
  const expectation = session.expectation?.();
  assert.ok(expectation, 'a question is on the table');
  return expectation!;
}

test('every node declares what it expects', () => {
  const kinds = new Set(['yes-no', 'menu-choice', 'date-of-birth', 'date-time', 'phone-number', 'person-name', 'medication', 'free-text', 'digits']);
  const c = conversation();
  for (const node of Object.values(NODES)) {
    const expects = node.expects(c.session as never);
    assert.ok(kinds.has(expects.kind), `${node.id} expects ${expects.kind}`);
  }
});

test('the question on the table judges partial answers with its own reader', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  let e = expectationOf(c.session);
  assert.equal([e.node, e.kind], ['main', 'menu-choice']);
  assert.is(e.assess('i would like to'), 'incomplete', 'a request that stops mid-phrase holds the turn');
  assert.is(e.assess('i would like to book an appointment'), 'complete', 'the menu reader understands it');
  assert.is(e.assess('my chest hurts and i can t breathe'), 'complete', 'an emergency never waits');
  assert.is(e.assess('purple'), 'not-an-answer');

  await c.say('i want to leave a message');
  await c.say('march third nineteen eighty one');
  e = expectationOf(c.session);
  assert.equal([e.node, e.kind], ['message-body', 'free-text']);
  assert.is(e.assess('i wanted to ask about'), 'incomplete');
  assert.is(e.assess('please ask doctor patel to call me about my results'), 'complete');

  await c.say('please ask doctor patel to call me about my results');
  e = expectationOf(c.session);
  assert.equal([e.node, e.kind], ['message-confirm', 'yes-no']);
  assert.is(e.assess('yes'), 'complete');
  assert.is(e.assess('yes but'), 'incomplete');
});

test('date of birth and phone number: incomplete until the year or the tenth digit', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  await c.say('when is my next appointment');
  let e = expectationOf(c.session);
  assert.equal([e.node, e.kind], ['id-dob', 'date-of-birth']);
  assert.is(e.assess('march third'), 'incomplete');
  assert.is(e.assess('march third nineteen eighty one'), 'complete');
  assert.ok(e.keypadEntry, 'the date of birth can be typed');
  assert.is(e.keypadEntry!.complete('0303198'), false);
  assert.is(e.keypadEntry!.complete('03031981'), true);

  const u = conversation({ callerNumber: UNKNOWN, speechAvailable: false });
  await u.start();
  await u.press('2');
  e = expectationOf(u.session);
  assert.equal([e.node, e.kind], ['id-phone', 'phone-number']);
  assert.is(e.assess('five five five five five five zero one zero'), 'incomplete', 'nine digits');
  assert.is(e.assess('five five five five five five zero one zero two'), 'complete');
  assert.is(e.keypadEntry!.complete('155555501'), false, 'a leading 1 needs eleven digits');
});

test('a new question is a new expectation; the same one read again is not', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  const first = expectationOf(c.session).question;
  assert.is(expectationOf(c.session).question, first);
  await c.say('purple'); // not understood: the question is asked again
  assert.ok(expectationOf(c.session).question > first);
  c.session.close();
  assert.is(c.session.expectation?.(), undefined, 'nothing is asked once the call is over');
});

test('a pound right after an entry that completed by itself is swallowed, in every digit-entry node', async () => {
  // Date of birth (8 digits), then the date of a booking (4 digits).
  const c = conversation({ callerNumber: JANE, speechAvailable: false });
  await c.start();
  await c.press('1');
  assert.match(spoken(await c.press('03031981')), 'Thank you, Jane');
  assert.equal(await c.press('#'), [], 'the pound the prompt asked for does nothing');
  assert.match(spoken(await c.press('#')), 'press 1', 'a second pound repeats the question as usual');
  await c.press('2');
  await c.press('1');
  await c.press('4');
  const offers = spoken(await c.press('1201'));
  assert.match(offers, 'press 1');
  assert.equal(await c.press('#'), []);

  // A phone number typed where a name was asked (10 digits), and at the phone prompt.
  for (const start of [{ speechAvailable: true, key: '2' }, { speechAvailable: false, key: '2' }]) {
    const u = conversation({ callerNumber: UNKNOWN, speechAvailable: start.speechAvailable });
    await u.start();
    if (start.speechAvailable) await u.say('i want to hear my appointments');
    else await u.press(start.key);
    assert.match(spoken(await u.press('5555550102')), 'date of birth');
    assert.equal(await u.press('#'), []);
  }

  // A pound that ends an entry early is the entry's terminator, not swallowed.
  const e = conversation({ callerNumber: JANE, speechAvailable: false });
  await e.start();
  await e.press('1');
  assert.match(spoken(await e.press('030381#')), 'Thank you, Jane', 'six digits and pound');
});

/** Sends one input as a tentative turn; `settle` confirms or withdraws it. */
function tentativeTurn(session: DialogSession, text: string) {
  let settle!: (confirmed: boolean) => void;
  const settled = new Promise<boolean>((resolve) => { settle = resolve; });
  const actions: Promise<string> = (async () => {
    const said: string[] = [];
    for await (const action of session.respond({ type: 'utterance', text }, new AbortController().signal, settled)) {
      if (action.type === 'say') said.push(action.text);
    }
    return said.join(' ');
  })();
  return { settle, actions };
}

test('a withdrawn tentative turn is undone: same question, same state, and the EMR never heard of it', async () => {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk, _encoding, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  const c = conversation({ callerNumber: JANE, policy: { logger: createLogger('info', sink) } });
  assert.ok(c.session.undoesTentativeTurns);
  await c.start();
  await c.say('i want to leave a message');
  await c.say('march third nineteen eighty one');
  await c.say('please ask doctor patel to call me about my results');
  const before = expectationOf(c.session);
  assert.equal([before.node, before.kind], ['message-confirm', 'yes-no']);

  const yes = tentativeTurn(c.session, 'yes');
  await new Promise((r) => setTimeout(r, 30));
  assert.is(c.emr.staffMessages().length, 0, 'nothing is sent while the turn may still go on');
  yes.settle(false); // the caller went on: "yes ... no wait"
  await yes.actions;
  const after = expectationOf(c.session);
  assert.equal([after.node, after.question], [before.node, before.question], 'the same question is still on the table');
  assert.is(c.emr.staffMessages().length, 0, 'the withdrawn yes sent no message');
  assert.equal(lines.map((l) => l.msg).filter((m) => /transfer|failed/.test(String(m))), [], 'it stopped where it would have reached the EMR: no failure, no transfer');

  const confirmed = tentativeTurn(c.session, 'yes');
  confirmed.settle(true);
  assert.match(await confirmed.actions, /sent|message/i);
  assert.is(c.emr.staffMessages().length, 1, 'the confirmed yes sends it, once');
});

test('a tentative answer prepares the same reply the confirmed turn would give', async () => {
  const c = conversation({ callerNumber: JANE });
  await c.start();
  const t = tentativeTurn(c.session, 'i want to leave a message');
  const reply = t.actions;
  t.settle(true);
  assert.match(await reply, /date of birth/i);
  assert.is(expectationOf(c.session).kind, 'date-of-birth');
});

test('every dialog log line carries the call id, and no patient data', async () => {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk, _encoding, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  const logger = createLogger('info', sink);
  const c = conversation({
    callerNumber: JANE,
    policy: { logger },
    emr: {},
  });
  await c.start();
  await c.say('book a sick visit tomorrow afternoon with doctor nguyen');
  await c.say('march third nineteen eighty one');
  await c.say('the first one');
  await c.say('yes');
  await c.say('i need to speak to the front desk');
  const down = conversation({ callerNumber: JANE, policy: { logger } });
  down.emr.listAppointments = async () => { throw new EmrError('unavailable', 'down'); };
  await down.start();
  await down.say('when is my next appointment');
  await down.say('march third nineteen eighty one');
  await new Promise((resolve) => setImmediate(resolve));
  const dialogLines = lines.filter((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('dialog'));
  const messages = new Set(dialogLines.map((l) => l.msg));
  for (const msg of ['dialog appointment saved', 'dialog transfer', 'dialog EMR request failed']) assert.ok(messages.has(msg), `${msg} was logged`);
  assert.ok(dialogLines.every((l) => l.callId === 'test-call'), 'each names its call');
  const raw = JSON.stringify(lines);
  for (const secret of ['Jane', '5555550101', '1981']) assert.not.ok(raw.includes(secret), `${secret} not logged`);
});

test.run();
