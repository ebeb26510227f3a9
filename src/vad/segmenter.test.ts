import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SegmenterOptionsError, SpeechSegmenter, type SegmentEvent, type SegmenterOptions } from './segmenter.js';

const WINDOW = 32;
const base: SegmenterOptions = { threshold: 0.5, minSpeechMs: 96, endSilenceMs: 320, windowMs: WINDOW };

/** Feeds probabilities as consecutive 32 ms windows (the first ends at 32 ms); returns every event and verdict. */
function run(probabilities: number[], options: Partial<SegmenterOptions> = {}) {
  const segmenter = new SpeechSegmenter({ ...base, ...options });
  const events: SegmentEvent[] = [];
  const verdicts: boolean[] = [];
  probabilities.forEach((p, i) => {
    const step = segmenter.push(p, (i + 1) * WINDOW);
    verdicts.push(step.speech);
    events.push(...step.events);
  });
  return { events, verdicts, segmenter };
}

const repeat = (p: number, n: number): number[] => Array.from({ length: n }, () => p);

const test = suite('SpeechSegmenter');

test('a clean utterance gives one start at its onset and one end after the end silence', () => {
  // 5 silent windows (0-160 ms), 20 speech windows (160-800 ms), 15 silent windows.
  const { events } = run([...repeat(0.05, 5), ...repeat(0.95, 20), ...repeat(0.05, 15)]);
  assert.equal(events, [
    // min speech 96 ms = 3 windows: decided at the end of the third speech window (256 ms).
    { kind: 'start', onsetMs: 160, atMs: 256, onsetWindow: 5 },
    // 320 ms of silence from 800 ms: decided at 1120 ms.
    { kind: 'end', lastSpeechMs: 800, lastSpeechWindowEndMs: 800, atMs: 1120, lastSpeechWindow: 24 },
  ]);
});

test('audio that arrives in a burst (every window dated the same instant) is segmented by its own length', () => {
  const segmenter = new SpeechSegmenter(base);
  const events: SegmentEvent[] = [];
  // 5 silent windows, 20 speech windows, 15 silent windows, all arriving at 5000 ms after a network stall.
  for (const p of [...repeat(0.05, 5), ...repeat(0.95, 20), ...repeat(0.05, 15)]) events.push(...segmenter.push(p, 5000).events);
  assert.equal(events.map((e) => [e.kind, e.kind === 'start' ? e.onsetWindow : e.lastSpeechWindow]), [['start', 5], ['end', 24]]);
  // ...and a 2-window blip in the same burst is still too short to start one.
  const blip = new SpeechSegmenter(base);
  const blipEvents = [...repeat(0.05, 3), 0.9, 0.9, ...repeat(0.05, 12)].flatMap((p) => blip.push(p, 5000).events);
  assert.equal(blipEvents, []);
});

test('speech shorter than minSpeechMs never starts a segment', () => {
  const { events, verdicts } = run([...repeat(0.1, 3), 0.9, 0.9, ...repeat(0.1, 20)]);
  assert.equal(events, []);
  // The windows themselves are still speech: barge-in logic reads these verdicts.
  assert.equal(verdicts.slice(3, 5), [true, true]);
});

test('flicker (speech / silence alternating) never accumulates into a start', () => {
  const flicker = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 0.9 : 0.1));
  assert.equal(run(flicker).events, []);
});

test('a brief gap inside speech does not end the segment', () => {
  const { events } = run([...repeat(0.9, 10), ...repeat(0.05, 6), ...repeat(0.9, 10), ...repeat(0.05, 12)]);
  assert.equal(events.map((e) => e.kind), ['start', 'end']);
  const end = events[1] as Extract<SegmentEvent, { kind: 'end' }>;
  assert.is(end.lastSpeechMs, 26 * WINDOW);
});

test('a gap of exactly endSilenceMs ends the segment; speech after it starts a new one', () => {
  const { events } = run([...repeat(0.9, 5), ...repeat(0.05, 10), ...repeat(0.9, 5), ...repeat(0.05, 10)]);
  assert.equal(events.map((e) => e.kind), ['start', 'end', 'start', 'end']);
  assert.equal(events[1], { kind: 'end', lastSpeechMs: 160, lastSpeechWindowEndMs: 160, atMs: 480, lastSpeechWindow: 4 });
  assert.equal(events[2], { kind: 'start', onsetMs: 480, atMs: 576, onsetWindow: 15 });
});

test('hysteresis: inside speech, dips between negThreshold and threshold do not count as silence', () => {
  // negThreshold defaults to 0.35: 0.4 keeps speech going for as long as it lasts.
  const { events, verdicts } = run([...repeat(0.9, 5), ...repeat(0.4, 15), ...repeat(0.2, 10)]);
  assert.equal(verdicts.slice(5, 20), repeat(1, 15).map(() => true));
  assert.equal(events.map((e) => e.kind), ['start', 'end']);
  const end = events[1] as Extract<SegmentEvent, { kind: 'end' }>;
  // The end is decided 320 ms after the dips stopped, but the last confident speech is still the 5th window.
  assert.is(end.atMs, 30 * WINDOW);
  assert.is(end.lastSpeechMs, 5 * WINDOW);
});

