import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadFixture } from '../../test/support/fixtures.js';
import type { Config } from '../config/index.js';
import type { Frame, FrameOf } from '../pipeline/frames.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { loadSileroVad } from './silero.js';
import { VadInferenceError, VadStage, type VadStageOptions } from './stage.js';
import type { VadModel, VadStream } from './types.js';

const CONFIG: Config['vad'] = { threshold: 0.5, minSpeechMs: 96, endSilenceMs: 640, preRollMs: 192 };
/** Simulated monotonic time at which the call's first sample arrives. */
const T0 = 10_000;
const TOLERANCE_MS = 100;

interface Run {
  frames: Frame[];
  errors: unknown[];
  latencies: number[];
  of<T extends Frame['type']>(type: T): FrameOf<T>[];
}

/**
 * Feeds `samples` through a real pipeline holding one VadStage, `frameSamples` at a time, each frame arriving
 * at the simulated time its last sample was spoken; waits for the stage's decisions after every frame, so the
 * stage's clock (`now`) reads the time of the latest frame, as it would live.
 */
async function runStage(model: VadModel, samples: Int16Array, frameSamples = 160, options: Partial<VadStageOptions> = {}): Promise<Run> {
  const clock = { now: T0 };
  const latencies: number[] = [];
  const stage = new VadStage({ model, config: CONFIG, now: () => clock.now, onDecisionLatency: (ms) => latencies.push(ms), ...options });
  const frames: Frame[] = [];
  const errors: unknown[] = [];
  const pipeline = new Pipeline([stage], {
    onDownstreamOut: (frame) => frames.push(frame),
    onUpstreamOut: (frame) => frames.push(frame),
    onStageError: (_stage, err) => errors.push(err),
  });
  for (let offset = 0; offset < samples.length; offset += frameSamples) {
    const chunk = samples.subarray(offset, Math.min(offset + frameSamples, samples.length));
    clock.now = T0 + ((offset + chunk.length) * 1000) / 8000;
    pipeline.pushDown({ type: 'caller-audio', samples: chunk, mediaTimestampMs: offset / 8, at: clock.now });
    await stage.whenIdle();
  }
  await pipeline.close();
  return { frames, errors, latencies, of: (type) => frames.filter((f) => f.type === type) as never };
}

/** Longest run of consecutive speech windows in vad-activity frames, in ms. */
function longestSpeechRunMs(activity: FrameOf<'vad-activity'>[]): number {
  let longest = 0;
  let current = 0;
  for (const frame of activity) {
    current = frame.speech ? current + frame.windowMs : 0;
    longest = Math.max(longest, current);
  }
  return longest;
}

const maxProbability = (activity: FrameOf<'vad-activity'>[]): number => Math.max(...activity.map((f) => f.probability));

const test = suite<{ model: VadModel }>('VadStage');

test.before(async (context) => {
  context.model = await loadSileroVad();
});

test.after(async (context) => {
  await context.model.close();
});

test('conversation.wav: one segment per utterance, start and end within ±100 ms of the truth', async ({ model }) => {
  const fixture = loadFixture('conversation');
  const run = await runStage(model, fixture.samples);
  const starts = run.of('speech-start');
  const ends = run.of('speech-end');
  const report = fixture.segments.map((truth, i) => {
    const onset = (starts[i]?.onsetAt ?? NaN) - T0;
    const last = (ends[i]?.lastSpeechAt ?? NaN) - T0;
    return `truth ${truth.startMs}-${truth.endMs} got ${onset.toFixed(0)}-${last.toFixed(0)} (start ${(onset - truth.startMs).toFixed(0)}, end ${(last - truth.endMs).toFixed(0)})`;
  });
  console.log(`  conversation.wav:\n    ${report.join('\n    ')}`);
  assert.is(starts.length, fixture.segments.length, report.join('; '));
  assert.is(ends.length, fixture.segments.length, report.join('; '));
  fixture.segments.forEach((truth, i) => {
    const start = starts[i]!;
    const end = ends[i]!;
    assert.ok(Math.abs(start.onsetAt - T0 - truth.startMs) <= TOLERANCE_MS, `segment ${i} start: ${report[i]}`);
    assert.ok(Math.abs(end.lastSpeechAt - T0 - truth.endMs) <= TOLERANCE_MS, `segment ${i} end: ${report[i]}`);
    // Decisions come after what they decide, and the end after the configured silence.
    assert.ok(start.at >= start.onsetAt + CONFIG.minSpeechMs);
    assert.ok(end.at >= end.lastSpeechAt + CONFIG.endSilenceMs);
  });
  assert.equal(run.errors, []);
});

