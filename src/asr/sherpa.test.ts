import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ModelInvalidError, ModelMissingError } from './errors.js';
import {
  createSherpaAsrEngine, createSherpaEngineFromRecognizer, locateTransducerFiles, probeRecognizerConfig,
  toSherpaRecognizerConfig, type SherpaOnlineRecognizer, type SherpaOnlineResult, type SherpaOnlineStream,
} from './sherpa.js';
import type { AsrEvent } from './types.js';
import { writeTinyTransducerModel } from '../../test/support/tiny-transducer-model.js';

const require = createRequire(import.meta.url);
const MODEL = 'sherpa-onnx-streaming-zipformer-en-2023-06-26';
const FILES = {
  encoder: 'encoder-epoch-99-avg-1-chunk-16-left-128.int8.onnx',
  decoder: 'decoder-epoch-99-avg-1-chunk-16-left-128.onnx',
  joiner: 'joiner-epoch-99-avg-1-chunk-16-left-128.int8.onnx',
  tokens: 'tokens.txt',
};

// ---------------------------------------------------------------------------------------------------------
// Against the real sherpa-onnx-node addon (no weights can be downloaded here).
// ---------------------------------------------------------------------------------------------------------
const real = suite('sherpa engine, real sherpa-onnx-node addon');
let tempDirs: string[] = [];
real.after.each(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs = [];
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'carevox-sherpa-'));
  tempDirs.push(dir);
  return dir;
}

real('maps options to the addon config shape', () => {
  const config = toSherpaRecognizerConfig({
    modelDir: '/m', numThreads: 3, decodingMethod: 'modified_beam_search', enableEndpoint: false,
    rule1MinTrailingSilence: 2, rule2MinTrailingSilence: 0.8, rule3MinUtteranceLength: 15,
  }, FILES);
  assert.equal(config, {
    featConfig: { sampleRate: 16000, featureDim: 80 },
    modelConfig: {
      transducer: { encoder: `/m/${FILES.encoder}`, decoder: `/m/${FILES.decoder}`, joiner: `/m/${FILES.joiner}` },
      tokens: '/m/tokens.txt', numThreads: 3, provider: 'cpu', debug: 0,
    },
    decodingMethod: 'modified_beam_search', maxActivePaths: 4, enableEndpoint: 0,
    rule1MinTrailingSilence: 2, rule2MinTrailingSilence: 0.8, rule3MinUtteranceLength: 15,
  });
  const defaults = toSherpaRecognizerConfig({ modelDir: '/m', numThreads: 1 }, FILES);
  assert.is(defaults.decodingMethod, 'greedy_search');
  assert.is(defaults.enableEndpoint, 1);
  assert.is(defaults.rule2MinTrailingSilence, 1.2);
});

real('the real addon accepts the mapped config object and validates it (a JS error, not an abort)', () => {
  const sherpa = require('sherpa-onnx-node') as { OnlineRecognizer: new (c: unknown) => unknown };
  const config = toSherpaRecognizerConfig({ modelDir: join(tempDir(), 'absent'), numThreads: 1 }, FILES);
  // With nothing on disk the addon's own validation rejects it: the object shape got through to C++.
  assert.throws(() => new sherpa.OnlineRecognizer(config), /check your config/i);
});

real('missing model: one clear line naming the files and the install command, before the addon is touched', async () => {
  const dir = join(tempDir(), MODEL);
  try {
    await createSherpaAsrEngine({ modelDir: dir, modelName: MODEL, files: FILES, numThreads: 1 });
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.instance(err, ModelMissingError);
    const error = err as ModelMissingError;
    assert.not.match(error.message, /\n/);
    assert.match(error.message, `carevox models pull ${MODEL}`);
    for (const file of Object.values(FILES)) assert.match(error.message, file);
    assert.equal(error.missingFiles, Object.values(FILES));
  }
});

real('partly installed model names only the missing files', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, FILES.tokens), 'a 0\n');
  writeFileSync(join(dir, FILES.encoder), 'x');
  const err = await createSherpaAsrEngine({ modelDir: dir, modelName: MODEL, files: FILES, numThreads: 1 }).catch((e: unknown) => e);
  assert.instance(err, ModelMissingError);
  assert.equal((err as ModelMissingError).missingFiles, [FILES.decoder, FILES.joiner]);
});

