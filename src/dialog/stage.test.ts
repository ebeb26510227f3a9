import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Frame, FrameOf } from '../pipeline/frames.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { DialogStage, type DialogStageOptions } from './stage.js';
import type { DialogAction, DialogInput, DialogSession } from './types.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise the test resolves by hand, to hold a response at a chosen point. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => { open = resolve; });
  return { opened, open };
}

type Script = (input: DialogInput, signal: AbortSignal) => AsyncIterable<DialogAction>;

/** An in-process dialog session that answers from a script and records what it was asked. */
class ScriptedSession implements DialogSession {
  readonly inputs: DialogInput[] = [];
  readonly signals: AbortSignal[] = [];
  readonly events: string[] = [];
  closed = 0;
  constructor(private readonly script: Script) {}

  async *respond(input: DialogInput, signal: AbortSignal): AsyncIterable<DialogAction> {
    this.inputs.push(input);
    this.signals.push(signal);
    this.events.push(`start:${input.type}`);
    try {
      yield* this.script(input, signal);
    } finally {
      this.events.push(`end:${input.type}`);
    }
  }

  close(): void {
    this.closed++;
  }
}

/** Says "you said X" to every input; a call-start is greeted. */
async function* echoScript(input: DialogInput): AsyncIterable<DialogAction> {
  await Promise.resolve();
  if (input.type === 'call-start') yield { type: 'say', text: 'Hello, how can I help?', cacheable: true };
  else if (input.type === 'utterance') yield { type: 'say', text: `you said ${input.text}` };
  else if (input.type === 'dtmf') yield { type: 'say', text: `you pressed ${input.digit}` };
  else yield { type: 'say', text: `got ${input.type}` };
}

const openPipelines: Pipeline[] = [];
test.after.each(async () => {
  await Promise.all(openPipelines.splice(0).map((p) => p.close()));
});

function harness(script: Script, options: Partial<DialogStageOptions> = {}, playout: { speakOnReply?: boolean } = {}) {
  const clock = { now: 1000 };
  const session = new ScriptedSession(script);
  const down: Frame[] = [];
  const up: Frame[] = [];
  const errors: unknown[] = [];
  const replyLatencies: number[] = [];
  const stage = new DialogStage(session, {
    noInputMs: 10_000, callerNumber: '+15555550100', now: () => clock.now,
    onReplyLatency: (ms) => replyLatencies.push(ms), ...options,
  });
  const pipeline = new Pipeline([stage], {
    onDownstreamOut: (frame) => {
      down.push(frame);
      // Like playout, the bot starts speaking as soon as a reply arrives (here: at once).
      if (playout.speakOnReply && frame.type === 'bot-reply') pipeline.pushUp({ type: 'bot-speaking', speaking: true, at: clock.now });
    },
    onUpstreamOut: (frame) => up.push(frame),
    onStageError: (_stage, err) => errors.push(err),
  });
  openPipelines.push(pipeline);
  const replies = () => down.filter((f): f is FrameOf<'bot-reply'> => f.type === 'bot-reply');
  return {
    clock, session, stage, pipeline, down, up, errors, replyLatencies, replies,
    /** Waits (briefly) until the condition holds; fails the test if it never does. */
    async until(condition: () => boolean, what: string, timeoutMs = 10_000) {
      const deadline = performance.now() + timeoutMs;
      while (!condition()) {
        if (performance.now() > deadline) assert.unreachable(`timed out waiting for ${what}`);
        await sleep(2);
      }
    },
    final(text: string) { pipeline.pushDown({ type: 'transcript', text, isFinal: true, at: clock.now }); },
    tentative(text: string) { pipeline.pushDown({ type: 'transcript', text, isFinal: true, tentative: true, at: clock.now }); },
    confirm() { pipeline.pushDown({ type: 'turn-confirmed', at: clock.now }); },
    withdraw() { pipeline.pushDown({ type: 'interruption', reason: 'turn-withdrawn', at: clock.now }); },
    partial(text: string) { pipeline.pushDown({ type: 'transcript', text, isFinal: false, at: clock.now }); },
    speechStart() { pipeline.pushDown({ type: 'speech-start', at: clock.now, onsetAt: clock.now - 100 }); },
    botSpeaking(speaking: boolean) { pipeline.pushUp({ type: 'bot-speaking', speaking, at: clock.now }); },
    played(turnId: number, lastInReply: boolean, extra: Partial<FrameOf<'sentence-played'>> = {}) {
      pipeline.pushUp({
        type: 'sentence-played', sentenceId: `${turnId}.0`, text: 'x', heardText: 'x', truncated: false,
        turnId, lastInReply, at: clock.now, ...extra,
      });
    },
    endCalls: () => up.filter((f): f is FrameOf<'end-call'> => f.type === 'end-call'),
  };
}