test('hysteresis: out of speech, a probability between the thresholds is not speech', () => {
  const { events, verdicts } = run(repeat(0.45, 20));
  assert.equal(events, []);
  assert.ok(verdicts.every((v) => !v));
});

test('hysteresis: once silence began, a mid probability does not resume speech', () => {
  const { events, verdicts } = run([...repeat(0.9, 5), 0.1, 0.4, 0.4, ...repeat(0.1, 10)]);
  assert.equal(verdicts.slice(5, 8), [false, false, false]);
  const end = events.find((e) => e.kind === 'end') as Extract<SegmentEvent, { kind: 'end' }>;
  // Silence counted from the 6th window (160 ms): 320 ms later, at 480 ms.
  assert.is(end.atMs, 480);
});

test('a custom negThreshold is honoured', () => {
  const { events } = run([...repeat(0.9, 5), ...repeat(0.4, 15)], { negThreshold: 0.45 });
  assert.equal(events.map((e) => e.kind), ['start', 'end']);
});

test('the onset is the first window of the run that became the segment, not an earlier broken run', () => {
  const { events } = run([0.9, 0.1, 0.9, 0.9, 0.9, 0.9, ...repeat(0.1, 12)]);
  assert.equal(events[0], { kind: 'start', onsetMs: 64, atMs: 160, onsetWindow: 2 });
});

test('minSpeechMs 0 starts on the first speech window; a mid-run onset is reported correctly', () => {
  const { events } = run([0.1, 0.1, 0.7, ...repeat(0.1, 12)], { minSpeechMs: 0 });
  assert.equal(events[0], { kind: 'start', onsetMs: 64, atMs: 96, onsetWindow: 2 });
  assert.equal(events[1]?.kind, 'end');
});

test('barge-in style minSpeechMs 224 needs 7 continuous windows', () => {
  assert.equal(run([...repeat(0.9, 6), ...repeat(0.1, 12)], { minSpeechMs: 224 }).events, []);
  const { events } = run([...repeat(0.9, 7), ...repeat(0.1, 12)], { minSpeechMs: 224 });
  assert.equal(events[0], { kind: 'start', onsetMs: 0, atMs: 224, onsetWindow: 0 });
});

test('endHangoverMs moves lastSpeechMs earlier but never to or before the onset', () => {
  const long = run([...repeat(0.1, 2), ...repeat(0.9, 20), ...repeat(0.1, 12)], { endHangoverMs: 128 });
  const end = long.events[1] as Extract<SegmentEvent, { kind: 'end' }>;
  assert.is(end.lastSpeechWindowEndMs, 22 * WINDOW);
  assert.is(end.lastSpeechMs, 22 * WINDOW - 128);
  const short = run([...repeat(0.1, 2), ...repeat(0.9, 3), ...repeat(0.1, 12)], { endHangoverMs: 128 });
  const shortEnd = short.events[1] as Extract<SegmentEvent, { kind: 'end' }>;
  assert.is(shortEnd.lastSpeechMs, 2 * WINDOW + WINDOW);
});

test('windows with uneven times (arrival jitter) use their own end times', () => {
  const segmenter = new SpeechSegmenter(base);
  const times = [40, 70, 105, 138, 170];
  const events = times.flatMap((t) => segmenter.push(0.9, t).events);
  assert.equal(events, [{ kind: 'start', onsetMs: 8, atMs: 105, onsetWindow: 0 }]);
});

test('NaN probabilities count as silence', () => {
  const { events, verdicts } = run([...repeat(0.9, 5), ...repeat(Number.NaN, 10)]);
  assert.equal(verdicts.slice(5), repeat(0, 10).map(() => false));
  assert.equal(events.map((e) => e.kind), ['start', 'end']);
});

test('reset forgets an open segment', () => {
  const { segmenter } = run(repeat(0.9, 5));
  assert.ok(segmenter.speaking);
  segmenter.reset();
  assert.not.ok(segmenter.speaking);
  assert.equal(segmenter.push(0.1, 32).events, []);
});

test('invalid options are rejected with a typed error', () => {
  assert.throws(() => new SpeechSegmenter({ ...base, threshold: 0 }), (e: unknown) => e instanceof SegmenterOptionsError);
  assert.throws(() => new SpeechSegmenter({ ...base, negThreshold: 0.6 }), (e: unknown) => e instanceof SegmenterOptionsError && /negThreshold/.test(e.message));
  assert.throws(() => new SpeechSegmenter({ ...base, windowMs: 0 }), (e: unknown) => e instanceof SegmenterOptionsError);
  assert.throws(() => new SpeechSegmenter({ ...base, minSpeechMs: -1 }), (e: unknown) => e instanceof SegmenterOptionsError);
});

test.run();