real('corrupt model files: the addon aborts its process, we get a typed ModelInvalidError and live on', async () => {
  const dir = tempDir();
  for (const name of [FILES.encoder, FILES.decoder, FILES.joiner]) writeFileSync(join(dir, name), Buffer.from('not an onnx protobuf '.repeat(64)));
  writeFileSync(join(dir, FILES.tokens), '<blk> 0\na 1\n');
  const err = await createSherpaAsrEngine({ modelDir: dir, modelName: MODEL, files: FILES, numThreads: 1 }).catch((e: unknown) => e);
  assert.instance(err, ModelInvalidError);
  const message = (err as Error).message;
  // What the real addon reported from the child: killed by SIGABRT after an Ort::Exception about protobuf.
  assert.match(message, /SIGABRT/);
  assert.match(message, /Protobuf parsing failed/i);
  assert.match(message, `carevox models pull ${MODEL}`);
});

real('probe reports success/failure of the real loader directly', async () => {
  const config = toSherpaRecognizerConfig({ modelDir: join(tempDir(), 'none'), numThreads: 1 }, FILES);
  const probe = await probeRecognizerConfig(config);
  assert.is(probe.ok, false);
  if (!probe.ok) assert.match(probe.detail, /exited with code 1/);
});

real('locates the usual export names when the manifest names are not given', () => {
  const dir = tempDir();
  for (const name of ['encoder-epoch-99-avg-1.onnx', 'encoder-epoch-99-avg-1.int8.onnx', 'decoder-epoch-99-avg-1.onnx',
    'decoder-epoch-99-avg-1.int8.onnx', 'joiner-epoch-99-avg-1.int8.onnx', 'tokens.txt']) writeFileSync(join(dir, name), '');
  const located = locateTransducerFiles(dir);
  assert.equal(located.files, {
    encoder: 'encoder-epoch-99-avg-1.int8.onnx', decoder: 'decoder-epoch-99-avg-1.onnx',
    joiner: 'joiner-epoch-99-avg-1.int8.onnx', tokens: 'tokens.txt',
  });
  assert.equal(locateTransducerFiles(join(dir, 'nope')).missing, ['encoder*.onnx', 'decoder*.onnx', 'joiner*.onnx', 'tokens.txt']);
});

real.run();

// ---------------------------------------------------------------------------------------------------------
// Stream management against a RECOGNIZER DOUBLE: an object implementing sherpa's OnlineRecognizer surface.
// This proves our push/endpoint/final/reset/close bookkeeping, not the real engine (that is above).
// Double behaviour: every 1600 input samples (200 ms at 8 kHz) of non-silent audio decode one word
// "w<N>"; 4000 samples of trailing silence after a word trigger an endpoint, like sherpa's rule 2.
// ---------------------------------------------------------------------------------------------------------
class DoubleStream implements SherpaOnlineStream {
  pending: Float32Array[] = [];
  words: string[] = [];
  loudRun = 0;
  silentRun = 0;
  finished = false;
  totalSamples = 0;
  acceptWaveform(waveform: { samples: Float32Array; sampleRate: number }): void {
    if (waveform.sampleRate !== 8000) throw new Error('double expects 8 kHz');
    if (this.finished) throw new Error('input already finished');
    this.pending.push(waveform.samples);
  }
  inputFinished(): void { this.finished = true; }
}

class RecognizerDouble implements SherpaOnlineRecognizer<DoubleStream> {
  created = 0;
  batchSizes: number[] = [];
  failNextDecode = false;
  createStream(): DoubleStream { this.created++; return new DoubleStream(); }
  isReady(stream: DoubleStream): boolean { return stream.pending.length > 0; }
  decode(stream: DoubleStream): void { this.decodeStreams([stream]); }
  decodeStreams(streams: DoubleStream[]): void {
    this.batchSizes.push(streams.length);
    if (this.failNextDecode) { this.failNextDecode = false; throw new Error('onnx runtime failure'); }
    for (const stream of streams) {
      const chunk = stream.pending.shift()!;
      for (const sample of chunk) {
        stream.totalSamples++;
        if (Math.abs(sample) > 0.01) {
          stream.silentRun = 0;
          if (++stream.loudRun === 1600) { stream.words.push(`w${stream.totalSamples}`); stream.loudRun = 0; }
        } else {
          stream.silentRun++;
          stream.loudRun = 0;
        }
      }
    }
  }
  isEndpoint(stream: DoubleStream): boolean { return stream.words.length > 0 && stream.silentRun >= 4000; }
  reset(stream: DoubleStream): void { stream.words = []; stream.silentRun = 0; }
  getResult(stream: DoubleStream): SherpaOnlineResult {
    return { text: stream.words.join(' '), start_time: 0, timestamps: stream.words.map(() => 0.1) };
  }
}