test('start() sends call-start with the caller number; a say becomes a bot-reply', async () => {
  const h = harness(echoScript);
  h.stage.start();
  await h.until(() => h.replies().length === 1, 'the greeting');
  assert.equal(h.session.inputs, [{ type: 'call-start', callerNumber: '+15555550100' }]);
  assert.equal(h.replies()[0], { type: 'bot-reply', text: 'Hello, how can I help?', turnId: 1, at: 1000, cacheable: true });
  assert.equal(h.replyLatencies, [], 'the greeting answers no caller input');
});

test('each new question the session asks goes upstream as an expectation frame, once', async () => {
  let question = 1;
  const h = harness(echoScript);
  (h.session as DialogSession).expectation = () => ({
    kind: 'yes-no', node: 'confirm', question, assess: () => 'complete',
  });
  h.stage.start();
  await h.until(() => h.up.some((f) => f.type === 'expectation'), 'the first expectation');
  h.final('hello');
  await h.until(() => h.replies().length === 2, 'the second reply');
  await sleep(5);
  assert.is(h.up.filter((f) => f.type === 'expectation').length, 1, 'the same question is not published twice');
  question = 2;
  h.final('again');
  await h.until(() => h.up.filter((f) => f.type === 'expectation').length === 2, 'the new question');
  const last = h.up.filter((f): f is FrameOf<'expectation'> => f.type === 'expectation').at(-1)!;
  assert.equal([last.expectation.kind, last.expectation.question], ['yes-no', 2]);
});

test('final transcripts become utterances; partials and a repeated empty final of one segment are dropped', async () => {
  const h = harness(echoScript);
  h.speechStart();
  h.partial('i want');
  h.final('i want to book');
  h.final(''); // a streaming recognizer's trailing empty final for the same segment
  await h.until(() => h.replies().length === 1, 'the reply');
  await sleep(10);
  assert.equal(h.session.inputs, [{ type: 'utterance', text: 'i want to book' }]);

  h.speechStart();
  h.final(''); // a new segment that heard nothing is still the caller's turn
  await h.until(() => h.replies().length === 2, 'the second reply');
  assert.equal(h.session.inputs.slice(1), [{ type: 'utterance', text: '' }]);
  assert.equal(h.down.filter((f) => f.type === 'transcript'), [], 'transcripts end here');
  assert.equal(h.down.map((f) => f.type), ['speech-start', 'bot-reply', 'speech-start', 'bot-reply']);
});

test('dtmf and speech-unavailable become inputs; the reply latency is timed from the input', async () => {
  const h = harness(async function* (input) {
    h.clock.now += 250; // the policy's thinking time, on the stage's clock
    yield* echoScript(input);
  });
  h.pipeline.pushDown({ type: 'dtmf', digit: '3', at: 1000 });
  await h.until(() => h.replies().length === 1, 'the dtmf reply');
  h.pipeline.pushDown({ type: 'speech-unavailable', reason: 'no engine', at: h.clock.now });
  await h.until(() => h.replies().length === 2, 'the speech-unavailable reply');
  assert.equal(h.session.inputs, [{ type: 'dtmf', digit: '3' }, { type: 'speech-unavailable', reason: 'no engine' }]);
  assert.equal(h.replies().map((r) => r.text), ['you pressed 3', 'got speech-unavailable']);
  assert.equal(h.replyLatencies, [250], 'timed for caller input only');
});

