import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SherpaTtsEngine, buildSherpaTtsConfig, floatToInt16, resolveSherpaTtsFiles, sherpaTtsOptionsFromConfig } from './sherpa.js';
import { loadConfig } from '../config/index.js';
import { TtsFaultError, TtsModelInvalidError, TtsModelMissingError } from './errors.js';
import { TtsError, type TtsAudio } from './types.js';
import {
  TINY_KOKORO_SAMPLE_RATE, TINY_VITS_SAMPLE_RATE, TINY_VITS_SAMPLES_PER_TOKEN, tinyVitsExpected, writeTinyKokoroModel, writeTinyVitsModel,
} from '../../test/support/tiny-vits-model.js';
import type { SherpaTtsKind } from './sherpa.js';
import { collect } from '../../test/support/tts-audio.js';

const test = suite<{ root: string }>('tts/sherpa');

test.before((ctx) => { ctx.root = mkdtempSync(join(tmpdir(), 'carevox-sherpa-tts-')); });
test.after((ctx) => { rmSync(ctx.root, { recursive: true, force: true }); });

function dir(ctx: { root: string }, name: string): string {
  const path = join(ctx.root, name);
  mkdirSync(path, { recursive: true });
  return path;
}

/** espeak-ng-data with the files sherpa checks for (content irrelevant where nothing loads it). */
function fakeEspeakData(modelDir: string): void {
  mkdirSync(join(modelDir, 'espeak-ng-data'));
  for (const f of ['phontab', 'phonindex', 'phondata', 'intonations']) writeFileSync(join(modelDir, 'espeak-ng-data', f), 'x');
}

function joined(chunks: TtsAudio[]): Int16Array {
  const parts = chunks.map((c) => (c.format === 'pcm16' ? c.samples : new Int16Array(0)));
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

test('missing Piper files: one typed error naming every file and the install command', (ctx) => {
  const modelDir = dir(ctx, 'vits-piper-en_US-lessac-medium');
  try {
    resolveSherpaTtsFiles({ kind: 'piper', modelDir });
    assert.unreachable('should throw');
  } catch (err) {
    assert.instance(err, TtsModelMissingError);
    const missing = err as TtsModelMissingError;
    assert.equal(missing.missingFiles, ['<voice>.onnx', 'tokens.txt', ...['phontab', 'phonindex', 'phondata', 'intonations'].map((f) => join('espeak-ng-data', f))]);
    assert.is(missing.modelName, 'vits-piper-en_US-lessac-medium');
    assert.is(missing.modelDir, modelDir);
    assert.is(missing.installCommand, 'carevox models pull vits-piper-en_US-lessac-medium');
    assert.ok(!missing.message.includes('\n'), 'one line');
    assert.match(missing.message, 'carevox models pull vits-piper-en_US-lessac-medium');
    assert.match(missing.message, 'tokens.txt');
  }
});

test('missing model directory altogether and missing Kokoro voices are reported the same way', (ctx) => {
  assert.throws(() => resolveSherpaTtsFiles({ kind: 'piper', modelDir: join(ctx.root, 'absent') }),
    (err: unknown) => err instanceof TtsModelMissingError && err.missingFiles.length === 6);
  const kokoro = dir(ctx, 'kokoro-en-v0_19');
  writeFileSync(join(kokoro, 'model.onnx'), 'x');
  writeFileSync(join(kokoro, 'tokens.txt'), 'x');
  fakeEspeakData(kokoro);
  assert.throws(() => resolveSherpaTtsFiles({ kind: 'kokoro', modelDir: kokoro }),
    (err: unknown) => err instanceof TtsModelMissingError && err.missingFiles.length === 1 && err.missingFiles[0] === 'voices.bin');
});

test('argument mapping: piper, kokoro (with lexicons) and plain vits', (ctx) => {
  const piper = dir(ctx, 'vits-piper-en_US-amy-low');
  writeFileSync(join(piper, 'en_US-amy-low.onnx'), 'x');
  writeFileSync(join(piper, 'tokens.txt'), 'x');
  fakeEspeakData(piper);
  const piperFiles = resolveSherpaTtsFiles({ kind: 'piper', modelDir: piper });
  assert.equal(buildSherpaTtsConfig('piper', piperFiles, { numThreads: 2 }), {
    model: {
      vits: { model: join(piper, 'en_US-amy-low.onnx'), tokens: join(piper, 'tokens.txt'), dataDir: join(piper, 'espeak-ng-data') },
      numThreads: 2, provider: 'cpu', debug: 0,
    },
    maxNumSentences: 1,
  });

  const kokoro = dir(ctx, 'kokoro-multi-lang-v1_0');
  for (const f of ['model.onnx', 'voices.bin', 'tokens.txt', 'lexicon-us-en.txt', 'lexicon-zh.txt']) writeFileSync(join(kokoro, f), 'x');
  fakeEspeakData(kokoro);
  const kokoroConfig = buildSherpaTtsConfig('kokoro', resolveSherpaTtsFiles({ kind: 'kokoro', modelDir: kokoro }));
  assert.equal(kokoroConfig.model.kokoro, {
    model: join(kokoro, 'model.onnx'), voices: join(kokoro, 'voices.bin'), tokens: join(kokoro, 'tokens.txt'),
    dataDir: join(kokoro, 'espeak-ng-data'), lexicon: `${join(kokoro, 'lexicon-us-en.txt')},${join(kokoro, 'lexicon-zh.txt')}`,
  });
  assert.is(kokoroConfig.model.vits, undefined);
  assert.is(kokoroConfig.model.numThreads, 1);

  const vits = dir(ctx, 'tiny');
  writeTinyVitsModel(vits);
  assert.equal(buildSherpaTtsConfig('vits', resolveSherpaTtsFiles({ kind: 'vits', modelDir: vits })).model.vits,
    { model: join(vits, 'model.onnx'), tokens: join(vits, 'tokens.txt') });
});

test('real sherpa-onnx: synthesizes with the configured speaker and speed, in ~100 ms chunks', async (ctx) => {
  const modelDir = dir(ctx, 'tiny-real');
  writeTinyVitsModel(modelDir);
  const tts = await SherpaTtsEngine.create({ kind: 'vits', modelDir, speakerId: 2, speed: 2 });
  try {
    assert.equal(tts.output, { format: 'pcm16', sampleRate: TINY_VITS_SAMPLE_RATE });
    assert.is(tts.voice, 'tiny-real#2');
    const text = 'Hello world.';
    const chunks = await collect(tts.synthesize(text, new AbortController().signal));
    const expected = floatToInt16('test', tinyVitsExpected(text, 2, 2));
    assert.is(expected.length, 12 * TINY_VITS_SAMPLES_PER_TOKEN);
    const got = joined(chunks);
    assert.is(got.length, expected.length);
    let maxDiff = 0;
    for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i]! - expected[i]!));
    assert.ok(maxDiff <= 1, `samples match the model's formula (max diff ${maxDiff})`);
    assert.ok(chunks.every((c) => c.format === 'pcm16' && c.sampleRate === TINY_VITS_SAMPLE_RATE));
    assert.is(chunks.length, Math.ceil(expected.length / 1600), '100 ms = 1600 samples at 16 kHz');
  } finally {
    await tts.close();
  }
});