const tone = (n: number) => Int16Array.from({ length: n }, (_, i) => (i % 4 < 2 ? 6000 : -6000));
const silence = (n: number) => new Int16Array(n);
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
function frames(samples: Int16Array, size = 160): Int16Array[] {
  const out: Int16Array[] = [];
  for (let i = 0; i < samples.length; i += size) out.push(samples.subarray(i, i + size));
  return out;
}

const lifecycle = suite('sherpa stream management (recognizer double, not the real engine)');

lifecycle('partials while audio streams, then exactly one final on endUtterance', async () => {
  const recognizer = new RecognizerDouble();
  const engine = createSherpaEngineFromRecognizer(recognizer);
  const events: AsrEvent[] = [];
  const stream = engine.createStream((e) => events.push(e));
  for (const frame of frames(tone(3200))) stream.pushAudio(frame);
  await waitFor(events, (e) => e.type === 'partial');
  const partials = events.filter((e) => e.type === 'partial');
  assert.ok(partials.length >= 1, 'a partial while streaming');
  assert.equal(events.filter((e) => e.type === 'final').length, 0);
  stream.endUtterance(tone(3200));
  await waitFor(events, (e) => e.type === 'final');
  await settle(); // a second final would come right after
  const finals = events.filter((e) => e.type === 'final');
  assert.is(finals.length, 1);
  assert.is(finals[0]!.type === 'final' && finals[0]!.text, 'w1600 w3200');
  // The finished native stream was replaced for the next turn.
  assert.is(recognizer.created, 2);
  stream.close();
  await engine.close();
});

lifecycle('sherpa endpoint inside a turn: partial flagged endpoint, text kept for the final', async () => {
  const engine = createSherpaEngineFromRecognizer(new RecognizerDouble());
  const events: AsrEvent[] = [];
  const stream = engine.createStream((e) => events.push(e));
  for (const frame of frames(tone(1600))) stream.pushAudio(frame);
  for (const frame of frames(silence(4000))) stream.pushAudio(frame);
  await waitFor(events, (e) => e.type === 'partial' && e.endpoint === true);
  const endpointPartial = events.find((e) => e.type === 'partial' && e.endpoint);
  assert.ok(endpointPartial, 'endpoint partial');
  for (const frame of frames(tone(1600))) stream.pushAudio(frame);
  stream.endUtterance(new Int16Array(0));
  await waitFor(events, (e) => e.type === 'final');
  await settle();
  const finals = events.filter((e) => e.type === 'final');
  assert.is(finals.length, 1);
  assert.is(finals[0]!.type === 'final' && finals[0]!.text, 'w1600 w7200');
  await engine.close();
});

lifecycle('reset drops the pending final and the audio heard so far', async () => {
  const engine = createSherpaEngineFromRecognizer(new RecognizerDouble());
  const events: AsrEvent[] = [];
  const stream = engine.createStream((e) => events.push(e));
  for (const frame of frames(tone(3200))) stream.pushAudio(frame);
  stream.endUtterance(new Int16Array(0));
  stream.reset();
  await settle();
  assert.equal(events.filter((e) => e.type === 'final').length, 0, 'pending final dropped');
  stream.endUtterance(new Int16Array(0));
  await waitFor(events, (e) => e.type === 'final');
  await settle();
  const finals = events.filter((e) => e.type === 'final');
  assert.is(finals.length, 1);
  assert.is(finals[0]!.type === 'final' && finals[0]!.text, '', 'nothing heard since the reset');
  await engine.close();
});

lifecycle('audio given only to endUtterance is transcribed (file mode)', async () => {
  const engine = createSherpaEngineFromRecognizer(new RecognizerDouble());
  const events: AsrEvent[] = [];
  const stream = engine.createStream((e) => events.push(e));
  stream.endUtterance(tone(1600));
  await waitFor(events, (e) => e.type === 'final');
  await settle();
  assert.equal(events.filter((e) => e.type === 'final').map((e) => e.type === 'final' && e.text), ['w1600']);
  await engine.close();
});

