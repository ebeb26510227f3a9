import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import WaveFilePackage from 'wavefile';
import { loadFixture } from '../../test/support/fixtures.js';
import { startTranscriptionServer, type TranscriptionServerDouble } from '../../test/support/openai-asr-servers.js';
import { run, type CliIo } from './cli.js';

const { WaveFile } = WaveFilePackage;
const test = suite('carevox transcribe (openai engine against the local transcription server)');
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
