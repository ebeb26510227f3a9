/**
 * A cloud TTS engine that fails never leaves the caller in silence: over a real call, every sentence the
 * OpenAI-compatible speech server cannot speak is spoken by flite instead.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startOpenAiSpeechDouble } from './support/openai-speech-double.js';
import { startTestServer } from './support/server.js';
import { TwilioCaller } from './support/twilio-caller.js';

test('a failing cloud TTS: the caller still hears the greeting, in the fallback voice', async () => {
  const speech = await startOpenAiSpeechDouble('sk-good');
  speech.enqueue(...Array.from({ length: 300 }, () => ({ kind: 'status' as const, status: 500, message: 'upstream exploded' })));
  const server = await startTestServer({
    tts: { engine: 'openai', openaiBaseUrl: `${speech.origin}/v1`, openaiApiKey: 'sk-good', requestTimeoutMs: 2000 },
  });
  try {
    const health = await (await fetch(`${server.baseUrl}/health`)).json() as { engines: { tts: { engine: string; fallback?: string } } };
    assert.is(health.engines.tts.engine, 'openai');
    assert.is(health.engines.tts.fallback, 'flite');
    const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl });
    await caller.waitFor('the first sentence heard', () => caller.echoedMarks.length > 0, 20_000);
    const record = await server.hangUp(caller);
    assert.ok(speech.requests.length > 0, 'the primary engine was asked first');
    assert.ok(record.botSentences.length > 0, 'the greeting was spoken and heard');
    assert.not.ok(server.rawLogs().includes('Thank you for calling'), 'the spoken text is not logged');
    assert.ok(server.logs.some((l) => /fallback/i.test(String(l.msg))), 'the fallback is logged');
  } finally {
    await server.close();
    await speech.close();
  }
});

test.run();
