/**
 * Speech-engine benchmark: `npm run bench:engines -- [--json FILE] [--runs N]`.
 *
 * For every TTS engine usable here (flite voices always; sherpa / ElevenLabs / OpenAI when configured through
 * the usual env): time to first audio and real-time factor per sentence, and the phrase cache's first-audio
 * time for a cached prompt. For ASR, when a model is installed (ASR_ENGINE=sherpa ...): real-time factor on the
 * benchmark caller audio and how many concurrent real-time streams one core sustains. For the VAD: how long one
 * 32 ms window of every call takes to score when 1, 20 or 50 calls hand theirs over together (batched in the
 * worker thread, as on a live server), and the request time (submit to result) per window scored.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/index.js';
import { createAsrEngine } from '../src/asr/index.js';
import { transcribeSamples } from '../src/asr/transcribe.js';
import { createTtsEngine, FliteTtsEngine, PhraseCache, synthesizeCached, type TtsAudio, type TtsEngine } from '../src/tts/index.js';
import { loadSileroVad } from '../src/vad/index.js';
import { summarize } from './stats.js';
import { BENCH_UTTERANCES } from './utterances.js';

const { values: args } = parseArgs({ options: { json: { type: 'string', default: 'bench/out/engines.json' }, runs: { type: 'string', default: '10' } } });
const runs = Math.max(1, Number(args.runs));

const SENTENCES = [
  'Thank you for calling, how can I help you today?',
  'Your appointment with Doctor Nguyen is on Friday at nine thirty in the morning.',
  'I can take a message for our staff to call you back.',
  'Please enter your date of birth as eight digits, then press pound.',
];

function audioMs(chunk: TtsAudio): number {
  return chunk.format === 'mulaw8k' ? chunk.bytes.length / 8 : (chunk.samples.length * 1000) / chunk.sampleRate;
}

async function measureTts(engine: TtsEngine) {
  const firstAudio: number[] = [];
  const rtf: number[] = [];
  for (let i = 0; i < runs; i++) {
    const text = SENTENCES[i % SENTENCES.length]!;
    const started = performance.now();
    let first = -1;
    let ms = 0;
    for await (const chunk of engine.synthesize(text, new AbortController().signal)) {
      if (first < 0) first = performance.now() - started;
      ms += audioMs(chunk);
    }
    firstAudio.push(first);
    rtf.push((performance.now() - started) / Math.max(ms, 1));
  }
  const cache = new PhraseCache();
  await cache.warm(engine, [SENTENCES[0]!]);
  const cached: number[] = [];
  for (let i = 0; i < runs * 10; i++) {
    const started = performance.now();
    const iterator = synthesizeCached(cache, engine, SENTENCES[0]!, new AbortController().signal)[Symbol.asyncIterator]();
    await iterator.next();
    cached.push(performance.now() - started);
    await iterator.return?.(undefined);
  }
  return { engine: engine.name, voice: engine.voice, timeToFirstAudioMs: summarize(firstAudio), realTimeFactor: summarize(rtf), cachedPhraseFirstAudioMs: summarize(cached) };
}

/** Every call hands over one window at once, `runs * 20` times; the time until all are scored, per round. */
async function measureVad(calls: number) {
  let inferenceMs = 0;
  let windows = 0;
  const model = await loadSileroVad({ onBatch: (n, ms) => { windows += n; inferenceMs += ms; } });
  const audio = BENCH_UTTERANCES()[0]!.samples;
  const streams = Array.from({ length: calls }, () => model.createStream(8000));
  const window = new Float32Array(256);
  const roundMs: number[] = [];
  const rounds = runs * 20;
  for (let round = 0; round < rounds + 10; round++) {
    const offset = ((round * 256) % (audio.length - 256));
    for (let i = 0; i < 256; i++) window[i] = audio[offset + i]! / 32768;
    const started = performance.now();
    await Promise.all(streams.map((stream) => stream.probability(window)));
    if (round >= 10) roundMs.push(performance.now() - started); // the first rounds warm the session up
  }
  await model.close();
  return { calls, allWindowsScoredMs: summarize(roundMs), requestMsPerWindow: Math.round((1000 * inferenceMs) / windows) / 1000 };
}

async function main(): Promise<void> {
  const config = loadConfig();
  const vad = [];
  for (const calls of [1, 20, 50]) vad.push(await measureVad(calls));
  const tts: unknown[] = [];
  for (const voice of ['kal', 'slt']) {
    const engine = await FliteTtsEngine.create({ voice, processes: 1 });
    tts.push(await measureTts(engine));
    await engine.close();
  }
  if (config.tts.engine !== 'flite') {
    try {
      const engine = await createTtsEngine(config.tts);
      tts.push(await measureTts(engine));
      await engine.close();
    } catch (err) {
      tts.push({ engine: config.tts.engine, unavailable: (err as Error).message });
    }
  }

  let asr: unknown = { engine: config.asr.engine, unavailable: 'no ASR engine configured (set ASR_ENGINE and install a model)' };
  const engine = await createAsrEngine(config);
  if (engine.available) {
    const utterances = BENCH_UTTERANCES();
    const rtf: number[] = [];
    for (let i = 0; i < runs; i++) {
      const u = utterances[i % utterances.length]!;
      const started = performance.now();
      await transcribeSamples(engine, u.samples);
      rtf.push((performance.now() - started) / ((u.samples.length * 1000) / 8000));
    }
    const median = summarize(rtf).p50!;
    asr = { engine: engine.name, realTimeFactor: summarize(rtf), realTimeStreamsPerCore: Math.floor(1 / median) };
  } else if (engine.unavailableReason) {
    asr = { engine: config.asr.engine, unavailable: engine.unavailableReason };
  }
  await engine.close();

  const report = { runs, vad, tts, asr };
  mkdirSync(dirname(args.json!), { recursive: true });
  writeFileSync(args.json!, JSON.stringify(report, null, 2) + '\n');
  console.log(JSON.stringify(report, null, 2));
}

main().catch((err: unknown) => { console.error(`bench:engines: ${(err as Error).stack ?? String(err)}`); process.exitCode = 1; });