test('inputs are handled one at a time, in order; each reply gets a new, increasing turn id', async () => {
  const hold = gate();
  const h = harness(async function* (input) {
    if (input.type === 'utterance' && input.text === 'first') await hold.opened;
    yield* echoScript(input);
    if (input.type === 'utterance' && input.text === 'second') yield { type: 'say', text: 'and more' };
  });
  h.speechStart(); h.final('first');
  h.speechStart(); h.final('second');
  h.speechStart(); h.final('third');
  await sleep(10);
  assert.equal(h.session.events, ['start:utterance'], 'the next input waits for the current response');
  hold.open();
  await h.until(() => h.replies().length === 4, 'all replies');
  assert.equal(h.session.events, ['start:utterance', 'end:utterance', 'start:utterance', 'end:utterance', 'start:utterance', 'end:utterance']);
  assert.equal(h.replies().map((r) => [r.turnId, r.text]), [
    [1, 'you said first'], [2, 'you said second'], [3, 'and more'], [4, 'you said third'],
  ]);
});

test('a key press supersedes unsaid replies: a burst of keys reaches the dialog whole but costs one reply', async () => {
  const hold = gate();
  const h = harness(async function* (input) {
    if (input.type === 'utterance') await hold.opened;
    yield* echoScript(input);
  });
  h.speechStart(); h.final('first');
  for (const digit of '0123456789') h.pipeline.pushDown({ type: 'dtmf', digit, at: h.clock.now });
  hold.open();
  await h.until(() => h.session.events.length === 22, 'every input answered');
  assert.equal(h.session.inputs.filter((i) => i.type === 'dtmf').map((i) => (i as { digit: string }).digit).join(''), '0123456789',
    'the dialog sees every key, in order');
  assert.equal(h.replies().map((r) => r.text), ['you pressed 9'], 'only the reply to the last key is said');
});

test('a key pressed while a reply is on its way but not yet audible cancels that reply', async () => {
  const h = harness(echoScript);
  h.speechStart(); h.final('book me');
  await h.until(() => h.replies().length === 1, 'the reply');
  h.pipeline.pushDown({ type: 'dtmf', digit: '1', at: h.clock.now });
  const interruptions = h.down.filter((f): f is FrameOf<'interruption'> => f.type === 'interruption');
  assert.equal(interruptions.map((f) => f.reason), ['dialog'], 'TTS and playout drop the unheard reply');
  await h.until(() => h.replies().length === 2, 'the reply to the key');
  // Once the bot is audible, turn-taking interrupts on a key: the dialog does not do it a second time.
  h.botSpeaking(true);
  h.pipeline.pushDown({ type: 'dtmf', digit: '2', at: h.clock.now });
  assert.is(h.down.filter((f) => f.type === 'interruption').length, 1);
});

test('an interruption aborts the response in flight: no more replies from it', async () => {
  const hold = gate();
  const h = harness(async function* (input) {
    if (input.type !== 'utterance') return yield* echoScript(input);
    yield { type: 'say', text: 'Let me check.' };
    await hold.opened;
    yield { type: 'say', text: 'You are booked for Tuesday.' };
  });
  h.speechStart(); h.final('book me');
  await h.until(() => h.replies().length === 1, 'the first sentence');
  const interruption: Frame = { type: 'interruption', at: h.clock.now, reason: 'barge-in', speechOnsetAt: h.clock.now - 200 };
  h.pipeline.pushDown(interruption);
  assert.is(h.session.signals[0]!.aborted, true);
  assert.is(h.down.at(-1), interruption, 'the interruption passes on');
  hold.open();
  await h.until(() => h.session.events.includes('end:utterance'), 'the response to finish');
  assert.equal(h.replies().map((r) => r.text), ['Let me check.']);

  // The stage carries on with the next input.
  h.speechStart(); h.final('tuesday');
  await h.until(() => h.replies().length === 3, 'the next response');
  assert.equal(h.replies().map((r) => r.text), ['Let me check.', 'Let me check.', 'You are booked for Tuesday.']);
  assert.is(h.session.signals[1]!.aborted, false);
});

test('a truncated sentence-played becomes an interrupted input with the words heard', async () => {
  const h = harness(echoScript);
  h.played(1, false, { truncated: true, text: 'Your appointment is on Tuesday at nine.', heardText: 'Your appointment is' });
  await h.until(() => h.replies().length === 1, 'the reply');
  assert.equal(h.session.inputs, [{ type: 'interrupted', heardText: 'Your appointment is' }]);
  assert.equal(h.up.map((f) => f.type), ['sentence-played'], 'sentence-played passes up');
});