test('single-turn fixtures: exactly one turn each, within ±100 ms, ended inside the file', async ({ model }) => {
  const names = ['book-appointment', 'yes-please', 'no-wait-stop', 'what-are-your-hours', 'can-you-repeat-that', 'cancel-tuesday'];
  const lines: string[] = [];
  for (const name of names) {
    const fixture = loadFixture(name);
    const truth = fixture.segments[0]!;
    const run = await runStage(model, fixture.samples);
    const starts = run.of('speech-start');
    const ends = run.of('speech-end');
    const onset = (starts[0]?.onsetAt ?? NaN) - T0;
    const last = (ends[0]?.lastSpeechAt ?? NaN) - T0;
    const line = `${name}: truth ${truth.startMs}-${truth.endMs} got ${onset}-${last} (start ${(onset - truth.startMs).toFixed(0)}, `
      + `end ${(last - truth.endMs).toFixed(0)}), longest speech run ${longestSpeechRunMs(run.of('vad-activity'))} ms`;
    lines.push(line);
    assert.is(starts.length, 1, line);
    assert.is(ends.length, 1, line);
    assert.ok(Math.abs(onset - truth.startMs) <= TOLERANCE_MS, line);
    assert.ok(Math.abs(last - truth.endMs) <= TOLERANCE_MS, line);
  }
  console.log(`  single turns:\n    ${lines.join('\n    ')}`);
});

test('speech-end carries the utterance audio: pre-roll before the onset through the whole utterance', async ({ model }) => {
  const fixture = loadFixture('book-appointment');
  const run = await runStage(model, fixture.samples);
  const [start] = run.of('speech-start');
  const [end] = run.of('speech-end');
  assert.ok(start && end, 'one utterance detected');
  const onsetSample = Math.round((start.onsetAt - T0) * 8);
  const firstSample = onsetSample - CONFIG.preRollMs * 8;
  assert.equal(Array.from(end.audio), Array.from(fixture.samples.subarray(firstSample, firstSample + end.audio.length)));
  assert.ok(firstSample + end.audio.length >= fixture.segments[0]!.endMs * 8, 'audio reaches the end of the spoken words');
  assert.is(end.durationMs, (end.audio.length * 1000) / 8000);
});

test('caller audio passes through unchanged, in order, and every window gets one vad-activity frame', async ({ model }) => {
  const fixture = loadFixture('yes-please');
  const run = await runStage(model, fixture.samples);
  const audio = run.of('caller-audio');
  const joined = new Int16Array(fixture.samples.length);
  let offset = 0;
  for (const frame of audio) {
    joined.set(frame.samples, offset);
    offset += frame.samples.length;
  }
  assert.is(offset, fixture.samples.length);
  assert.equal(joined, fixture.samples);
  assert.is(run.of('vad-activity').length, Math.floor(fixture.samples.length / 256));
  assert.is(run.latencies.length, run.of('vad-activity').length);
  assert.ok(run.latencies.every((ms) => ms >= 0));
});

test('odd frame sizes (1 and 1000 samples) give the same windows and verdicts as 20 ms frames', async ({ model }) => {
  const fixture = loadFixture('yes-please');
  const reference = await runStage(model, fixture.samples, 160);
  const probabilities = (run: Run) => run.of('vad-activity').map((f) => f.probability);
  const onsets = (run: Run) => run.of('speech-start').map((f) => f.onsetAt);
  const lastSpeech = (run: Run) => run.of('speech-end').map((f) => f.lastSpeechAt);
  assert.is(onsets(reference).length, 1);
  assert.is(lastSpeech(reference).length, 1);
  for (const size of [1, 1000]) {
    const run = await runStage(model, fixture.samples, size);
    assert.equal(probabilities(run), probabilities(reference), `frame size ${size}`);
    assert.equal(onsets(run), onsets(reference), `frame size ${size}`);
    assert.equal(lastSpeech(run), lastSpeech(reference), `frame size ${size}`);
    assert.is(run.of('caller-audio').length, Math.ceil(fixture.samples.length / size));
    assert.equal(run.errors, []);
  }
});