test('real sherpa-onnx: abort after the first chunk stops the sentence there', async (ctx) => {
  const modelDir = dir(ctx, 'tiny-abort');
  writeTinyVitsModel(modelDir);
  const tts = await SherpaTtsEngine.create({ kind: 'vits', modelDir, validate: false });
  try {
    const controller = new AbortController();
    let count = 0;
    for await (const _ of tts.synthesize('this is a much longer sentence. and another one follows it.', controller.signal)) {
      count++;
      controller.abort();
    }
    assert.is(count, 1);
    // Abort while the generation is still running on sherpa's worker: the iterator ends without audio.
    const early = new AbortController();
    const iterator = tts.synthesize('a sentence being generated right now.', early.signal)[Symbol.asyncIterator]();
    const pending = iterator.next();
    early.abort();
    assert.equal(await pending, { done: true, value: undefined });
    // The engine stays usable for the next sentence.
    const next = await collect(tts.synthesize('ok.', new AbortController().signal));
    assert.is(joined(next).length, 3 * TINY_VITS_SAMPLES_PER_TOKEN);
  } finally {
    await tts.close();
  }
  await assert_rejects(() => collect(tts.synthesize('after close.', new AbortController().signal)), TtsError);
});

/** Debian's espeak-ng-data (package espeak-ng-data), which sherpa's bundled espeak-ng can read. */
const SYSTEM_ESPEAK_DATA = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib', '/usr/share']
  .map((d) => join(d, 'espeak-ng-data')).find((d) => existsSync(join(d, 'phontab')));

/** In CI (which installs espeak-ng-data itself) a missing package is a failure; elsewhere the test says it skipped. */
function requireEspeakData(): boolean {
  if (SYSTEM_ESPEAK_DATA) return true;
  if (process.env.CI) assert.unreachable('espeak-ng-data is missing: .ci/run installs it (apt-get install espeak-ng-data)');
  console.warn('  (skipped: no espeak-ng-data on this machine; apt-get install espeak-ng-data)');
  return false;
}

