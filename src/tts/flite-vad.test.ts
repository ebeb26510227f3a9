/**
 * Cross-check with the real VAD: what flite says must be heard as speech by Silero at the telephone rate,
 * after the same 16 kHz -> 8 kHz resampling playout applies.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createResampler } from '../media/resample.js';
import { loadSileroVad, type VadModel } from '../vad/index.js';
import { FliteTtsEngine } from './flite.js';

const vadSuite = suite('flite output through Silero VAD', {} as { engine: FliteTtsEngine; vad: VadModel });

vadSuite.before(async (context) => {
  [context.engine, context.vad] = await Promise.all([FliteTtsEngine.create({ voice: 'slt' }), loadSileroVad()]);
});
vadSuite.after(async (context) => {
  await Promise.all([context.engine.close(), context.vad.close()]);
});

async function speechProbabilities(vad: VadModel, pcm8k: Int16Array): Promise<number[]> {
  const stream = vad.createStream(8000);
  const probabilities: number[] = [];
  const window = new Float32Array(stream.windowSamples);
  for (let start = 0; start + window.length <= pcm8k.length; start += window.length) {
    for (let i = 0; i < window.length; i++) window[i] = pcm8k[start + i]! / 32768;
    probabilities.push(await stream.probability(window));
  }
  return probabilities;
}

vadSuite('Silero finds speech in flite audio resampled to 8 kHz, and none in silence', async ({ engine, vad }) => {
  assert.ok(engine.output.format === 'pcm16' && engine.output.sampleRate === 16000);
  const resampler = await createResampler(16000, 8000);
  const parts: Int16Array[] = [];
  try {
    for await (const chunk of engine.synthesize('Thank you for calling the clinic, how can I help you today?', new AbortController().signal)) {
      if (chunk.format === 'pcm16') parts.push(resampler.process(chunk.samples));
    }
    parts.push(resampler.flush());
  } finally {
    resampler.destroy();
  }
  const pcm8k = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) { pcm8k.set(part, offset); offset += part.length; }
  assert.ok(pcm8k.length > 8000 * 2, `${pcm8k.length} samples at 8 kHz`);

  const speech = await speechProbabilities(vad, pcm8k);
  const speechWindows = speech.filter((p) => p >= 0.5).length;
  assert.ok(speechWindows / speech.length > 0.5, `${speechWindows} of ${speech.length} windows are speech`);
  assert.ok(Math.max(...speech) > 0.9);

  const silence = await speechProbabilities(vad, new Int16Array(pcm8k.length));
  assert.ok(silence.every((p) => p < 0.5), 'no speech in silence');
});

vadSuite.run();