test('a burst of audio (3 s arriving at once) is scored in one request and decided exactly as if paced', async ({ model }) => {
  const fixture = loadFixture('book-appointment');
  const reference = await runStage(model, fixture.samples, 160);
  const requests: number[] = [];
  const counting = await loadSileroVad({ onBatch: (windows) => requests.push(windows) });
  try {
    const stage = new VadStage({ model: counting, config: CONFIG, now: () => T0 });
    const frames: Frame[] = [];
    const errors: unknown[] = [];
    const pipeline = new Pipeline([stage], { onDownstreamOut: (frame) => frames.push(frame), onUpstreamOut: () => undefined, onStageError: (_s, err) => errors.push(err) });
    for (let offset = 0; offset < fixture.samples.length; offset += 160) {
      pipeline.pushDown({ type: 'caller-audio', samples: fixture.samples.subarray(offset, offset + 160), mediaTimestampMs: offset / 8, at: T0 });
    }
    await stage.whenIdle();
    await pipeline.close();
    const windows = Math.floor(fixture.samples.length / 256);
    assert.equal(requests, [windows], 'the whole backlog in one request');
    const activity = frames.filter((f): f is FrameOf<'vad-activity'> => f.type === 'vad-activity');
    assert.equal(activity.map((f) => f.probability), reference.of('vad-activity').map((f) => f.probability));
    assert.is(frames.filter((f) => f.type === 'speech-start').length, 1);
    assert.is(frames.filter((f) => f.type === 'speech-end').length, 1);
    assert.equal(errors, []);
  } finally {
    await counting.close();
  }
});

test('silence-noise.wav: no speech at all', async ({ model }) => {
  const run = await runStage(model, loadFixture('silence-noise').samples);
  const activity = run.of('vad-activity');
  console.log(`  silence-noise.wav: max p ${maxProbability(activity).toFixed(3)}, longest speech run ${longestSpeechRunMs(activity)} ms`);
  assert.is(run.of('speech-start').length, 0);
  assert.is(run.of('speech-end').length, 0);
  assert.is(longestSpeechRunMs(activity), 0);
});

test('cough.wav: the longest continuous speech run stays below a 224 ms barge-in', async ({ model }) => {
  const run = await runStage(model, loadFixture('cough').samples);
  const activity = run.of('vad-activity');
  const longest = longestSpeechRunMs(activity);
  console.log(`  cough.wav: max p ${maxProbability(activity).toFixed(3)}, longest speech run ${longest} ms, speech-start events ${run.of('speech-start').length}`);
  assert.ok(longest < 224, `longest speech run ${longest} ms`);
});

test('hmm.wav: measured (a voiced backchannel is speech to the VAD)', async ({ model }) => {
  const fixture = loadFixture('hmm');
  const run = await runStage(model, fixture.samples);
  const activity = run.of('vad-activity');
  const longest = longestSpeechRunMs(activity);
  const confident = longestSpeechRunMs(activity.map((f) => ({ ...f, speech: f.probability >= CONFIG.threshold })));
  const truth = fixture.segments[0]!;
  console.log(`  hmm.wav (${(truth.endMs - truth.startMs).toFixed(0)} ms of sound): max p ${maxProbability(activity).toFixed(3)}, `
    + `longest speech run ${longest} ms (p >= ${CONFIG.threshold}: ${confident} ms), speech-start events ${run.of('speech-start').length}`);
  assert.ok(maxProbability(activity) >= CONFIG.threshold, 'a voiced hmm scores as speech');
});

