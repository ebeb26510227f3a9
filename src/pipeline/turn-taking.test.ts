import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Config } from '../config/index.js';
import type { Frame, FrameOf } from './frames.js';
import { Pipeline } from './pipeline.js';
import { TurnTakingStage } from './turn-taking.js';

const BARGE_IN: Config['bargeIn'] = { enabled: true, pauseAfterMs: 160, minSpeechMs: 320 };
const THRESHOLD = 0.5;
const WINDOW_MS = 32;
const FLOOR_DB = -60;

/**
 * A TurnTakingStage in a real pipeline, fed VAD verdicts one 32 ms window at a time on a simulated clock
 * (each window's `at` is the time its last sample was spoken, as the VAD stage stamps it).
 */
function harness(bargeIn: Config['bargeIn'] = BARGE_IN) {
  const down: Frame[] = [];
  const up: Frame[] = [];
  const errors: unknown[] = [];
  const pipeline = new Pipeline([new TurnTakingStage(bargeIn, THRESHOLD)], {
    onDownstreamOut: (frame) => down.push(frame),
    onUpstreamOut: (frame) => up.push(frame),
    onStageError: (_stage, err) => errors.push(err),
  });
  let now = 1000;
  const window = (probability: number, levelDb: number) => {
    now += WINDOW_MS;
    pipeline.pushDown({ type: 'vad-activity', speech: probability >= THRESHOLD, probability, windowMs: WINDOW_MS, levelDb, at: now });
  };
  const h = {
    down, up, errors, pipeline,
    get now() { return now; },
    /** Line noise: low probability, at the floor. */
    quiet(count: number) { for (let i = 0; i < count; i++) window(0.02, FLOOR_DB); },
    /** Clear speech: high probability, 40 dB over the floor. */
    loud(count: number) { for (let i = 0; i < count; i++) window(0.95, FLOOR_DB + 40); },
    /** Silero's hangover after a sound: still "speech" by probability, but the line is back at its floor. */
    hangover(count: number) { for (let i = 0; i < count; i++) window(0.9, FLOOR_DB + 3); },
    botSpeaking(speaking: boolean) { pipeline.pushUp({ type: 'bot-speaking', speaking, at: now }); },
    speechStart(onsetAt = now - 96): FrameOf<'speech-start'> {
      const frame: FrameOf<'speech-start'> = { type: 'speech-start', at: now, onsetAt };
      pipeline.pushDown(frame);
      return frame;
    },
    speechEnd(): FrameOf<'speech-end'> {
      const frame: FrameOf<'speech-end'> = { type: 'speech-end', at: now, lastSpeechAt: now - 320, audio: new Int16Array(8), durationMs: 100 };
      pipeline.pushDown(frame);
      return frame;
    },
    types: () => down.map((f) => f.type),
    of: <T extends Frame['type']>(type: T) => down.filter((f) => f.type === type) as FrameOf<T>[],
  };
  return h;
}

test('bot silent: speech-start and speech-end pass as a turn, with no barge-in frames', async () => {
  const h = harness();
  h.quiet(10);
  h.loud(3);
  const start = h.speechStart();
  h.loud(20);
  h.quiet(20);
  const end = h.speechEnd();
  assert.equal(h.down, [start, end]);
  assert.equal(h.errors, []);
  await h.pipeline.close();
});

