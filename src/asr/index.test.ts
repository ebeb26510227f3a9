import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../config/index.js';
import { createAsrEngine, NO_ENGINE_REASON } from './index.js';
import type { AsrEvent } from './types.js';

test('default config: the none engine, which answers every turn with an error (keypad fallback)', async () => {
  const engine = await createAsrEngine(loadConfig({}));
  assert.is(engine.name, 'none');
  assert.is(engine.available, false);
  assert.is(engine.unavailableReason, NO_ENGINE_REASON);
  const events: AsrEvent[] = [];
  const stream = engine.createStream((e) => events.push(e));
  stream.pushAudio(new Int16Array(160));
  stream.endUtterance(new Int16Array(160));
  stream.endUtterance(new Int16Array(160));
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(events.map((e) => e.type), ['error', 'error']);
  stream.close();
});

test('sherpa with no model installed does not throw: none engine carrying the one-line reason', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'carevox-asr-'));
  try {
    const engine = await createAsrEngine(loadConfig({ ASR_ENGINE: 'sherpa', MODELS_DIR: dir }));
    assert.is(engine.available, false);
    assert.is(engine.name, 'none');
    assert.match(engine.unavailableReason!, 'carevox models pull sherpa-onnx-streaming-zipformer-en-2023-06-26');
    assert.match(engine.unavailableReason!, 'encoder-epoch-99-avg-1-chunk-16-left-128.int8.onnx');
    assert.not.match(engine.unavailableReason!, /\n/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('openai without a key: none engine saying which setting is missing; with a key: available', async () => {
  const noKey = await createAsrEngine(loadConfig({ ASR_ENGINE: 'openai' }));
  assert.is(noKey.available, false);
  assert.match(noKey.unavailableReason!, 'ASR_OPENAI_API_KEY');
  const withKey = await createAsrEngine(loadConfig({ ASR_ENGINE: 'openai', ASR_OPENAI_API_KEY: 'k', ASR_OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' }));
  assert.is(withKey.available, true);
  assert.is(withKey.name, 'openai');
  await withKey.close();
});

test('asr config section: env names map to typed settings', () => {
  const config = loadConfig({
    ASR_ENGINE: 'sherpa', ASR_MODEL_DIR: '/srv/m', ASR_NUM_THREADS: '4', ASR_RULE2_MIN_TRAILING_SILENCE: '0.8',
    ASR_OPENAI_MODE: 'realtime', ASR_OPENAI_TIMEOUT_MS: '2500', MODELS_DIR: '/var/lib/carevox/models',
  });
  assert.is(config.asr.sherpaModelDir, '/srv/m');
  assert.is(config.asr.sherpaNumThreads, 4);
  assert.is(config.asr.sherpaRule2MinTrailingSilence, 0.8);
  assert.is(config.asr.openaiMode, 'realtime');
  assert.is(config.asr.openaiTimeoutMs, 2500);
  assert.is(config.models.dir, '/var/lib/carevox/models');
  assert.throws(() => loadConfig({ ASR_OPENAI_MODE: 'sometimes' }), /ASR_OPENAI_MODE/);
});

test.run();