test('no-input fires after noInputMs of bot silence, not while the bot speaks; speech-start cancels it', async () => {
  const h = harness(echoScript, { noInputMs: 40 }, { speakOnReply: true });
  h.stage.start();
  await h.until(() => h.replies().length === 1, 'the greeting');
  await sleep(80);
  assert.equal(h.session.inputs.map((i) => i.type), ['call-start'], 'no reprompt while the bot speaks');

  h.botSpeaking(false);
  const quietAt = performance.now();
  await h.until(() => h.session.inputs.length === 2, 'the no-input');
  assert.ok(performance.now() - quietAt >= 38, 'after noInputMs of silence');
  assert.equal(h.session.inputs[1], { type: 'no-input' });
  await h.until(() => h.replies().length === 2, 'the reprompt');

  h.botSpeaking(false);
  h.speechStart(); // the caller starts talking: no reprompt, whatever the transcript takes
  await sleep(100);
  assert.equal(h.session.inputs.length, 2);
});

test('transfer waits for the last sentence of the last reply to play, then ends the call', async () => {
  const h = harness(async function* (input) {
    if (input.type !== 'utterance') return;
    yield { type: 'say', text: 'One moment.' };
    yield { type: 'say', text: 'I will connect you with the front desk.' };
    yield { type: 'transfer', reason: 'caller asked' };
  });
  h.speechStart(); h.final('front desk please');
  await h.until(() => h.session.events.includes('end:utterance'), 'the response');
  await sleep(5);
  const [filler, farewell] = h.replies();
  assert.ok(filler && farewell && farewell.turnId > filler.turnId);
  assert.equal(h.endCalls(), [], 'nothing has played yet');

  h.botSpeaking(true);
  h.played(filler.turnId, true); // the filler finished: the farewell is still playing
  assert.equal(h.endCalls(), []);
  h.played(farewell.turnId, false); // a sentence that is not the last one
  assert.equal(h.endCalls(), []);
  h.played(farewell.turnId, true);
  assert.equal(h.endCalls().map((f) => f.reason), ['transfer']);

  // The call is ending: later input is not answered and no second end-call goes out.
  h.botSpeaking(false);
  h.final('hello?');
  await sleep(10);
  assert.is(h.session.inputs.length, 1);
  assert.is(h.endCalls().length, 1);
});

test('transfer or hangup with nothing said ends the call at once', async () => {
  for (const [action, reason] of [['transfer', 'transfer'], ['hangup', 'completed']] as const) {
    const h = harness(async function* (input) {
      if (input.type === 'dtmf') yield { type: action, reason: 'keypad' };
    });
    h.pipeline.pushDown({ type: 'dtmf', digit: '0', at: h.clock.now });
    await h.until(() => h.endCalls().length === 1, `the end-call after ${action}`);
    assert.equal(h.endCalls()[0]!.reason, reason);
    assert.equal(h.replies(), []);
  }
});

test('a policy that throws is reported, apologises, and transfers once the apology has played', async () => {
  const h = harness(async function* (input) {
    if (input.type === 'utterance') throw new Error('policy bug');
    yield* echoScript(input);
  });
  h.speechStart(); h.final('what are your hours');
  await h.until(() => h.replies().length === 1, 'the apology');
  await sleep(5);
  assert.equal(h.errors.map((e) => (e as Error).message), ['policy bug']);
  const apology = h.replies()[0]!;
  assert.match(apology.text, /front desk/);
  assert.equal(h.endCalls(), [], 'the caller must hear the apology first');
  h.botSpeaking(true);
  h.played(apology.turnId, true);
  assert.equal(h.endCalls().map((f) => f.reason), ['transfer']);
});

test('close() aborts the response in flight and closes the session', async () => {
  const hold = gate();
  const h = harness(async function* (input) {
    if (input.type === 'utterance') await hold.opened;
    yield* echoScript(input);
  });
  h.speechStart(); h.final('hello');
  await sleep(5);
  await h.pipeline.close();
  assert.is(h.session.signals[0]!.aborted, true);
  assert.is(h.session.closed, 1);
  hold.open();
  await sleep(5);
  assert.equal(h.replies(), []);
});