lifecycle('calls are decoded together in one batch per event-loop turn', async () => {
  const recognizer = new RecognizerDouble();
  const engine = createSherpaEngineFromRecognizer(recognizer);
  const a = engine.createStream(() => {});
  const b = engine.createStream(() => {});
  a.pushAudio(tone(160));
  b.pushAudio(tone(160));
  for (let i = 0; i < 1000 && recognizer.batchSizes.length === 0; i++) await settle();
  assert.ok(recognizer.batchSizes.includes(2), `batches: ${recognizer.batchSizes.join(',')}`);
  await engine.close();
});

lifecycle('an addon failure becomes an error event answering the next endUtterance; close silences the stream', async () => {
  const recognizer = new RecognizerDouble();
  const engine = createSherpaEngineFromRecognizer(recognizer);
  const events: AsrEvent[] = [];
  const stream = engine.createStream((e) => events.push(e));
  recognizer.failNextDecode = true;
  stream.pushAudio(tone(160));
  await settle();
  assert.equal(events.length, 0, 'no error in mid-turn');
  stream.endUtterance(new Int16Array(0));
  await waitFor(events, (e) => e.type === 'error');
  await settle();
  assert.is(events.length, 1);
  assert.is(events[0]!.type, 'error');
  stream.close();
  stream.pushAudio(tone(1600));
  stream.endUtterance(tone(1600));
  await settle();
  assert.is(events.length, 1, 'nothing after close');
  await engine.close();
});

lifecycle.run();

// ---------------------------------------------------------------------------------------------------------
// End to end through the REAL addon with a tiny hand-built transducer (test/support/tiny-transducer-model.ts):
// it decodes loudness, not speech, but every call below is real sherpa-onnx: model load (probed in a child
// first), acceptWaveform at 8 kHz, batched decodeStreams, getResult, isEndpoint, reset, inputFinished.
// ---------------------------------------------------------------------------------------------------------
const e2e = suite('sherpa engine end to end (real addon, tiny hand-built transducer)');
let tinyDir = '';
e2e.before(() => { tinyDir = mkdtempSync(join(tmpdir(), 'carevox-tiny-transducer-')); });
e2e.after(() => rmSync(tinyDir, { recursive: true, force: true }));