/** Renders one sentence with each (speaker, speed) and checks the tiny model's amplitude law end to end. */
async function checkSpeakerAndSpeed(kind: SherpaTtsKind, modelDir: string, sampleRate: number, speaker: number): Promise<void> {
  const render = async (speakerId: number, speed: number, validate: boolean): Promise<Int16Array> => {
    const tts = await SherpaTtsEngine.create({ kind, modelDir, speakerId, speed, validate });
    try {
      assert.equal(tts.output, { format: 'pcm16', sampleRate });
      return joined(await collect(tts.synthesize('Hello, this is the clinic.', new AbortController().signal)));
    } finally {
      await tts.close();
    }
  };
  const base = await render(0, 1, true);
  const otherSpeaker = await render(speaker, 1, false);
  const faster = await render(0, 2, false);
  assert.ok(base.length > 10 * TINY_VITS_SAMPLES_PER_TOKEN, 'espeak produced phonemes, the model audio');
  assert.is(base.length % TINY_VITS_SAMPLES_PER_TOKEN, 0);
  assert.is(otherSpeaker.length, base.length);
  assert.is(faster.length, base.length);
  for (let i = 0; i < base.length; i += 37) {
    assert.ok(Math.abs(otherSpeaker[i]! - (speaker + 1) * base[i]!) <= speaker + 1, `speaker ${speaker} reached the model`);
    assert.ok(Math.abs(faster[i]! - base[i]! / 2) <= 1, 'speed 2 reached the model');
  }
}

test('real sherpa-onnx, Piper-style model through espeak-ng: speaker and speed reach the network', async (ctx) => {
  if (!requireEspeakData()) return;
  const modelDir = dir(ctx, 'vits-piper-en_US-tiny');
  writeTinyVitsModel(modelDir, { variant: 'piper', modelFile: 'en_US-tiny.onnx' }); // Piper names the file after the voice
  symlinkSync(SYSTEM_ESPEAK_DATA!, join(modelDir, 'espeak-ng-data'));
  await checkSpeakerAndSpeed('piper', modelDir, TINY_VITS_SAMPLE_RATE, 1);
});

test('real sherpa-onnx, Kokoro model with voices.bin: the speaker id selects the style vector, speed reaches the network', async (ctx) => {
  if (!requireEspeakData()) return;
  const modelDir = dir(ctx, 'kokoro-tiny');
  writeTinyKokoroModel(modelDir);
  symlinkSync(SYSTEM_ESPEAK_DATA!, join(modelDir, 'espeak-ng-data'));
  await checkSpeakerAndSpeed('kokoro', modelDir, TINY_KOKORO_SAMPLE_RATE, 2);
});

test('corrupt Kokoro voices.bin (wrong size) is a typed error naming it', async (ctx) => {
  if (!requireEspeakData()) return;
  const modelDir = dir(ctx, 'kokoro-bad-voices');
  writeTinyKokoroModel(modelDir);
  symlinkSync(SYSTEM_ESPEAK_DATA!, join(modelDir, 'espeak-ng-data'));
  writeFileSync(join(modelDir, 'voices.bin'), new Uint8Array(100));
  const err = await assert_rejects(() => SherpaTtsEngine.create({ kind: 'kokoro', modelDir }), TtsModelInvalidError);
  assert.is((err as TtsModelInvalidError).file, 'voices.bin');
  assert.match((err as Error).message, /Corrupted --kokoro-voices/);
});

test('unreadable espeak-ng-data (files present but not espeak data) is caught by the probe, naming it', async (ctx) => {
  const modelDir = dir(ctx, 'vits-piper-bad-espeak');
  writeTinyVitsModel(modelDir, { variant: 'piper', modelFile: 'en_US-x.onnx' });
  mkdirSync(join(modelDir, 'espeak-ng-data'));
  for (const f of ['phontab', 'phonindex', 'phondata', 'intonations']) writeFileSync(join(modelDir, 'espeak-ng-data', f), 'not espeak data');
  const err = await assert_rejects(() => SherpaTtsEngine.create({ kind: 'piper', modelDir }), TtsModelInvalidError);
  assert.is((err as TtsModelInvalidError).file, 'espeak-ng-data');
});

test('speaker id outside the model is a typed start-up error', async (ctx) => {
  const modelDir = dir(ctx, 'tiny-sid');
  writeTinyVitsModel(modelDir);
  await assert_rejects(() => SherpaTtsEngine.create({ kind: 'vits', modelDir, speakerId: 9, validate: false }), TtsError, /speakers 0\.\.3/);
});