/** Fault injection around the real model: windows whose index is in `failing` throw; the rest run for real. */
class FaultInjectingVadModel implements VadModel {
  readonly name = 'fault-injecting';
  constructor(private readonly real: VadModel, private readonly failing: (windowIndex: number) => boolean) {}
  get endHangoverMs(): number | undefined {
    return this.real.endHangoverMs;
  }
  createStream(sampleRate: 8000 | 16000): VadStream {
    const real = this.real.createStream(sampleRate);
    let index = 0;
    const failing = this.failing;
    return {
      sampleRate: real.sampleRate,
      windowSamples: real.windowSamples,
      async probability(window: Float32Array): Promise<number> {
        const p = real.probability(window);
        if (failing(index++)) {
          await p;
          throw new Error('injected inference failure');
        }
        return p;
      },
      reset: () => real.reset(),
    };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

test('inference errors are reported, count as silence, and the call goes on', async ({ model }) => {
  const fixture = loadFixture('yes-please');
  // Windows 0-4 (the line before speech) and 20-21 (inside the utterance) fail.
  const faulty = new FaultInjectingVadModel(model, (i) => i < 5 || i === 20 || i === 21);
  const run = await runStage(faulty, fixture.samples);
  const activity = run.of('vad-activity');
  assert.is(activity.length, Math.floor(fixture.samples.length / 256), 'no window dropped');
  for (const i of [0, 4, 20, 21]) assert.equal([activity[i]!.speech, activity[i]!.probability], [false, 0], `window ${i}`);
  assert.is(run.errors.length, 2, 'one report per run of failures');
  assert.ok(run.errors.every((e) => e instanceof VadInferenceError));
  assert.match((run.errors[0] as Error).message, /injected inference failure/);
  // Two silent windows inside speech do not end the turn: still one utterance, at the right place.
  const [start] = run.of('speech-start');
  const [end] = run.of('speech-end');
  assert.is(run.of('speech-start').length, 1);
  assert.ok(start && Math.abs(start.onsetAt - T0 - fixture.segments[0]!.startMs) <= TOLERANCE_MS);
  assert.ok(end && Math.abs(end.lastSpeechAt - T0 - fixture.segments[0]!.endMs) <= TOLERANCE_MS, `end ${end?.lastSpeechAt === undefined ? 'missing' : end.lastSpeechAt - T0} vs ${fixture.segments[0]!.endMs}`);
});

test('interruption frames pass straight through, upstream frames pass up, an empty audio frame is harmless', async ({ model }) => {
  const stage = new VadStage({ model, config: CONFIG });
  const down: Frame[] = [];
  const up: Frame[] = [];
  const pipeline = new Pipeline([stage], { onDownstreamOut: (f) => down.push(f), onUpstreamOut: (f) => up.push(f), onStageError: () => undefined });
  const interruption: Frame = { type: 'interruption', at: 1, reason: 'barge-in' };
  const speaking: Frame = { type: 'bot-speaking', speaking: true, at: 2 };
  const empty: Frame = { type: 'caller-audio', samples: new Int16Array(0), mediaTimestampMs: 0, at: 3 };
  pipeline.pushDown(interruption);
  pipeline.pushUp(speaking);
  pipeline.pushDown(empty);
  await stage.whenIdle();
  assert.equal(down, [interruption, empty]);
  assert.equal(up, [speaking]);
  await pipeline.close();
});

test('close() stops the stage: queued windows are dropped and nothing more is emitted', async ({ model }) => {
  const stage = new VadStage({ model, config: CONFIG });
  const frames: Frame[] = [];
  const pipeline = new Pipeline([stage], { onDownstreamOut: (f) => frames.push(f), onUpstreamOut: () => undefined, onStageError: () => undefined });
  const samples = loadFixture('yes-please').samples;
  // 40 windows queued at once, then close before they are scored.
  pipeline.pushDown({ type: 'caller-audio', samples: samples.subarray(0, 40 * 256), mediaTimestampMs: 0, at: performance.now() });
  await stage.close();
  const activity = frames.filter((f) => f.type === 'vad-activity').length;
  assert.ok(activity < 40, `only windows scored before close were reported (${activity})`);
  stage.process({ type: 'caller-audio', samples: samples.subarray(0, 2560), mediaTimestampMs: 0, at: performance.now() }, 'down');
  await stage.whenIdle();
  assert.is(frames.filter((f) => f.type === 'vad-activity').length, activity);
  await pipeline.close();
});

test.run();
