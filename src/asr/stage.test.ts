import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createTranscriptDouble } from '../../test/support/transcript-double.js';
import { muLawDecode, muLawEncode } from '../media/codec.js';
import type { Frame, FrameOf } from '../pipeline/frames.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { createNoneAsrEngine } from './none.js';
import { AsrStage } from './stage.js';
import { AsrError, type AsrEngine, type AsrEvent, type AsrStream } from './types.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A recognizer the test drives by hand: it records what it is given and emits the events the test asks for. */
interface ControlledStream extends AsrStream {
  emit(event: AsrEvent): void;
  pushed: Int16Array[];
  utterances: Int16Array[];
  resets: number;
  closed: boolean;
}

function controlledEngine() {
  const streams: ControlledStream[] = [];
  const engine: AsrEngine = {
    name: 'controlled',
    available: true,
    createStream(sink) {
      const stream: ControlledStream = {
        pushed: [], utterances: [], resets: 0, closed: false,
        emit: (event) => sink(event),
        pushAudio(samples) { stream.pushed.push(samples); },
        endUtterance(utterance) { stream.utterances.push(utterance); },
        reset() { stream.resets++; },
        close() { stream.closed = true; },
      };
      streams.push(stream);
      return stream;
    },
    async close() {},
  };
  return { engine, streams };
}

const openPipelines: Pipeline[] = [];
test.after.each(async () => {
  await Promise.all(openPipelines.splice(0).map((p) => p.close()));
});

function harness(engine: AsrEngine) {
  const clock = { now: 2000 };
  const down: Frame[] = [];
  const up: Frame[] = [];
  const errors: Array<{ stage: string; err: unknown }> = [];
  const latencies: number[] = [];
  const stage = new AsrStage(engine, { onFinalLatency: (ms) => latencies.push(ms), now: () => clock.now });
  const pipeline = new Pipeline([stage], {
    onDownstreamOut: (frame) => down.push(frame),
    onUpstreamOut: (frame) => up.push(frame),
    onStageError: (name, err) => errors.push({ stage: name, err }),
  });
  openPipelines.push(pipeline);
  return {
    clock, down, up, errors, latencies, pipeline,
    audio(samples: Int16Array) {
      pipeline.pushDown({ type: 'caller-audio', samples, mediaTimestampMs: 0, at: clock.now });
    },
    speechEnd(audio: Int16Array): FrameOf<'speech-end'> {
      const frame: FrameOf<'speech-end'> = { type: 'speech-end', at: clock.now, lastSpeechAt: clock.now - 640, audio, durationMs: 500 };
      pipeline.pushDown(frame);
      return frame;
    },
    transcripts: () => down.filter((f): f is FrameOf<'transcript'> => f.type === 'transcript'),
  };
}

test('caller audio goes to the stream and stops there', async () => {
  const { engine, streams } = controlledEngine();
  const h = harness(engine);
  const a = new Int16Array([1, 2, 3]);
  const b = new Int16Array([4, 5]);
  h.audio(a);
  h.audio(b);
  assert.is(streams.length, 1, 'one stream per call');
  assert.equal(streams[0]!.pushed, [a, b]);
  assert.equal(h.down, []);
});

test('speech-end ends the utterance with its audio; the final is a transcript timed from speech-end', async () => {
  const { engine, streams } = controlledEngine();
  const h = harness(engine);
  const utterance = new Int16Array([7, 8, 9]);
  const end = h.speechEnd(utterance);
  assert.equal(streams[0]!.utterances, [utterance]);
  assert.equal(h.down, [end], 'speech-end passes on');

  h.clock.now = 2300;
  streams[0]!.emit({ type: 'partial', text: 'i need' });
  streams[0]!.emit({ type: 'final', text: 'i need a refill', confidence: 0.8 });
  assert.equal(h.transcripts(), [
    { type: 'transcript', text: 'i need', isFinal: false, at: 2300 },
    { type: 'transcript', text: 'i need a refill', isFinal: true, at: 2300, confidence: 0.8 },
  ]);
  assert.equal(h.latencies, [300]);
  assert.equal(h.errors, []);
});

test('a final the engine endpointed on its own (no speech-end waiting) is passed on but not timed', async () => {
  const { engine, streams } = controlledEngine();
  const h = harness(engine);
  streams[0]!.emit({ type: 'final', text: 'yes' });
  assert.equal(h.transcripts().map((t) => [t.text, t.isFinal]), [['yes', true]]);
  assert.equal(h.latencies, []);
});

