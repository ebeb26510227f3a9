import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ElevenLabsTtsEngine, elevenLabsOptionsFromConfig, type ElevenLabsTtsOptions } from './elevenlabs.js';
import { loadConfig } from '../config/index.js';
import { TtsFaultError } from './errors.js';
import { TtsError, type TtsAudio } from './types.js';
import { muLawDecode } from '../media/codec.js';
import { ElevenLabsDouble, startElevenLabsDouble } from '../../test/support/elevenlabs-double.js';
import { collect, failure } from '../../test/support/tts-audio.js';

const test = suite<{ double: ElevenLabsDouble }>('tts/elevenlabs');

test.before.each(async (ctx) => { ctx.double = await startElevenLabsDouble('xi-good-key'); });
test.after.each(async (ctx) => { await ctx.double.close(); });

function engine(double: ElevenLabsDouble, overrides: Partial<ElevenLabsTtsOptions> = {}): ElevenLabsTtsEngine {
  return new ElevenLabsTtsEngine({
    apiKey: 'xi-good-key', voiceId: 'voice-abc', modelId: 'eleven_flash_v2_5', baseUrl: double.origin,
    stallTimeoutMs: 400, requestTimeoutMs: 2000, ...overrides,
  });
}

test('sends the documented request and passes μ-law chunks through untouched, as they arrive', async ({ double }) => {
  const tts = engine(double);
  assert.equal(tts.output, { format: 'mulaw8k' });
  const text = 'Your appointment is confirmed.';
  const expected = double.expectedAudio({ text });
  const arrivals: number[] = [];
  const chunks: Uint8Array[] = [];
  for await (const chunk of tts.synthesize(text, new AbortController().signal)) {
    assert.is(chunk.format, 'mulaw8k');
    if (chunk.format !== 'mulaw8k') continue;
    arrivals.push(double.requests[0]!.bytesSent);
    chunks.push(chunk.bytes);
  }
  const request = double.requests[0]!;
  assert.is(ElevenLabsDouble.voiceIdOf(request), 'voice-abc');
  assert.is(request.query.get('output_format'), 'ulaw_8000');
  assert.is(request.body.text, text);
  assert.is(request.body.model_id, 'eleven_flash_v2_5');
  assert.is(request.headers['xi-api-key'], 'xi-good-key');
  // Byte-exact: no transcoding on the way through.
  assert.equal(Buffer.concat(chunks), Buffer.from(expected));
  assert.ok(chunks.length > 2, 'audio arrived in several chunks');
  // Progressive: the first chunk reached us while the server had sent only part of the sentence.
  assert.ok(arrivals[0]! < expected.length, `first chunk yielded after ${arrivals[0]} of ${expected.length} bytes were sent`);
  // And it is the real tone, not silence.
  const pcm = muLawDecode(Buffer.concat(chunks));
  assert.ok(Math.max(...pcm.subarray(0, 800)) > 5000);
});

test('abort mid-stream stops within one chunk and the server sees the request closed', async ({ double }) => {
  double.enqueue({ kind: 'audio', intervalMs: 30 });
  const tts = engine(double);
  const controller = new AbortController();
  let received = 0;
  let afterAbort = 0;
  for await (const chunk of tts.synthesize('A rather long sentence that takes a while to say out loud.', controller.signal)) {
    if (controller.signal.aborted) afterAbort++;
    received++;
    if (received === 2) controller.abort();
  }
  assert.is(received, 2);
  assert.is(afterAbort, 0, 'nothing is yielded once aborted');
  const request = double.requests[0]!;
  await request.finished;
  assert.ok(request.clientClosedEarly, 'client hung up before the server finished');
});

test('abort while waiting for the next chunk ends the iterator promptly', async ({ double }) => {
  double.enqueue({ kind: 'stall', chunksBeforeStall: 1 });
  const tts = engine(double, { stallTimeoutMs: 5000 });
  const controller = new AbortController();
  const iterator = tts.synthesize('Please hold.', controller.signal)[Symbol.asyncIterator]();
  const first = await iterator.next();
  assert.is(first.done, false);
  const pending = iterator.next();
  setTimeout(() => controller.abort(), 50);
  const next = await pending; // would take the 5 s stall timeout if abort did not cut the read
  assert.is(next.done, true);
  await double.requests[0]!.finished;
  assert.ok(double.requests[0]!.clientClosedEarly);
});

test('a server that stalls mid-stream fails with a typed stall error after the configured silence', async ({ double }) => {
  double.enqueue({ kind: 'stall', chunksBeforeStall: 2 });
  const tts = engine(double, { stallTimeoutMs: 300 });
  const got: TtsAudio[] = [];
  let error: unknown;
  const started = performance.now();
  try {
    for await (const chunk of tts.synthesize('Hello there.', new AbortController().signal)) got.push(chunk);
  } catch (err) { error = err; }
  const elapsed = performance.now() - started;
  assert.is(got.length, 2, 'chunks before the stall were delivered');
  assert.instance(error, TtsFaultError);
  assert.is((error as TtsFaultError).kind, 'stall');
  assert.ok(elapsed >= 300, `gave up after ${elapsed} ms, not before the stall timeout`);
  await double.requests[0]!.finished;
  assert.ok(double.requests[0]!.clientClosedEarly, 'the stalled connection was closed');
});