test('corrupt model (the addon would abort the process) is caught in the probe child as a typed error', async (ctx) => {
  const modelDir = dir(ctx, 'vits-corrupt');
  writeTinyVitsModel(modelDir);
  const model = join(modelDir, 'model.onnx');
  writeFileSync(model, readFileSync(model).subarray(0, 200)); // a truncated download
  const err = await assert_rejects(() => SherpaTtsEngine.create({ kind: 'vits', modelDir }), TtsModelInvalidError);
  assert.is((err as TtsModelInvalidError).file, 'model.onnx');
  assert.match((err as Error).message, /SIGABRT|Protobuf|exited/);
  assert.match((err as Error).message, 'carevox models pull vits-corrupt');
});

test('bad tokens file and a model missing required metadata are typed errors naming the file', async (ctx) => {
  const badTokens = dir(ctx, 'vits-bad-tokens');
  const { tokens } = writeTinyVitsModel(badTokens);
  assert.match(tokens, /tokens\.txt$/);
  writeFileSync(tokens, 'abc 1 2\n');
  const tokensErr = await assert_rejects(() => SherpaTtsEngine.create({ kind: 'vits', modelDir: badTokens }), TtsModelInvalidError);
  assert.is((tokensErr as TtsModelInvalidError).file, 'tokens.txt');

  const noMeta = dir(ctx, 'vits-no-metadata');
  writeTinyVitsModel(noMeta, { omitMetadata: ['n_speakers'] });
  const metaErr = await assert_rejects(() => SherpaTtsEngine.create({ kind: 'vits', modelDir: noMeta }), TtsModelInvalidError);
  assert.is((metaErr as TtsModelInvalidError).file, 'model.onnx');
  assert.match((metaErr as Error).message, 'n_speakers');
});

test('floatToInt16 clamps and rejects NaN as bad audio', () => {
  assert.equal(Array.from(floatToInt16('t', Float32Array.from([0, 0.5, -2, 2]))), [0, 16384, -32767, 32767]);
  assert.throws(() => floatToInt16('t', Float32Array.from([0, Number.NaN])),
    (err: unknown) => err instanceof TtsFaultError && err.kind === 'bad-audio');
});

test('config: the default voice comes from the manifest and, absent, fails at start-up with the pull command', async (ctx) => {
  const modelsDir = dir(ctx, 'models-root');
  const options = sherpaTtsOptionsFromConfig(loadConfig({ TTS_ENGINE: 'sherpa' }).tts, { modelsDir });
  assert.equal(options, {
    modelDir: join(modelsDir, 'vits-piper-en_US-lessac-medium'), modelName: 'vits-piper-en_US-lessac-medium',
    numThreads: 1, speakerId: 0, speed: 1, kind: 'piper', modelFile: 'en_US-lessac-medium.onnx',
  });
  const err = await assert_rejects(() => SherpaTtsEngine.create(options), TtsModelMissingError);
  assert.equal((err as TtsModelMissingError).missingFiles.slice(0, 3), ['en_US-lessac-medium.onnx', 'tokens.txt', join('espeak-ng-data', 'phontab')]);
  assert.match((err as Error).message, /^sherpa: model vits-piper-en_US-lessac-medium is not installed: .*`carevox models pull vits-piper-en_US-lessac-medium`$/);

  const kokoro = sherpaTtsOptionsFromConfig(loadConfig({ TTS_SHERPA_MODEL: 'kokoro-en-v0_19', TTS_SPEAKER_ID: '3', TTS_SPEED: '1.2' }).tts, { modelsDir });
  assert.equal({ kind: kokoro.kind, speakerId: kokoro.speakerId, speed: kokoro.speed, modelFile: kokoro.modelFile }, { kind: 'kokoro', speakerId: 3, speed: 1.2, modelFile: 'model.onnx' });

  assert.throws(() => sherpaTtsOptionsFromConfig(loadConfig({ TTS_SHERPA_MODEL: 'no-such-voice' }).tts), (e: unknown) => e instanceof TtsError && /TTS_MODEL_DIR/.test((e as Error).message));
  const custom = sherpaTtsOptionsFromConfig(loadConfig({ TTS_SHERPA_MODEL: 'my-voice', TTS_MODEL_DIR: '/opt/voices/mine', TTS_SHERPA_KIND: 'vits' }).tts);
  assert.equal({ kind: custom.kind, modelDir: custom.modelDir, modelFile: custom.modelFile }, { kind: 'vits', modelDir: '/opt/voices/mine', modelFile: undefined });
});

async function assert_rejects(fn: () => Promise<unknown>, type: abstract new (...args: never[]) => Error, message?: RegExp): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    assert.instance(err, type);
    if (message) assert.match((err as Error).message, message);
    return err;
  }
  assert.unreachable('expected a rejection');
}

test.run();
