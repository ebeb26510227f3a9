import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NO_API_KEY, OpenAiTtsEngine, bytesToSamples, openAiTtsOptionsFromConfig, type OpenAiTtsOptions } from './openai.js';
import { loadConfig } from '../config/index.js';
import { TtsFaultError } from './errors.js';
import { TtsError, type TtsAudio } from './types.js';
import { OpenAiSpeechDouble, pcmBytes, startOpenAiSpeechDouble } from '../../test/support/openai-speech-double.js';
import { tone } from '../../test/support/audio-stream-double.js';
import { collect, failure } from '../../test/support/tts-audio.js';

const test = suite<{ double: OpenAiSpeechDouble }>('tts/openai');

test.before.each(async (ctx) => { ctx.double = await startOpenAiSpeechDouble('sk-good'); });
test.after.each(async (ctx) => { await ctx.double.close(); });

function engine(double: OpenAiSpeechDouble, overrides: Partial<OpenAiTtsOptions> = {}): OpenAiTtsEngine {
  return new OpenAiTtsEngine({
    apiKey: 'sk-good', baseURL: `${double.origin}/v1`, model: 'gpt-4o-mini-tts', voice: 'coral',
    stallTimeoutMs: 400, requestTimeoutMs: 2000, ...overrides,
  });
}

