import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import WaveFilePackage from 'wavefile';
import { loadFixture } from '../../test/support/fixtures.js';
import { startTranscriptionServer, type TranscriptionServerDouble } from '../../test/support/openai-asr-servers.js';
import { writeTinyTransducerModel } from '../../test/support/tiny-transducer-model.js';
import { run, type CliIo } from './cli.js';

const { WaveFile } = WaveFilePackage;
const test = suite('carevox transcribe (openai engine against the local transcription server; sherpa with a tiny model)');
let server: TranscriptionServerDouble | null = null;
let dir = '';
test.before.each(() => { dir = mkdtempSync(join(tmpdir(), 'carevox-transcribe-')); });
test.after.each(async () => {
  await server?.close();
  server = null;
  rmSync(dir, { recursive: true, force: true });
});

function io(env: NodeJS.ProcessEnv) {
  const out: string[] = [];
  const err: string[] = [];
  const cli: CliIo = { env, out: (l) => out.push(l), err: (l) => err.push(l) };
  return { cli, out, err };
}

function writeWav(path: string, channels: number, rate: number, samples: Int16Array | Int16Array[]): void {
  const wav = new WaveFile();
  wav.fromScratch(channels, rate, '16', samples as unknown as number[]);
  writeFileSync(path, wav.toBuffer());
}

test('prints FILE<TAB>TEXT per file; any WAV becomes 8 kHz mono on the way', async () => {
  const yes = loadFixture('yes-please');
  server = await startTranscriptionServer((req) => {
    if (req.samples.length === yes.samples.length && req.samples.every((v, i) => v === yes.samples[i])) return { text: yes.transcript! };
    return { text: `${req.sampleRate} Hz ${req.samples.length} samples` };
  });
  const fixturePath = join(dir, 'yes.wav');
  writeWav(fixturePath, 1, 8000, yes.samples);
  // One second of 16 kHz stereo: must arrive as ~8000 mono samples.
  const left = Int16Array.from({ length: 16000 }, (_, i) => Math.round(6000 * Math.sin(i / 7)));
  const stereoPath = join(dir, 'stereo-16k.wav');
  writeWav(stereoPath, 2, 16000, [left, left]);
  const { cli, out, err } = io({
    ASR_ENGINE: 'openai', ASR_OPENAI_BASE_URL: server.baseUrl, ASR_OPENAI_API_KEY: 'sk-test', ASR_OPENAI_MODEL: 'whisper-1',
  });
  const code = await run([fixturePath, stereoPath], cli);
  assert.equal(err, []);
  assert.is(code, 0);
  assert.equal(out, [`${fixturePath}\t${yes.transcript!}`, `${stereoPath}\t8000 Hz 8000 samples`]);
  assert.is(server.requests[1]!.model, 'whisper-1');
});

test('a bad file is reported and the exit code says so; the others are still transcribed', async () => {
  server = await startTranscriptionServer(() => ({ text: 'ok' }));
  const bad = join(dir, 'bad.wav');
  writeFileSync(bad, 'this is not audio');
  const good = join(dir, 'good.wav');
  writeWav(good, 1, 8000, new Int16Array(800).fill(1000));
  const { cli, out, err } = io({ ASR_ENGINE: 'openai', ASR_OPENAI_BASE_URL: server.baseUrl, ASR_OPENAI_API_KEY: 'k' });
  const code = await run([bad, good], cli);
  assert.is(code, 1);
  assert.equal(out, [`${good}\tok`]);
  assert.is(err.length, 1);
  assert.match(err[0]!, `${bad}: `);
});

test('server errors are per-file failures', async () => {
  server = await startTranscriptionServer(() => ({ status: 500, body: '{"error":{"message":"down"}}' }));
  const good = join(dir, 'good.wav');
  writeWav(good, 1, 8000, new Int16Array(800).fill(1000));
  const { cli, out, err } = io({ ASR_ENGINE: 'openai', ASR_OPENAI_BASE_URL: server.baseUrl, ASR_OPENAI_API_KEY: 'k' });
  assert.is(await run([good], cli), 1);
  assert.equal(out, []);
  assert.match(err[0]!, /500/);
});

test('sherpa engine (real addon, tiny hand-built transducer in a custom ASR_MODEL_DIR) through the CLI', async () => {
  const modelDir = join(dir, 'tiny-model');
  writeTinyTransducerModel(modelDir);
  let state = 5;
  const noise = Int16Array.from({ length: 16000 }, () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return Math.round(((state / 2147483648) - 0.5) * 20000);
  });
  const loudPath = join(dir, 'loud-16k.wav');
  writeWav(loudPath, 1, 16000, Int16Array.from([...new Int16Array(4000), ...noise, ...new Int16Array(4000)]));
  const quietPath = join(dir, 'quiet.wav');
  writeWav(quietPath, 1, 8000, new Int16Array(8000));
  const { cli, out, err } = io({ ASR_ENGINE: 'sherpa', ASR_MODEL_DIR: modelDir, ASR_NUM_THREADS: '1' });
  assert.is(await run([loudPath, quietPath], cli), 0, err.join('\n'));
  assert.is(out.length, 2);
  const [file, text] = out[0]!.split('\t');
  assert.is(file, loudPath);
  assert.match(text!, /^LOUD( LOUD)+$/);
  assert.ok(text!.split(' ').length >= 20 && text!.split(' ').length <= 30, text); // 1 s of loudness, one token per 40 ms
  assert.is(out[1], `${quietPath}\t`);
});

test('no engine: one line saying why, exit 1; no files: usage, exit 2', async () => {
  const none = io({});
  assert.is(await run(['x.wav'], none.cli), 1);
  assert.match(none.err[0]!, 'no speech recognition engine configured');
  const missing = io({ ASR_ENGINE: 'sherpa', MODELS_DIR: join(dir, 'models') });
  assert.is(await run(['x.wav'], missing.cli), 1);
  assert.match(missing.err[0]!, 'carevox models pull sherpa-onnx-streaming-zipformer-en-2023-06-26');
  const usage = io({});
  assert.is(await run([], usage.cli), 2);
  assert.match(usage.err[0]!, /usage/);
});

test.run();
