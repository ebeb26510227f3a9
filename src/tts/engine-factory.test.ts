/** createTtsEngine for the sherpa, elevenlabs and openai engines, configured as an operator would (env). */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTtsEngine, ElevenLabsTtsEngine, OpenAiTtsEngine, SherpaTtsEngine, TtsModelMissingError, type TtsAudio } from './index.js';
import { loadConfig } from '../config/index.js';
import { startElevenLabsDouble, type ElevenLabsDouble } from '../../test/support/elevenlabs-double.js';
import { startOpenAiSpeechDouble, type OpenAiSpeechDouble } from '../../test/support/openai-speech-double.js';
import { writeTinyVitsModel } from '../../test/support/tiny-vits-model.js';

const test = suite<{ eleven: ElevenLabsDouble; openai: OpenAiSpeechDouble; root: string }>('tts/engine-factory');

test.before(async (ctx) => {
  ctx.eleven = await startElevenLabsDouble('xi-factory');
  ctx.openai = await startOpenAiSpeechDouble('sk-factory');
  ctx.root = mkdtempSync(join(tmpdir(), 'carevox-tts-factory-'));
});
test.after(async (ctx) => {
  await ctx.eleven.close();
  await ctx.openai.close();
  rmSync(ctx.root, { recursive: true, force: true });
});

async function firstChunk(iterable: AsyncIterable<TtsAudio>): Promise<TtsAudio | undefined> {
  for await (const chunk of iterable) return chunk;
  return undefined;
}

test('TTS_ENGINE=elevenlabs builds the streaming μ-law engine', async ({ eleven }) => {
  const tts = await createTtsEngine(loadConfig({
    TTS_ENGINE: 'elevenlabs', ELEVENLABS_API_KEY: 'xi-factory', ELEVENLABS_VOICE_ID: 'v', ELEVENLABS_BASE_URL: eleven.origin,
  }).tts);
  assert.instance(tts, ElevenLabsTtsEngine);
  assert.is((await firstChunk(tts.synthesize('Hello.', new AbortController().signal)))?.format, 'mulaw8k');
  await tts.close();
});

test('TTS_ENGINE=openai builds the PCM engine against a compatible server', async ({ openai }) => {
  const tts = await createTtsEngine(loadConfig({
    TTS_ENGINE: 'openai', TTS_OPENAI_API_KEY: 'sk-factory', TTS_OPENAI_BASE_URL: `${openai.origin}/v1`,
  }).tts);
  assert.instance(tts, OpenAiTtsEngine);
  assert.equal(tts.output, { format: 'pcm16', sampleRate: 24_000 });
  assert.is((await firstChunk(tts.synthesize('Hello.', new AbortController().signal)))?.format, 'pcm16');
  await tts.close();
});

test('TTS_ENGINE=sherpa: missing voice fails at start-up with the pull command; a present one loads', async ({ root }) => {
  const config = loadConfig({ TTS_ENGINE: 'sherpa' });
  try {
    await createTtsEngine(config.tts, { modelsDir: join(root, 'empty-models') });
    assert.unreachable('should fail');
  } catch (err) {
    assert.instance(err, TtsModelMissingError);
    assert.match((err as Error).message, '`carevox models pull vits-piper-en_US-lessac-medium`');
  }
  const modelDir = join(root, 'my-voice');
  writeTinyVitsModel(modelDir);
  const tts = await createTtsEngine(loadConfig({
    TTS_ENGINE: 'sherpa', TTS_SHERPA_MODEL: 'my-voice', TTS_MODEL_DIR: modelDir, TTS_SHERPA_KIND: 'vits', TTS_SPEAKER_ID: '1',
  }).tts);
  assert.instance(tts, SherpaTtsEngine);
  assert.is(tts.voice, 'my-voice#1');
  assert.is((await firstChunk(tts.synthesize('Hello.', new AbortController().signal)))?.format, 'pcm16');
  await tts.close();
});

test.run();
