import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildModelArchive, startFileServer, type BuiltModel } from '../../test/support/model-archive-server.js';
import { startTranscriptionServer } from '../../test/support/openai-asr-servers.js';
import { run, type ModelsCliIo } from './cli.js';
import WaveFilePackage from 'wavefile';
import { writeTinyTransducerModel } from '../../test/support/tiny-transducer-model.js';
import { loadManifest, manifestOf, type Manifest, type ModelEntry } from './manifest.js';
import { wordErrorRate } from './verify.js';

const { WaveFile } = WaveFilePackage;
let work = '';
let model: BuiltModel;
let manifest: Manifest;

function io(env: NodeJS.ProcessEnv, extra: Partial<ModelsCliIo> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const progress: string[] = [];
  const cli: ModelsCliIo = { env, out: (l) => out.push(l), err: (l) => err.push(l), progress: (t) => progress.push(t), manifest, ...extra };
  return { cli, out, err, progress };
}

const test = suite('carevox models (list / pull / verify)');
test.before.each(() => {
  work = mkdtempSync(join(tmpdir(), 'carevox-models-cli-'));
  model = buildModelArchive(work);
  manifest = manifestOf([{ ...model.entry, sha256: model.sha256 }, ...loadManifest().models]);
});
test.after.each(() => rmSync(work, { recursive: true, force: true }));

