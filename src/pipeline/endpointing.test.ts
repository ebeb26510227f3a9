import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assessByKind, type Expectation } from '../dialog/expectations.js';
import type { AnswerExpectation } from '../dialog/types.js';
import { EndpointingStage, vadSegmentSilenceMs, type EndpointingConfig, type TurnDecision } from './endpointing.js';
import type { Frame, FrameOf } from './frames.js';
import { Pipeline } from './pipeline.js';
import { loadConfig } from '../config/index.js';

const CONFIG: EndpointingConfig = {
  mode: 'expectation', segmentSilenceMs: 160, completeSilenceMs: 0, incompleteSilenceMs: 400, freeTextSilenceMs: 250, maxTurnMs: 20_000,
};
const DEFAULT_SILENCE_MS = 150;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function expecting(expectation: Expectation, question = 1): AnswerExpectation {
  return { ...expectation, node: 'test', question, assess: (text) => assessByKind(expectation, text, { today: '2026-12-02' }) };
}

/** An EndpointingStage in a real pipeline; segments are pushed as the VAD and ASR stages would send them. */
function harness(config: EndpointingConfig = CONFIG) {
  const down: Frame[] = [];
  const up: Frame[] = [];
  const decisions: TurnDecision[] = [];
  const pipeline = new Pipeline([new EndpointingStage({ config, defaultSilenceMs: DEFAULT_SILENCE_MS, onTurnReleased: (d) => decisions.push(d) })], {
    onDownstreamOut: (frame) => down.push(frame),
    onUpstreamOut: (frame) => up.push(frame),
    onStageError: (_stage, err) => { throw err; },
  });
  return {
    down, up, decisions,
    ask(expectation: Expectation, question = 1) { pipeline.pushUp({ type: 'expectation', expectation: expecting(expectation, question), at: performance.now() }); },
    /** One VAD segment that ended now, and (optionally later) its final. */
    segment(text: string | null) {
      this.speechStart();
      this.speechEnd();
      if (text !== null) this.final(text);
    },
    final(text: string) { pipeline.pushDown({ type: 'transcript', text, isFinal: true, at: performance.now() }); },
    partial(text: string) { pipeline.pushDown({ type: 'transcript', text, isFinal: false, at: performance.now() }); },
    speechStart() { const at = performance.now(); pipeline.pushDown({ type: 'speech-start', at, onsetAt: at }); },
    /** The VAD ends a segment whose last word ended just now. */
    speechEnd() { const at = performance.now(); pipeline.pushDown({ type: 'speech-end', at, lastSpeechAt: at, audio: new Int16Array(8), durationMs: 100 }); },
    push(frame: Frame) { pipeline.pushDown(frame); },
    /** Turns handed to the dialog for good (tentative ones are listed by `flow`). */
    turns: () => down.filter((f): f is FrameOf<'transcript'> => f.type === 'transcript' && f.isFinal && !f.tentative).map((f) => f.text),
    /** What the dialog was told about turns, in order: tentative hand-overs, confirmations, withdrawals, turns. */
    flow: () => down.flatMap((f) => {
      if (f.type === 'transcript' && f.isFinal) return [f.tentative ? `tentative: ${f.text}` : `turn: ${f.text}`];
      if (f.type === 'turn-confirmed') return ['confirmed'];
      if (f.type === 'interruption') return [`interruption: ${f.reason}`];
      return [];
    }),
  };
}

test('a complete answer is released as soon as its final arrives', () => {
  const h = harness();
  h.ask({ kind: 'yes-no' });
  h.segment('yes');
  assert.equal(h.turns(), ['yes']);
  assert.equal(h.decisions, [{ verdict: 'complete', segments: 1 }]);
});

test('a date of birth without its year is held open and the year joins the same turn', async () => {
  const h = harness();
  h.ask({ kind: 'date-of-birth' });
  h.segment('january fifteenth');
  await sleep(150);
  assert.equal(h.turns(), [], 'nothing reaches the dialog while the caller recalls the year');
  h.speechStart();
  await sleep(400); // longer than the incomplete wait, but the caller is speaking
  assert.equal(h.turns(), []);
  h.speechEnd();
  h.final('nineteen eighty five');
  assert.equal(h.turns(), ['january fifteenth nineteen eighty five']);
  assert.equal(h.decisions, [{ verdict: 'complete', segments: 2 }]);
});

test('an incomplete answer is released after the long wait when the caller says no more', async () => {
  const h = harness();
  h.ask({ kind: 'phone-number' });
  h.segment('five five five one two');
  await sleep(200);
  assert.equal(h.turns(), []);
  await sleep(350);
  assert.equal(h.turns(), ['five five five one two']);
  assert.equal(h.decisions[0]!.verdict, 'incomplete');
});

test('free text waits its own silence and keeps a paused message whole', async () => {
  const h = harness();
  h.ask({ kind: 'free-text' });
  h.segment('please ask the doctor to call me');
  await sleep(100);
  h.segment('about my blood test results');
  await sleep(100);
  assert.equal(h.turns(), []);
  await sleep(250);
  assert.equal(h.turns(), ['please ask the doctor to call me about my blood test results']);
  assert.equal(h.decisions, [{ verdict: 'free-text', segments: 2 }]);
});