test('bot speaking: sustained speech pauses once, confirms the barge-in across word gaps, and becomes the turn', async () => {
  const h = harness();
  h.botSpeaking(true);
  assert.equal(h.up.map((f) => f.type), ['bot-speaking'], 'bot-speaking passes up');
  h.quiet(10);
  const onset = h.now; // the first loud window starts here
  h.loud(3);
  const start = h.speechStart(onset);
  assert.equal(h.down, [], 'the speech-start is held while the bot speaks');
  h.loud(1);
  assert.equal(h.down, [], '128 ms is not enough to pause');
  h.loud(1);
  const pauseAt = h.now;
  assert.equal(h.down, [{ type: 'playout-pause', at: pauseAt, speechOnsetAt: onset }]);

  // 64 ms more speech, then a 96 ms pause between words (longer than a run may bridge, shorter than a resume).
  h.loud(2);
  h.quiet(3);
  h.loud(2);
  assert.equal(h.types(), ['playout-pause'], '288 ms of speech so far: not yet confirmed');
  h.loud(1); // 160 + 64 + 96 = 320 ms of speech: the gap windows do not count, nor reset the episode
  const interruptionAt = h.now;
  assert.equal(h.down.slice(1), [
    { type: 'interruption', at: interruptionAt, reason: 'barge-in', speechOnsetAt: onset },
    start,
  ], 'interruption, then the held speech-start is released as the next turn');

  h.loud(20);
  h.quiet(20);
  const end = h.speechEnd();
  assert.equal(h.types(), ['playout-pause', 'interruption', 'speech-start', 'speech-end']);
  assert.is(h.down[3], end);
  assert.equal(h.errors, []);
  await h.pipeline.close();
});

test('bot speaking: speech that stops short resumes the bot after 320 ms of silence and is not a turn', async () => {
  const h = harness();
  h.botSpeaking(true);
  h.quiet(10);
  h.loud(3);
  h.speechStart();
  h.loud(3); // paused at 160 ms; 192 ms in all
  assert.equal(h.types(), ['playout-pause']);
  h.quiet(9);
  assert.equal(h.types(), ['playout-pause'], '288 ms of silence is a pause between words');
  h.quiet(1);
  assert.equal(h.down.slice(1), [{ type: 'playout-resume', at: h.now }]);
  h.quiet(10);
  h.speechEnd();
  assert.equal(h.types(), ['playout-pause', 'playout-resume'], "the backchannel's speech-end is swallowed");
  await h.pipeline.close();
});

test('bot speaking: probability without level over the noise floor (VAD hangover) does not count', async () => {
  const h = harness();
  h.botSpeaking(true);
  h.quiet(10);
  h.loud(3); // 96 ms of real sound
  h.speechStart();
  h.hangover(8); // 256 ms more of "speech" by probability alone
  h.quiet(15);
  h.speechEnd();
  assert.equal(h.down, []);
  await h.pipeline.close();
});

test('bot speaking: a short burst below pauseAfterMs does nothing at all', async () => {
  const h = harness();
  h.botSpeaking(true);
  h.quiet(10);
  h.loud(4); // 128 ms
  h.speechStart();
  h.quiet(15);
  h.speechEnd();
  h.loud(2); // a second, separate burst: the first run must not carry over
  h.quiet(3);
  assert.equal(h.down, []);
  await h.pipeline.close();
});

test('bot speaking: a keypad press interrupts (once) and the digit passes on', async () => {
  const h = harness();
  h.botSpeaking(true);
  const first: Frame = { type: 'dtmf', digit: '1', at: 5000 };
  const second: Frame = { type: 'dtmf', digit: '2', at: 5100 };
  h.pipeline.pushDown(first);
  h.pipeline.pushDown(second);
  assert.equal(h.down, [{ type: 'interruption', at: 5000, reason: 'dtmf', speechOnsetAt: undefined }, first, second]);
  await h.pipeline.close();
});

test('a sound held over the bot when a key is pressed stays swallowed after the bot stops', async () => {
  const h = harness();
  h.botSpeaking(true);
  h.quiet(10);
  h.loud(3); // the key's tone, heard by the VAD
  h.speechStart();
  const digit: Frame = { type: 'dtmf', digit: '1', at: h.now };
  h.pipeline.pushDown(digit);
  h.botSpeaking(false); // playout stops on the interruption
  h.quiet(15);
  h.speechEnd();
  assert.equal(h.types(), ['interruption', 'dtmf']);
  await h.pipeline.close();
});

/** The dialog asks for a date of birth: an eight-digit keypad entry. */
function askForDateOfBirth(h: ReturnType<typeof harness>): void {
  h.pipeline.pushUp({
    type: 'expectation', at: h.now,
    expectation: {
      kind: 'date-of-birth', node: 'id-dob', question: 1, assess: () => 'not-an-answer',
      keypadEntry: { complete: (digits) => digits.length >= 8, opensOn: (digit) => /^\d$/.test(digit) },
    },
  });
}