test('no response headers: the request times out with a typed error', async ({ double }) => {
  double.enqueue({ kind: 'no-headers' });
  const tts = engine(double, { requestTimeoutMs: 300, stallTimeoutMs: 5000 });
  const error = await failure(tts.synthesize('Hello.', new AbortController().signal));
  assert.instance(error, TtsFaultError);
  assert.is((error as TtsFaultError).kind, 'timeout');
});

test('wrong API key: typed 401 carrying ElevenLabs error code', async ({ double }) => {
  const tts = engine(double, { apiKey: 'xi-wrong' });
  const error = await failure(tts.synthesize('Hello.', new AbortController().signal));
  assert.instance(error, TtsFaultError);
  const fault = error as TtsFaultError;
  assert.is(fault.kind, 'http-status');
  assert.is(fault.status, 401);
  assert.is(fault.providerCode, 'invalid_api_key');
  assert.not.match(fault.message, /Hello/, 'the spoken text never appears in errors');
});

test('server error 500 is typed and not retried by default', async ({ double }) => {
  double.enqueue({ kind: 'status', status: 500, code: 'internal_error' });
  const error = await failure(engine(double).synthesize('Hello.', new AbortController().signal));
  assert.instance(error, TtsFaultError);
  assert.is((error as TtsFaultError).status, 500);
  assert.is((error as TtsFaultError).providerCode, 'internal_error');
  assert.is(double.requests.length, 1);
});

test('a 200 that is not audio (HTML page) and an empty body are both bad-audio', async ({ double }) => {
  double.enqueue({ kind: 'garbage' }, { kind: 'empty' });
  const tts = engine(double);
  const garbage = await failure(tts.synthesize('Hello.', new AbortController().signal));
  assert.instance(garbage, TtsFaultError);
  assert.is((garbage as TtsFaultError).kind, 'bad-audio');
  const empty = await failure(tts.synthesize('Hello.', new AbortController().signal));
  assert.is((empty as TtsFaultError).kind, 'bad-audio');
});

test('server gone: network error is typed', async ({ double }) => {
  const origin = double.origin;
  await double.close();
  double.close = async () => undefined; // after.each must not close twice
  const tts = new ElevenLabsTtsEngine({ apiKey: 'k', voiceId: 'v', modelId: 'm', baseUrl: origin });
  const error = await failure(tts.synthesize('Hello.', new AbortController().signal));
  assert.instance(error, TtsFaultError);
  assert.is((error as TtsFaultError).kind, 'network');
});

test('missing credentials fail at construction with a clear typed error', () => {
  assert.throws(() => new ElevenLabsTtsEngine({ apiKey: '', voiceId: 'v', modelId: 'm' }),
    (err: unknown) => err instanceof TtsError && /ELEVENLABS_API_KEY/.test((err as Error).message));
  assert.throws(() => new ElevenLabsTtsEngine({ apiKey: 'k', voiceId: '', modelId: 'm' }),
    (err: unknown) => err instanceof TtsError && /ELEVENLABS_VOICE_ID/.test((err as Error).message));
});

test('already-aborted signal or blank text: no request at all', async ({ double }) => {
  const controller = new AbortController();
  controller.abort();
  assert.equal(await collect(engine(double).synthesize('Hello.', controller.signal)), []);
  assert.equal(await collect(engine(double).synthesize('   ', new AbortController().signal)), []);
  assert.is(double.requests.length, 0);
});

test('configured through ELEVENLABS_* variables', async ({ double }) => {
  const config = loadConfig({
    TTS_ENGINE: 'elevenlabs', ELEVENLABS_API_KEY: 'xi-good-key', ELEVENLABS_VOICE_ID: 'voice-from-env',
    ELEVENLABS_BASE_URL: double.origin, TTS_STALL_TIMEOUT_MS: '1234',
  });
  const options = elevenLabsOptionsFromConfig(config.tts);
  assert.is(options.stallTimeoutMs, 1234);
  assert.is(options.modelId, 'eleven_flash_v2_5');
  const chunks = await collect(new ElevenLabsTtsEngine(options).synthesize('Hi.', new AbortController().signal));
  assert.ok(chunks.length > 0);
  assert.is(ElevenLabsDouble.voiceIdOf(double.requests[0]!), 'voice-from-env');
  assert.throws(() => new ElevenLabsTtsEngine(elevenLabsOptionsFromConfig(loadConfig({ TTS_ENGINE: 'elevenlabs' }).tts)),
    (err: unknown) => err instanceof TtsError && /ELEVENLABS_API_KEY/.test((err as Error).message));
});

test.run();
