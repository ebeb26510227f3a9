import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createResampler, loadResamplerRuntime, ResampleError, type Resampler, type ResamplerRuntime } from './resample.js';

const AMPLITUDE = 16000;

function sine(frequency: number, sampleRate: number, seconds: number, amplitude = AMPLITUDE): Int16Array {
  const out = new Int16Array(Math.round(sampleRate * seconds));
  for (let i = 0; i < out.length; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * frequency * i) / sampleRate));
  return out;
}

/** Amplitude of the `frequency` component (Goertzel); `samples` must hold a whole number of its cycles. */
function toneAmplitude(samples: Int16Array, frequency: number, sampleRate: number): number {
  const coefficient = 2 * Math.cos((2 * Math.PI * frequency) / sampleRate);
  let previous = 0;
  let beforePrevious = 0;
  for (let i = 0; i < samples.length; i++) {
    const current = samples[i] + coefficient * previous - beforePrevious;
    beforePrevious = previous;
    previous = current;
  }
  const power = previous * previous + beforePrevious * beforePrevious - coefficient * previous * beforePrevious;
  return (2 * Math.sqrt(Math.max(0, power))) / samples.length;
}

/** Peak amplitude of a sine with the same RMS: catches energy at any frequency (alias or otherwise). */
function rmsAmplitude(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt((2 * sum) / samples.length);
}

const db = (amplitude: number) => 20 * Math.log10(Math.max(amplitude, 1e-9) / AMPLITUDE);

/** Half a second from the middle of the output: a whole number of cycles of every even-Hz tone. */
function steadyState(samples: Int16Array, sampleRate: number): Int16Array {
  const start = Math.round(sampleRate * 0.25);
  return samples.subarray(start, start + sampleRate / 2);
}

function concat(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

async function resampleWhole(inRate: number, outRate: number, input: Int16Array, quality?: number): Promise<Int16Array> {
  const resampler = await createResampler(inRate, outRate, { quality });
  try {
    return concat([resampler.process(input), resampler.flush()]);
  } finally {
    resampler.destroy();
  }
}

test('the measuring tools detect aliasing (negative control: naive decimation aliases 5 kHz to 3 kHz)', () => {
  const input = sine(5000, 24000, 1);
  const naive = new Int16Array(8000);
  for (let i = 0; i < naive.length; i++) naive[i] = input[i * 3];
  const steady = steadyState(naive, 8000);
  assert.ok(db(toneAmplitude(steady, 3000, 8000)) > -1, 'alias visible at 3 kHz');
  assert.ok(db(rmsAmplitude(steady)) > -1);
  assert.ok(db(toneAmplitude(sine(1000, 8000, 0.5), 1000, 8000)) > -0.01);
});

test('24 kHz -> 8 kHz: 1 kHz passes within 1 dB, 5 and 6 kHz are attenuated by more than 40 dB', async () => {
  const pass = steadyState(await resampleWhole(24000, 8000, sine(1000, 24000, 1)), 8000);
  const passDb = db(toneAmplitude(pass, 1000, 8000));
  assert.ok(Math.abs(passDb) < 1, `1 kHz gain ${passDb.toFixed(2)} dB`);
  for (const frequency of [5000, 6000]) {
    const out = steadyState(await resampleWhole(24000, 8000, sine(frequency, 24000, 1)), 8000);
    const aliasDb = db(toneAmplitude(out, 8000 - frequency, 8000));
    const totalDb = db(rmsAmplitude(out));
    assert.ok(aliasDb < -40, `${frequency} Hz alias at ${aliasDb.toFixed(1)} dB`);
    assert.ok(totalDb < -40, `${frequency} Hz leaves ${totalDb.toFixed(1)} dB of output`);
  }
});

test('16, 22.05, 44.1 and 48 kHz -> 8 kHz: voice band passes, 5 kHz is removed', async () => {
  for (const inRate of [16000, 22050, 44100, 48000]) {
    const pass = steadyState(await resampleWhole(inRate, 8000, sine(1000, inRate, 1)), 8000);
    const passDb = db(toneAmplitude(pass, 1000, 8000));
    assert.ok(Math.abs(passDb) < 1, `${inRate}: 1 kHz gain ${passDb.toFixed(2)} dB`);
    const voiceTop = steadyState(await resampleWhole(inRate, 8000, sine(3400, inRate, 1)), 8000);
    const voiceTopDb = db(toneAmplitude(voiceTop, 3400, 8000));
    assert.ok(Math.abs(voiceTopDb) < 1, `${inRate}: 3.4 kHz gain ${voiceTopDb.toFixed(2)} dB`);
    const stop = steadyState(await resampleWhole(inRate, 8000, sine(5000, inRate, 1)), 8000);
    const stopDb = db(rmsAmplitude(stop));
    assert.ok(stopDb < -40, `${inRate}: 5 kHz leaves ${stopDb.toFixed(1)} dB`);
  }
});

test('8 kHz -> 16 kHz keeps a 1 kHz tone and suppresses its 7 kHz image', async () => {
  const input = sine(1000, 8000, 1);
  const out = steadyState(await resampleWhole(8000, 16000, input), 16000);
  const toneDb = db(toneAmplitude(out, 1000, 16000));
  const imageDb = db(toneAmplitude(out, 7000, 16000));
  assert.ok(Math.abs(toneDb) < 1, `1 kHz gain ${toneDb.toFixed(2)} dB`);
  assert.ok(imageDb < -40, `7 kHz image at ${imageDb.toFixed(1)} dB`);
  // Negative control: sample repetition (no interpolation filter) does show the image.
  const repeated = new Int16Array(input.length * 2);
  for (let i = 0; i < repeated.length; i++) repeated[i] = input[i >> 1];
  assert.ok(db(toneAmplitude(steadyState(repeated, 16000), 7000, 16000)) > -30);
});

test('a whole stream has exactly round(n * ratio) samples and is time-aligned with its input', async () => {
  for (const [inRate, outRate] of [[24000, 8000], [16000, 8000], [22050, 8000], [44100, 8000], [48000, 8000], [8000, 16000]]) {
    const resampler = await createResampler(inRate, outRate);
    const input = new Int16Array(inRate / 10 | 0); // 100 ms with an impulse-like click at 60 ms
    const clickAt = Math.round(inRate * 0.06);
    for (let i = -2; i <= 2; i++) input[clickAt + i] = 12000 - Math.abs(i) * 3000;
    const out = concat([resampler.process(input), resampler.flush()]);
    resampler.destroy();
    assert.is(out.length, Math.round((input.length * outRate) / inRate), `${inRate}->${outRate} length`);
    let peak = 0;
    for (let i = 1; i < out.length; i++) if (Math.abs(out[i]) > Math.abs(out[peak])) peak = i;
    const expected = (clickAt * outRate) / inRate;
    assert.ok(Math.abs(peak - expected) <= 1, `${inRate}->${outRate}: click at ${peak}, expected ${expected.toFixed(1)}`);
  }
});

test('output length per chunk tracks input * ratio while streaming', async () => {
  const resampler = await createResampler(24000, 8000);
  const frame = sine(440, 24000, 0.02); // 480 samples -> 160
  let total = 0;
  for (let i = 0; i < 50; i++) total += resampler.process(frame).length;
  const latency = 160; // speex holds back ~half a filter; never more than one 20 ms frame at these rates
  assert.ok(total <= 50 * 160 && total >= 50 * 160 - latency, `streamed ${total}`);
  assert.is(total + resampler.flush().length, 50 * 160);
  resampler.destroy();
});

test('arbitrary chunking gives the same output as one big chunk', async () => {
  const input = concat([sine(700, 22050, 0.3), sine(2900, 22050, 0.3, 9000)]);
  for (const [inRate, outRate] of [[22050, 8000], [8000, 16000], [24000, 8000]]) {
    const whole = await resampleWhole(inRate, outRate, input);
    const chunked = await createResampler(inRate, outRate);
    const parts: Int16Array[] = [];
    let seed = 12345;
    for (let offset = 0; offset < input.length; ) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const size = seed % 7 === 0 ? 0 : 1 + (seed % 997); // includes empty and 1-sample chunks
      parts.push(chunked.process(input.subarray(offset, offset + size)));
      offset += size;
    }
    parts.push(chunked.flush());
    chunked.destroy();
    assert.equal(Array.from(concat(parts)), Array.from(whole), `${inRate}->${outRate}`);
  }
});