test('an engine error becomes speech-unavailable and a stage error; it answers its own turn only', async () => {
  const { engine, streams } = controlledEngine();
  const h = harness(engine);
  h.speechEnd(new Int16Array(10));
  h.clock.now = 2100;
  const failure = new AsrError('controlled', 'decoder crashed');
  streams[0]!.emit({ type: 'error', error: failure });
  assert.equal(h.down.slice(1), [{ type: 'speech-unavailable', at: 2100, reason: 'controlled: decoder crashed' }]);
  assert.equal(h.errors, [{ stage: 'asr', err: failure }]);

  h.clock.now = 3000;
  h.speechEnd(new Int16Array(10));
  h.clock.now = 3120;
  streams[0]!.emit({ type: 'final', text: 'hello' });
  assert.equal(h.latencies, [120], 'the next final is timed from its own speech-end');
});

test('two turns in flight: finals are timed against their speech-ends in order', async () => {
  const { engine, streams } = controlledEngine();
  const h = harness(engine);
  h.speechEnd(new Int16Array(1));
  h.clock.now = 2500;
  h.speechEnd(new Int16Array(2));
  h.clock.now = 2600;
  streams[0]!.emit({ type: 'final', text: 'one' });
  h.clock.now = 2700;
  streams[0]!.emit({ type: 'final', text: 'two' });
  assert.equal(h.latencies, [600, 200]);
});

test('the none engine: every turn is speech-unavailable with the engine\'s reason, audio is dropped', async () => {
  const h = harness(createNoneAsrEngine('the sherpa model is not installed'));
  h.audio(new Int16Array(160));
  const end = h.speechEnd(new Int16Array(160));
  await sleep(5);
  assert.equal(h.down, [end, { type: 'speech-unavailable', at: 2000, reason: 'the sherpa model is not installed' }]);
  assert.equal(h.errors, []);
  assert.equal(h.latencies, []);
});

/** Seeded noise bursts: real-looking audio no two entries share. */
function noise(samples: number, seed: number): Int16Array {
  const out = new Int16Array(samples);
  let state = seed * 0x9e3779b1 | 0 || 1;
  for (let i = 0; i < samples; i++) {
    state ^= state << 13; state ^= state >>> 17; state ^= state << 5; // xorshift32
    out[i] = ((state >>> 8) % 16000) - 8000;
  }
  return out;
}

test('with a streaming recognizer (transcript double): partials while audio flows, then the final', async () => {
  const booking = noise(8000, 1);
  const cancelling = noise(8000, 2);
  const engine = createTranscriptDouble([
    { audio: booking, transcript: 'i would like to book an appointment' },
    { audio: cancelling, transcript: 'please cancel my appointment' },
  ]);
  const h = harness(engine);
  const heard = muLawDecode(muLawEncode(cancelling)); // what the phone line delivers
  for (let offset = 0; offset < heard.length; offset += 160) h.audio(heard.subarray(offset, offset + 160));
  const partials = h.transcripts().filter((t) => !t.isFinal).map((t) => t.text);
  assert.ok(partials.length > 0, 'partials while the caller speaks');
  assert.ok(partials.every((p) => 'please cancel my appointment'.startsWith(p)), partials.join(' | '));

  h.clock.now = 2150;
  h.speechEnd(heard);
  await sleep(5);
  const finals = h.transcripts().filter((t) => t.isFinal);
  assert.equal(finals.map((t) => t.text), ['please cancel my appointment']);
  assert.equal(h.latencies, [0], 'answered at once on the stage clock');
  assert.ok(h.down.every((f) => f.type !== 'caller-audio'));
});

test('a backchannel over the bot (playout-resume) is forgotten by the recognizer, unless a final is pending', async () => {
  const { engine, streams } = controlledEngine();
  const h = harness(engine);
  h.audio(new Int16Array(1600)); // "mm-hmm" while the bot speaks: turn-taking swallows it, ASR heard it
  const resume: Frame = { type: 'playout-resume', at: h.clock.now };
  h.pipeline.pushDown(resume);
  assert.is(streams[0]!.resets, 1);
  assert.equal(h.down, [resume], 'the resume passes on');

  h.speechEnd(new Int16Array(10)); // a turn whose final is still on its way
  h.pipeline.pushDown(resume);
  assert.is(streams[0]!.resets, 1, 'a reset would drop the pending final');
  streams[0]!.emit({ type: 'final', text: 'tuesday' });
  assert.equal(h.transcripts().map((t) => t.text), ['tuesday']);
  assert.equal(h.errors, []);
});

test('close() closes the call\'s stream; nothing flows after it', async () => {
  const { engine, streams } = controlledEngine();
  const h = harness(engine);
  await h.pipeline.close();
  assert.is(streams[0]!.closed, true);
  streams[0]!.emit({ type: 'final', text: 'late' });
  assert.equal(h.down, []);
});

test.run();