test('a final that arrives after the caller resumed is held until the next segment is in', async () => {
  const h = harness();
  h.ask({ kind: 'yes-no' });
  h.speechStart();
  h.speechEnd();
  h.speechStart(); // the caller goes on before the slow engine answers
  h.final('yes');
  assert.equal(h.turns(), [], 'complete words, but the caller is still talking');
  h.speechEnd();
  h.final('that is right');
  assert.equal(h.turns(), ['yes that is right']);
});

test('no usable words (noise) follow the default rule; no question on the table too', async () => {
  const h = harness();
  h.segment('');
  assert.equal(h.turns(), []);
  await sleep(DEFAULT_SILENCE_MS + 60);
  assert.equal(h.turns(), ['']);
  assert.equal(h.decisions[0]!.verdict, 'no-answer');
});

test('a key pressed after words hands the words over first, then the key', () => {
  const h = harness();
  h.ask({ kind: 'date-of-birth' });
  h.segment('march third');
  h.push({ type: 'dtmf', digit: '1', at: performance.now() });
  assert.equal(h.down.filter((f) => f.type === 'transcript' || f.type === 'dtmf').map((f) => f.type), ['transcript', 'dtmf']);
  assert.equal(h.turns(), ['march third']);
});

test('the turn cap releases the words at the next pause', async () => {
  const h = harness({ ...CONFIG, maxTurnMs: 50 });
  h.ask({ kind: 'free-text' });
  h.speechStart();
  await sleep(80);
  h.speechEnd();
  h.final('and then i went to the');
  assert.equal(h.turns(), ['and then i went to the']);
  assert.equal(h.decisions[0]!.verdict, 'max-turn');
});

test('fixed mode passes every final straight through', () => {
  const h = harness({ ...CONFIG, mode: 'fixed' });
  h.ask({ kind: 'date-of-birth' });
  h.segment('january fifteenth');
  assert.equal(h.turns(), ['january fifteenth']);
});

test('the VAD closes segments after the short silence only in expectation mode', () => {
  const expectation = loadConfig({});
  assert.is(vadSegmentSilenceMs(expectation), 160);
  const fixed = loadConfig({ ENDPOINTING_MODE: 'fixed' });
  assert.is(vadSegmentSilenceMs(fixed), 640);
});

const PREPARING: EndpointingConfig = { ...CONFIG, completeSilenceMs: 120 };

test('a complete answer is handed over tentatively at once and confirmed when its silence has passed', async () => {
  const h = harness(PREPARING);
  h.ask({ kind: 'yes-no' });
  h.segment('yes');
  assert.equal(h.flow(), ['tentative: yes'], 'the reply is prepared while the silence runs');
  h.ask({ kind: 'free-text' }, 2); // the question the prepared reply asks
  assert.is(h.up.length, 1, 'held back while the turn may still go on');
  await sleep(180);
  assert.equal(h.flow(), ['tentative: yes', 'confirmed']);
  assert.is(h.up.length, 2, 'published on confirmation');
  assert.equal(h.decisions, [{ verdict: 'complete', segments: 1, prepared: true }]);
});

test('a caller who goes on withdraws the prepared reply, and the next words join the same turn', async () => {
  const h = harness(PREPARING);
  h.ask({ kind: 'yes-no' });
  h.segment('yes');
  h.ask({ kind: 'free-text' }, 2); // the prepared reply's question
  await sleep(40);
  h.speechStart();
  assert.equal(h.flow(), ['tentative: yes', 'interruption: turn-withdrawn']);
  h.speechEnd();
  h.final('but only in the morning');
  assert.equal(h.flow().at(-1), 'tentative: yes but only in the morning', 'still complete for a yes/no question');
  await sleep(180);
  assert.equal(h.flow().at(-1), 'confirmed');
  assert.is(h.up.length, 1, "the withdrawn reply's question never reaches turn-taking");
});

test("a streaming engine's partial prepares the reply before the final, which confirms it", async () => {
  const h = harness(PREPARING);
  h.ask({ kind: 'yes-no' });
  h.speechStart();
  h.partial('yes');
  assert.equal(h.flow(), [], 'not while the caller is still speaking');
  h.speechEnd();
  assert.equal(h.flow(), ['tentative: yes'], 'prepared on the partial, before the final');
  await sleep(150); // the silence has passed: only the final is missing
  assert.equal(h.flow(), ['tentative: yes']);
  h.final('yes');
  assert.equal(h.flow(), ['tentative: yes', 'confirmed']);
});

test('a final that disagrees with the partial withdraws the prepared reply', () => {
  const h = harness();
  h.ask({ kind: 'yes-no' });
  h.speechStart();
  h.partial('yes');
  h.speechEnd();
  h.final('yes but not on tuesday');
  assert.equal(h.flow(), ['tentative: yes', 'interruption: turn-withdrawn', 'turn: yes but not on tuesday']);
});

test('a key pressed during a tentative turn confirms it, and its late final starts no turn', async () => {
  const h = harness(PREPARING);
  h.ask({ kind: 'yes-no' });
  h.speechStart();
  h.partial('no');
  h.speechEnd();
  h.push({ type: 'dtmf', digit: '2', at: performance.now() });
  h.final('no');
  await sleep(DEFAULT_SILENCE_MS + 60);
  assert.equal(h.flow(), ['tentative: no', 'confirmed']);
  assert.equal(h.down.filter((f) => f.type === 'dtmf').length, 1);
});

test.run();