test('the pound right after a keypad entry completed by itself is dropped: no interruption, no input', async () => {
  const h = harness();
  askForDateOfBirth(h);
  const keys = '01151985'.split('').map((digit, i): Frame => ({ type: 'dtmf', digit, at: 5000 + i * 120 }));
  for (const key of keys) h.pipeline.pushDown(key);
  h.botSpeaking(true); // the answer has started
  h.pipeline.pushDown({ type: 'dtmf', digit: '#', at: 6200 });
  assert.equal(h.down, keys, 'the entry passes on; the pound after it goes nowhere');
  const again: Frame = { type: 'dtmf', digit: '#', at: 6500 };
  h.pipeline.pushDown(again);
  assert.equal(h.types().slice(keys.length), ['interruption', 'dtmf'], 'a second pound is a key like any other');
  await h.pipeline.close();
});

test('a pound that ends an entry early, or follows an unfinished one, is passed on', async () => {
  const h = harness();
  askForDateOfBirth(h);
  for (const digit of '011585#') h.pipeline.pushDown({ type: 'dtmf', digit, at: 5000 });
  assert.is(h.of('dtmf').length, 7);
  await h.pipeline.close();
});

test('bot silent: a keypad press passes without an interruption', async () => {
  const h = harness();
  const digit: Frame = { type: 'dtmf', digit: '4', at: 5000 };
  h.pipeline.pushDown(digit);
  assert.equal(h.down, [digit]);
  await h.pipeline.close();
});

test('bot-speaking false resets the state: turns pass, and the next stretch of bot speech can be barged in again', async () => {
  const h = harness();
  h.botSpeaking(true);
  h.quiet(10);
  h.loud(3);
  h.speechStart();
  h.loud(10); // paused and confirmed
  assert.equal(h.types(), ['playout-pause', 'interruption', 'speech-start']);
  h.quiet(15);
  h.speechEnd();
  h.botSpeaking(false);

  // Bot silent: speech is a plain turn, whatever its length.
  h.down.length = 0;
  h.loud(3);
  const start = h.speechStart();
  h.loud(12);
  h.quiet(15);
  const end = h.speechEnd();
  assert.equal(h.down, [start, end]);

  // The bot speaks again: a new barge-in is possible.
  h.down.length = 0;
  h.botSpeaking(true);
  h.quiet(5);
  h.loud(3);
  h.speechStart();
  h.loud(10);
  assert.equal(h.types(), ['playout-pause', 'interruption', 'speech-start']);
  await h.pipeline.close();
});

test('speech begun over the end of a prompt is the caller\'s turn once the bot has stopped', async () => {
  const h = harness();
  h.botSpeaking(true);
  h.quiet(10);
  h.loud(3);
  const start = h.speechStart(); // held: the bot is still speaking
  h.botSpeaking(false); // the prompt ends before a pause is warranted
  h.loud(15);
  h.quiet(15);
  const end = h.speechEnd();
  assert.equal(h.down, [start, end], 'the answer is a turn, not swallowed as noise');
  await h.pipeline.close();
});

test('a paused bot that stops speaking does not resume later', async () => {
  const h = harness();
  h.botSpeaking(true);
  h.quiet(10);
  h.loud(3);
  h.speechStart();
  h.loud(2);
  assert.equal(h.types(), ['playout-pause']);
  h.botSpeaking(false);
  h.quiet(15);
  h.speechEnd();
  assert.not.ok(h.types().includes('playout-resume'));
  assert.not.ok(h.types().includes('interruption'));
  await h.pipeline.close();
});

test('barge-in disabled: speech over the bot never pauses or interrupts, and is a turn', async () => {
  const h = harness({ ...BARGE_IN, enabled: false });
  h.botSpeaking(true);
  h.quiet(10);
  h.loud(3);
  const start = h.speechStart();
  h.loud(30);
  h.quiet(15);
  const end = h.speechEnd();
  assert.equal(h.down, [start, end]);
  await h.pipeline.close();
});

test.run();