test('resamplers sharing one runtime keep independent state; reset starts a fresh stream', async () => {
  const runtime: ResamplerRuntime = await loadResamplerRuntime();
  const a = runtime.create(24000, 8000);
  const b = runtime.create(24000, 8000);
  const toneA = sine(800, 24000, 0.2);
  const toneB = sine(1900, 24000, 0.2);
  const outA: Int16Array[] = [];
  const outB: Int16Array[] = [];
  for (let offset = 0; offset < toneA.length; offset += 480) {
    outA.push(a.process(toneA.subarray(offset, offset + 480)));
    outB.push(b.process(toneB.subarray(offset, offset + 480)));
  }
  outA.push(a.flush());
  outB.push(b.flush());
  assert.equal(Array.from(concat(outA)), Array.from(await resampleWhole(24000, 8000, toneA)));
  assert.equal(Array.from(concat(outB)), Array.from(await resampleWhole(24000, 8000, toneB)));
  // After flush (which resets) the same resampler reproduces the same output for the same input.
  const again = concat([a.process(toneA), a.flush()]);
  assert.equal(Array.from(again), Array.from(concat(outA)));
  // reset() discards what was buffered: loud input then reset then silence gives pure silence.
  a.process(sine(1000, 24000, 0.05));
  a.reset();
  const silence = concat([a.process(new Int16Array(2400)), a.flush()]);
  assert.is(silence.length, 800);
  assert.ok(silence.every((s) => s === 0));
  a.destroy();
  b.destroy();
});

test('same rate copies; invalid arguments and use after destroy are typed errors', async () => {
  const same = await createResampler(8000, 8000);
  const input = sine(1000, 8000, 0.02);
  const copy = same.process(input);
  assert.equal(Array.from(copy), Array.from(input));
  assert.is.not(copy, input);
  assert.is(same.flush().length, 0);
  same.destroy();

  const isCode = (code: string) => (e: unknown) => e instanceof ResampleError && e.code === code;
  await assertRejects(() => createResampler(0, 8000), isCode('invalid-rate'));
  await assertRejects(() => createResampler(8000, 22050.5), isCode('invalid-rate'));
  await assertRejects(() => createResampler(24000, 8000, { quality: 11 }), isCode('invalid-quality'));
  const resampler: Resampler = await createResampler(16000, 8000, { quality: 3 });
  resampler.destroy();
  resampler.destroy();
  assert.throws(() => resampler.process(input), isCode('destroyed'));
  assert.throws(() => resampler.flush(), isCode('destroyed'));
});

test('loading the WASM module leaves no process-wide error handlers behind', async () => {
  const before = [process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')];
  await loadResamplerRuntime();
  assert.equal([process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')], before);
});

async function assertRejects(fn: () => Promise<unknown>, check: (e: unknown) => boolean): Promise<void> {
  try {
    await fn();
  } catch (error) {
    assert.ok(check(error), `unexpected error ${String(error)}`);
    return;
  }
  assert.unreachable('expected a rejection');
}

test.run();