/** Broadband "speech-like" loudness: deterministic noise at about -13 dBFS. */
function loud(n: number, seed = 1): Int16Array {
  let state = seed;
  return Int16Array.from({ length: n }, () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return Math.round(((state / 2147483648) - 0.5) * 20000);
  });
}
async function waitFor(events: AsrEvent[], pred: (e: AsrEvent) => boolean, ms = 20_000): Promise<AsrEvent> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = events.find(pred);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`timed out; events: ${JSON.stringify(events)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
const words = (text: string) => text.split(' ').filter(Boolean);

e2e('loads through the child-process probe and transcribes a turn fed as 20 ms frames', async () => {
  const files = writeTinyTransducerModel(join(tinyDir, 'a'));
  const engine = await createSherpaAsrEngine({ modelDir: join(tinyDir, 'a'), files, numThreads: 1 });
  assert.is(engine.available, true);
  const events: AsrEvent[] = [];
  const stream = engine.createStream((e) => events.push(e));
  const audio = new Int16Array(4000 + 8000 + 2000);
  audio.set(loud(8000), 4000); // 0.5 s quiet, 1 s loud, 0.25 s quiet
  for (const frame of frames(audio)) stream.pushAudio(frame);
  await waitFor(events, (e) => e.type === 'partial' && words(e.text).length >= 15);
  stream.endUtterance(audio);
  const final = await waitFor(events, (e) => e.type === 'final');
  const partials = events.filter((e) => e.type === 'partial');
  assert.ok(partials.length >= 2, 'partials while decoding');
  assert.ok(partials.every((p) => p.type === 'partial' && /^(LOUD ?)+$/.test(p.text)));
  assert.is(final.type, 'final');
  const n = words(final.type === 'final' ? final.text : '').length;
  // One token per loud 40 ms encoder frame: about 25 for one second.
  assert.ok(n >= 20 && n <= 28, `${n} tokens`);
  assert.ok(final.type === 'final' && final.startMs === 0 && final.endMs! >= 1300 && final.endMs! <= 1600, JSON.stringify(final));
  stream.close();
  await engine.close();
});

e2e('silence gives an empty final; reset drops what was heard; streams are independent (batched decode)', async () => {
  const files = writeTinyTransducerModel(join(tinyDir, 'b'));
  const engine = await createSherpaAsrEngine({ modelDir: join(tinyDir, 'b'), files, numThreads: 1, probeInChildProcess: false });
  const quietEvents: AsrEvent[] = [];
  const loudEvents: AsrEvent[] = [];
  const quiet = engine.createStream((e) => quietEvents.push(e));
  const noisy = engine.createStream((e) => loudEvents.push(e));
  const loudAudio = loud(6400, 7);
  for (let i = 0; i < 6400; i += 160) {
    quiet.pushAudio(new Int16Array(160));
    noisy.pushAudio(loudAudio.subarray(i, i + 160));
  }
  quiet.endUtterance(new Int16Array(0));
  noisy.endUtterance(new Int16Array(0));
  const quietFinal = await waitFor(quietEvents, (e) => e.type === 'final');
  const loudFinal = await waitFor(loudEvents, (e) => e.type === 'final');
  assert.is(quietFinal.type === 'final' && quietFinal.text, '');
  assert.ok(words(loudFinal.type === 'final' ? loudFinal.text : '').length >= 12);

  // Reset in mid-turn: only what follows counts.
  loudEvents.length = 0;
  for (const frame of frames(loud(8000, 3))) noisy.pushAudio(frame);
  noisy.reset();
  for (const frame of frames(loud(1600, 4))) noisy.pushAudio(frame);
  noisy.endUtterance(new Int16Array(0));
  const afterReset = await waitFor(loudEvents, (e) => e.type === 'final');
  const n = words(afterReset.type === 'final' ? afterReset.text : '').length;
  assert.ok(n >= 2 && n <= 7, `${n} tokens after reset (0.2 s of loud audio)`);
  quiet.close();
  noisy.close();
  await engine.close();
});

e2e('sherpa\'s own endpoint rule fires on trailing silence: partial flagged endpoint, text kept for the final', async () => {
  const files = writeTinyTransducerModel(join(tinyDir, 'c'));
  const engine = await createSherpaAsrEngine({
    modelDir: join(tinyDir, 'c'), files, numThreads: 1, probeInChildProcess: false,
    rule1MinTrailingSilence: 5, rule2MinTrailingSilence: 0.5, rule3MinUtteranceLength: 30,
  });
  const events: AsrEvent[] = [];
  const stream = engine.createStream((e) => events.push(e));
  for (const frame of frames(loud(4000, 9))) stream.pushAudio(frame);
  for (const frame of frames(new Int16Array(16000))) stream.pushAudio(frame);
  const endpoint = await waitFor(events, (e) => e.type === 'partial' && e.endpoint === true);
  const endpointWords = words(endpoint.type === 'partial' ? endpoint.text : '').length;
  assert.ok(endpointWords >= 8, `${endpointWords}`);
  for (const frame of frames(loud(1600, 10))) stream.pushAudio(frame);
  stream.endUtterance(new Int16Array(0));
  const final = await waitFor(events, (e) => e.type === 'final');
  assert.ok(words(final.type === 'final' ? final.text : '').length > endpointWords, 'final = endpointed segment + the rest');
  assert.is(events.filter((e) => e.type === 'final').length, 1);
  stream.close();
  await engine.close();
});

e2e('main-thread decoding (decodeIn: main-thread) gives the same result as the worker', async () => {
  const files = writeTinyTransducerModel(join(tinyDir, 'd'));
  const audio = new Int16Array(12000);
  audio.set(loud(8000, 11), 2000);
  const finals: string[] = [];
  for (const decodeIn of ['worker', 'main-thread'] as const) {
    const engine = await createSherpaAsrEngine({ modelDir: join(tinyDir, 'd'), files, numThreads: 1, probeInChildProcess: false, decodeIn });
    const events: AsrEvent[] = [];
    const stream = engine.createStream((e) => events.push(e));
    stream.endUtterance(audio);
    const final = await waitFor(events, (e) => e.type === 'final');
    finals.push(final.type === 'final' ? final.text : '');
    stream.close();
    await engine.close();
  }
  assert.ok(words(finals[0]!).length >= 20);
  assert.is(finals[0], finals[1]);
});

e2e.run();