test('the shipped manifest parses and holds the required entries; unknown names are refused', async () => {
  const shipped = loadManifest();
  for (const name of ['sherpa-onnx-streaming-zipformer-en-2023-06-26', 'sherpa-onnx-streaming-zipformer-en-20M-2023-02-17',
    'vits-piper-en_US-lessac-medium', 'vits-piper-en_US-amy-low', 'kokoro-en-v0_19', 'silero-vad']) {
    const entry = shipped.find(name);
    assert.ok(entry.licence);
    if (!entry.npm) assert.match(entry.url!, /^https:\/\/github\.com\/k2-fsa\/sherpa-onnx\/releases\/download\/(asr|tts)-models\//);
  }
  assert.is(shipped.find('sherpa-zipformer-en-2023-06-26').name, 'sherpa-onnx-streaming-zipformer-en-2023-06-26');
  const { cli, err } = io({ MODELS_DIR: join(work, 'models') });
  assert.is(await run(['pull', 'no-such-model'], cli), 1);
  assert.match(err[0]!, /unknown model "no-such-model"/);
});

test('list: status per model, silero bundled through npm', async () => {
  const { cli, out } = io({ MODELS_DIR: join(work, 'models') });
  assert.is(await run(['list'], cli), 0);
  const rows = out.slice(1).map((l) => l.split('\t'));
  assert.equal(rows.find((r) => r[0] === model.entry.name)!.slice(2, 5), ['not installed', `${(model.size / 1_000_000).toFixed(1)} MB`, 'pinned']);
  assert.is(rows.find((r) => r[0] === 'silero-vad')![2], 'bundled (npm)');
  assert.is(rows.find((r) => r[0] === 'sherpa-onnx-streaming-zipformer-en-2023-06-26')![4], 'not pinned');
});

test('pull NAME (alias) with a progress bar, then list shows it installed', async () => {
  const server = await startFileServer(model.archive, { dropAfterBytes: 250_000 });
  try {
    const { cli, out, progress } = io({ MODELS_DIR: join(work, 'models') }, { urlOverride: server.url, retryDelayMs: 10 });
    assert.is(await run(['pull', 'tiny'], cli), 0);
    assert.match(out[0]!, `${model.entry.name} installed in`);
    assert.match(out[0]!, 'sha256 verified');
    assert.ok(progress.some((p) => /\[#+\.*\]\s+\d+%/.test(p)), 'progress bar drawn');
    assert.ok(progress.some((p) => p.includes('100%')));
    const listed = io({ MODELS_DIR: join(work, 'models') });
    await run(['list'], listed.cli);
    assert.ok(listed.out.some((l) => l.startsWith(`${model.entry.name}\t`) && l.includes('\tinstalled\t')));
  } finally {
    await server.close();
  }
});

test('pull --from ARCHIVE and --from DIR; unpinned archives need --trust-unverified', async () => {
  const pinned = io({ MODELS_DIR: join(work, 'a') });
  assert.is(await run(['pull', model.entry.name, '--from', model.archive], pinned.cli), 0);
  assert.ok(existsSync(join(work, 'a', model.entry.name, 'tokens.txt')));

  manifest = manifestOf([model.entry]); // sha256 null
  const refused = io({ MODELS_DIR: join(work, 'b') });
  assert.is(await run(['pull', model.entry.name, '--from', model.archive], refused.cli), 1);
  assert.match(refused.err[0]!, '--trust-unverified');
  assert.not.ok(existsSync(join(work, 'b', model.entry.name)));
  const trusted = io({ MODELS_DIR: join(work, 'b') });
  assert.is(await run(['pull', model.entry.name, '--from', model.archive, '--trust-unverified'], trusted.cli), 0);
  assert.match(trusted.err.join('\n'), model.sha256);

  const fromDir = io({ MODELS_DIR: join(work, 'c') });
  assert.is(await run(['pull', model.entry.name, '--from', model.sourceDir], fromDir.cli), 0);
  assert.ok(existsSync(join(work, 'c', model.entry.name, 'test_wavs', '0.wav')));

  const usage = io({});
  assert.is(await run(['pull', model.entry.name, '--from'], usage.cli), 2);
});

test('verify runs the bundled recordings through the configured engine and reports WER per file', async () => {
  const modelsDir = join(work, 'models');
  assert.is(await run(['pull', model.entry.name, '--from', model.archive], io({ MODELS_DIR: modelsDir }).cli), 0);
  // Transcription server double: answers by the length of the 8 kHz audio it received.
  let answers: Record<number, string> = { 8000: 'hello there one second', 4000: 'half a second' };
  const server = await startTranscriptionServer((req) => ({ text: answers[req.samples.length] ?? `unexpected ${req.samples.length}` }));
  const env = { MODELS_DIR: modelsDir, ASR_ENGINE: 'openai', ASR_OPENAI_BASE_URL: server.baseUrl, ASR_OPENAI_API_KEY: 'k' };
  try {
    const good = io(env);
    assert.is(await run(['verify', model.entry.name], good.cli), 0);
    assert.equal(good.out, [
      `${model.entry.name} (engine: openai)`,
      '  ok   test_wavs/0.wav  WER 0.0%',
      '  ok   test_wavs/1.wav  WER 0.0%',
      'verify: passed',
    ]);
    answers = { 8000: 'hello there one second', 4000: 'have a second cup' };
    const bad = io(env);
    assert.is(await run(['verify', model.entry.name], bad.cli), 1);
    assert.ok(bad.out.includes('  FAIL test_wavs/1.wav  WER 66.7%'), bad.out.join('\n'));
    assert.ok(bad.out.includes('       heard:    have a second cup'));
    assert.is(bad.out[bad.out.length - 1], 'verify: FAILED');
  } finally {
    await server.close();
  }
});

test('verify of a model that is not installed says how to install it; sherpa engine on garbage weights fails cleanly', async () => {
  const missing = io({ MODELS_DIR: join(work, 'empty') });
  assert.is(await run(['verify', model.entry.name], missing.cli), 1);
  assert.match(missing.out.join('\n'), `carevox models pull ${model.entry.name}`);
  // The fake model's random bytes are not ONNX: the real sherpa loader (probed in a child) rejects them.
  const modelsDir = join(work, 'models');
  await run(['pull', model.entry.name, '--from', model.archive], io({ MODELS_DIR: modelsDir }).cli);
  const garbage = io({ MODELS_DIR: modelsDir, ASR_ENGINE: 'sherpa' });
  assert.is(await run(['verify', model.entry.name], garbage.cli), 1);
  assert.match(garbage.out.join('\n'), /speech recognition unavailable: .*cannot be loaded/);
});

test('verify with the sherpa engine (real addon) on an installed tiny transducer and its own recordings', async () => {
  const source = join(work, 'tiny-src', 'tiny-loudness');
  const files = writeTinyTransducerModel(source);
  mkdirSync(join(source, 'test_wavs'), { recursive: true });
  let state = 3;
  const noise = Int16Array.from({ length: 16000 }, () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return Math.round(((state / 2147483648) - 0.5) * 20000);
  });
  for (const [name, samples] of [['loud.wav', noise], ['quiet.wav', new Int16Array(8000)]] as const) {
    const wav = new WaveFile();
    wav.fromScratch(1, 16000, '16', samples);
    writeFileSync(join(source, 'test_wavs', name), wav.toBuffer());
  }
  const entry: ModelEntry = {
    name: 'tiny-loudness', aliases: [], kind: 'asr-streaming-transducer', description: 'loudness transducer',
    licence: 'Apache-2.0', url: null, sha256: null, size: null, files,
    tests: [{ wav: 'test_wavs/loud.wav', text: 'LOUD '.repeat(25).trim() }, { wav: 'test_wavs/quiet.wav', text: '' }],
  };
  manifest = manifestOf([entry]);
  const modelsDir = join(work, 'models');
  assert.is(await run(['pull', entry.name, '--from', source], io({ MODELS_DIR: modelsDir }).cli), 0);
  const verified = io({ MODELS_DIR: modelsDir, ASR_ENGINE: 'sherpa', ASR_NUM_THREADS: '1' });
  assert.is(await run(['verify', entry.name], verified.cli), 0, verified.out.join('\n'));
  assert.is(verified.out[0], 'tiny-loudness (engine: sherpa)');
  assert.match(verified.out[1]!, /^ {2}ok {3}test_wavs\/loud\.wav {2}WER \d+\.\d%$/);
  assert.is(verified.out[2], '  ok   test_wavs/quiet.wav  WER 0.0%');
});

test('word error rate', () => {
  assert.is(wordErrorRate('THE CAT SAT', 'the cat sat.'), 0);
  assert.is(wordErrorRate('THE CAT SAT', 'the cat'), 1 / 3);
  assert.is(wordErrorRate('A B', 'A X B Y'), 1);
  assert.is(wordErrorRate('', ''), 0);
});

test.run();