/** A scripted session that, like the receptionist, can prepare a tentative turn (it is told how it settled). */
class UndoingSession extends ScriptedSession {
  readonly undoesTentativeTurns = true;
  readonly settled: boolean[] = [];
  override async *respond(input: DialogInput, signal: AbortSignal, tentative?: Promise<boolean>): AsyncIterable<DialogAction> {
    void tentative?.then((confirmed) => this.settled.push(confirmed));
    yield* super.respond(input, signal);
  }
}

function undoingHarness(recorded: string[]) {
  const h = harness(echoScript); // for its clock and `until`; the stage under test is built here
  const session = new UndoingSession(echoScript);
  const stage = new DialogStage(session, { noInputMs: 10_000, now: () => h.clock.now, onCallerUtterance: (text) => recorded.push(text) });
  const down: Frame[] = [];
  const up: Frame[] = [];
  const pipeline = new Pipeline([stage], { onDownstreamOut: (f) => down.push(f), onUpstreamOut: (f) => up.push(f), onStageError: (_s, err) => { throw err; } });
  openPipelines.push(pipeline);
  return { ...h, session, stage, pipeline, down, up,
    final(text: string) { pipeline.pushDown({ type: 'transcript', text, isFinal: true, at: h.clock.now }); },
    tentative(text: string) { pipeline.pushDown({ type: 'transcript', text, isFinal: true, tentative: true, at: h.clock.now }); },
    confirm() { pipeline.pushDown({ type: 'turn-confirmed', at: h.clock.now }); },
    withdraw() { pipeline.pushDown({ type: 'interruption', reason: 'turn-withdrawn', at: h.clock.now }); },
    replies: () => down.filter((f): f is FrameOf<'bot-reply'> => f.type === 'bot-reply'),
  };
}

test('a tentative turn is answered at once behind a playout hold, and recorded only once confirmed', async () => {
  const recorded: string[] = [];
  const h = undoingHarness(recorded);
  h.tentative('yes');
  await h.until(() => h.replies().length === 1, 'the prepared reply');
  assert.equal(h.down.map((f) => f.type), ['playout-hold', 'bot-reply'], 'held from the reply it prepares');
  assert.is((h.down[0] as FrameOf<'playout-hold'>).fromTurnId, h.replies()[0]!.turnId);
  assert.equal(recorded, [], 'not the caller\'s turn yet');
  h.confirm();
  await sleep(5);
  assert.equal(recorded, ['yes']);
  assert.equal(h.session.settled, [true]);
  assert.equal(h.down.at(-1)!.type, 'turn-confirmed', 'passed on: playout lets the reply go');
});

test('a withdrawn tentative turn is settled false, never recorded, and its question counts as never asked', async () => {
  const recorded: string[] = [];
  const h = undoingHarness(recorded);
  (h.session as DialogSession).expectation = () => ({ kind: 'yes-no', node: 'confirm', question: 2, assess: () => 'complete' });
  h.tentative('yes');
  await h.until(() => h.up.some((f) => f.type === 'expectation'), 'the prepared reply and its question (endpointing holds it)');
  h.withdraw();
  await sleep(5);
  assert.equal(h.session.settled, [false]);
  assert.equal(recorded, []);
  assert.equal(h.down.at(-1), { type: 'interruption', reason: 'turn-withdrawn', at: h.clock.now }, 'passed on: TTS and playout drop the reply');
  h.final('yes and no');
  await h.until(() => h.up.filter((f) => f.type === 'expectation').length === 2, 'the same question published again for the real turn');
  assert.equal(recorded, ['yes and no']);
});

test('a session that cannot undo gets a tentative turn only once it is confirmed', async () => {
  const recorded: string[] = [];
  const h = harness(echoScript, { onCallerUtterance: (text) => recorded.push(text) });
  h.tentative('yes');
  await sleep(5);
  assert.equal(h.session.inputs, []);
  h.confirm();
  await h.until(() => h.replies().length === 1, 'the reply after confirmation');
  assert.equal(h.session.inputs, [{ type: 'utterance', text: 'yes' }]);
  assert.equal(recorded, ['yes']);
  h.tentative('no');
  h.withdraw();
  await sleep(5);
  assert.is(h.session.inputs.length, 1, 'a withdrawn turn never reaches it');
});

test.run();