function samplesOf(chunks: TtsAudio[]): Int16Array {
  const parts = chunks.map((c) => (c.format === 'pcm16' ? c.samples : new Int16Array(0)));
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

test('bytesToSamples: any split of the byte stream gives the same samples', () => {
  const reference = tone(24_000, 50, 523, 30_000); // loud, so negative samples exercise sign extension
  const bytes = pcmBytes(reference);
  for (const splits of [[1], [3, 7, 8], [1, 2, 3, 4, 5], [999], [bytes.length - 1]]) {
    const chunks: Uint8Array[] = [];
    let from = 0;
    for (const to of [...splits, bytes.length]) { chunks.push(bytes.subarray(from, to)); from = to; }
    let carry: number | undefined;
    const got: Int16Array[] = [];
    for (const chunk of chunks) { const r = bytesToSamples(chunk, carry); carry = r.carry; got.push(r.samples); }
    const joined = samplesOf(got.map((samples) => ({ format: 'pcm16', sampleRate: 24_000, samples })));
    assert.equal(Array.from(joined), Array.from(reference), `splits ${splits.join(',')}`);
    assert.is(carry, undefined);
  }
  // An empty chunk keeps a pending byte.
  assert.is(bytesToSamples(new Uint8Array(0), 0x12).carry, 0x12);
});

test('sends the documented request and streams 24 kHz samples as bytes arrive, across odd boundaries', async ({ double }) => {
  const tts = engine(double);
  assert.equal(tts.output, { format: 'pcm16', sampleRate: 24_000 });
  const text = 'Your appointment is on Tuesday.';
  const expectedBytes = double.expectedAudio({ input: text });
  const arrivals: number[] = [];
  const chunks: TtsAudio[] = [];
  for await (const chunk of tts.synthesize(text, new AbortController().signal)) {
    arrivals.push(double.requests[0]!.bytesSent);
    chunks.push(chunk);
  }
  const request = double.requests[0]!;
  assert.is(request.path, '/v1/audio/speech');
  assert.equal(request.body, { model: 'gpt-4o-mini-tts', voice: 'coral', input: text, response_format: 'pcm' });
  assert.is(request.headers.authorization, 'Bearer sk-good');
  assert.ok(chunks.every((c) => c.format === 'pcm16' && c.sampleRate === 24_000));
  const samples = samplesOf(chunks);
  assert.equal(Buffer.from(pcmBytes(samples)), Buffer.from(expectedBytes), 'sample-exact across 4801-byte chunks');
  assert.ok(chunks.length > 2);
  assert.ok(arrivals[0]! < expectedBytes.length, 'first samples yielded before the server finished');
});

test('compatible server options: custom sample rate, speed and instructions are passed', async ({ double }) => {
  const tts = engine(double, { model: 'kokoro', voice: 'af_heart', speed: 1.2, instructions: 'calm', sampleRate: 22_050 });
  const chunks = await collect(tts.synthesize('Hi.', new AbortController().signal));
  assert.ok(chunks.length > 0 && chunks.every((c) => c.format === 'pcm16' && c.sampleRate === 22_050));
  assert.is(double.requests[0]!.body.speed, 1.2);
  assert.is(double.requests[0]!.body.instructions, 'calm');
});

test('abort mid-stream stops within one chunk and the server sees the request closed', async ({ double }) => {
  double.enqueue({ kind: 'audio', intervalMs: 30 });
  const controller = new AbortController();
  let received = 0;
  let afterAbort = 0;
  for await (const _chunk of engine(double).synthesize('A long sentence that takes a while to say out loud.', controller.signal)) {
    if (controller.signal.aborted) afterAbort++;
    if (++received === 2) controller.abort();
  }
  assert.is(received, 2);
  assert.is(afterAbort, 0);
  await double.requests[0]!.finished;
  assert.ok(double.requests[0]!.clientClosedEarly);
});

test('abort while waiting for the next chunk ends the iterator promptly', async ({ double }) => {
  double.enqueue({ kind: 'stall', chunksBeforeStall: 1 });
  const controller = new AbortController();
  const iterator = engine(double, { stallTimeoutMs: 5000 }).synthesize('Please hold.', controller.signal)[Symbol.asyncIterator]();
  assert.is((await iterator.next()).done, false);
  const pending = iterator.next();
  setTimeout(() => controller.abort(), 50);
  assert.is((await pending).done, true);
  await double.requests[0]!.finished;
  assert.ok(double.requests[0]!.clientClosedEarly);
});

test('a server that stalls mid-stream fails with a typed stall error', async ({ double }) => {
  double.enqueue({ kind: 'stall', chunksBeforeStall: 2 });
  const got: TtsAudio[] = [];
  let error: unknown;
  const started = performance.now();
  try {
    for await (const chunk of engine(double, { stallTimeoutMs: 300 }).synthesize('Hello.', new AbortController().signal)) got.push(chunk);
  } catch (err) { error = err; }
  assert.is(got.length, 2);
  assert.instance(error, TtsFaultError);
  assert.is((error as TtsFaultError).kind, 'stall');
  assert.ok(performance.now() - started >= 300);
  await double.requests[0]!.finished;
  assert.ok(double.requests[0]!.clientClosedEarly);
});

test('no response headers: typed timeout', async ({ double }) => {
  double.enqueue({ kind: 'no-headers' });
  const error = await failure(engine(double, { requestTimeoutMs: 300 }).synthesize('Hello.', new AbortController().signal));
  assert.instance(error, TtsFaultError);
  assert.is((error as TtsFaultError).kind, 'timeout');
});

test('wrong API key: typed 401 with OpenAI error code, text not in message', async ({ double }) => {
  const error = await failure(engine(double, { apiKey: 'sk-wrong' }).synthesize('Hello Mrs Smith.', new AbortController().signal));
  assert.instance(error, TtsFaultError);
  const fault = error as TtsFaultError;
  assert.is(fault.kind, 'http-status');
  assert.is(fault.status, 401);
  assert.is(fault.providerCode, 'invalid_api_key');
  assert.not.match(fault.message, /Smith/);
});

test('server error 500 and rate limit 429 are typed and not retried by default', async ({ double }) => {
  double.enqueue({ kind: 'status', status: 500, code: 'server_error' }, { kind: 'status', status: 429, code: 'rate_limit_exceeded' });
  const e500 = await failure(engine(double).synthesize('Hello.', new AbortController().signal));
  const e429 = await failure(engine(double).synthesize('Hello.', new AbortController().signal));
  assert.is((e500 as TtsFaultError).status, 500);
  assert.is((e429 as TtsFaultError).status, 429);
  assert.is((e429 as TtsFaultError).providerCode, 'rate_limit_exceeded');
  assert.is(double.requests.length, 2);
});

test('a 200 that is not audio, and an empty body, are bad-audio', async ({ double }) => {
  double.enqueue({ kind: 'garbage' }, { kind: 'empty' });
  const garbage = await failure(engine(double).synthesize('Hello.', new AbortController().signal));
  assert.is((garbage as TtsFaultError).kind, 'bad-audio');
  const empty = await failure(engine(double).synthesize('Hello.', new AbortController().signal));
  assert.is((empty as TtsFaultError).kind, 'bad-audio');
});

test('a dangling odd byte at the end is dropped, whole samples still delivered', async ({ double }) => {
  const bytes = new Uint8Array([0x01, 0x00, 0xff, 0xff, 0x7f]);
  double.enqueue({ kind: 'raw', bytes, contentType: 'audio/pcm', chunkBytes: 3 });
  const samples = samplesOf(await collect(engine(double).synthesize('Hi.', new AbortController().signal)));
  assert.equal(Array.from(samples), [1, -1]);
});

test('missing settings fail at construction with a clear typed error', () => {
  assert.throws(() => new OpenAiTtsEngine({ apiKey: '', model: 'm', voice: 'v' }),
    (err: unknown) => err instanceof TtsError && /TTS_OPENAI_API_KEY/.test((err as Error).message));
  assert.throws(() => new OpenAiTtsEngine({ apiKey: 'k', model: '', voice: 'v' }), (err: unknown) => err instanceof TtsError);
});

test('configured through TTS_OPENAI_* variables; a self-hosted server needs no key', async ({ double }) => {
  const withKey = openAiTtsOptionsFromConfig(loadConfig({
    TTS_ENGINE: 'openai', TTS_OPENAI_BASE_URL: `${double.origin}/v1`, TTS_OPENAI_API_KEY: 'sk-good', TTS_OPENAI_VOICE: 'nova',
  }).tts);
  assert.equal({ model: withKey.model, voice: withKey.voice, sampleRate: withKey.sampleRate }, { model: 'gpt-4o-mini-tts', voice: 'nova', sampleRate: 24_000 });
  assert.ok((await collect(new OpenAiTtsEngine(withKey).synthesize('Hi.', new AbortController().signal))).length > 0);
  assert.is(double.requests[0]!.body.voice, 'nova');

  const selfHosted = openAiTtsOptionsFromConfig(loadConfig({ TTS_OPENAI_BASE_URL: 'http://127.0.0.1:1/v1' }).tts);
  assert.is(selfHosted.apiKey, NO_API_KEY);
  assert.throws(() => new OpenAiTtsEngine(openAiTtsOptionsFromConfig(loadConfig({}).tts)),
    (err: unknown) => err instanceof TtsError && /TTS_OPENAI_API_KEY/.test((err as Error).message));
});

test.run();
