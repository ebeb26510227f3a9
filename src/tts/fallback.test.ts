import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FallbackTtsEngine, logTtsFallback, type TtsFallbackReport } from './fallback.js';
import { createLogger } from '../log.js';
import { Writable } from 'node:stream';
import { ElevenLabsTtsEngine } from './elevenlabs.js';
import { OpenAiTtsEngine } from './openai.js';
import { FliteTtsEngine } from './flite.js';
import { TtsFaultError } from './errors.js';
import type { TtsAudio } from './types.js';
import { muLawDecode } from '../media/codec.js';
import { ElevenLabsDouble, startElevenLabsDouble } from '../../test/support/elevenlabs-double.js';
import { OpenAiSpeechDouble, startOpenAiSpeechDouble } from '../../test/support/openai-speech-double.js';
import { collect } from '../../test/support/tts-audio.js';

interface Context {
  eleven: ElevenLabsDouble;
  openai: OpenAiSpeechDouble;
  flite: FliteTtsEngine;
  reports: Array<{ report: TtsFallbackReport; error: unknown }>;
}

const test = suite<Context>('tts/fallback');
const SENTENCE = 'Your appointment with Doctor Patel is on Tuesday at nine.';

test.before(async (ctx) => {
  ctx.flite = await FliteTtsEngine.create({ voice: 'slt' }); // 16 kHz: its audio must be converted
});
test.after(async (ctx) => { await ctx.flite.close(); });
test.before.each(async (ctx) => {
  ctx.eleven = await startElevenLabsDouble('xi-key');
  ctx.openai = await startOpenAiSpeechDouble('sk-key');
  ctx.reports = [];
});
test.after.each(async (ctx) => {
  await ctx.eleven.close();
  await ctx.openai.close();
});

function elevenLabsWithFlite(ctx: Context, timeouts: { stallTimeoutMs?: number; requestTimeoutMs?: number; firstChunkTimeoutMs?: number } = {}): FallbackTtsEngine {
  const primary = new ElevenLabsTtsEngine({
    apiKey: 'xi-key', voiceId: 'v1', modelId: 'eleven_flash_v2_5', baseUrl: ctx.eleven.origin,
    stallTimeoutMs: timeouts.stallTimeoutMs ?? 300, requestTimeoutMs: timeouts.requestTimeoutMs ?? 2000,
  });
  // The fallback's lifetime is the suite's: close() on the wrapper would close the shared flite engine.
  return new FallbackTtsEngine(primary, ctx.flite, {
    firstChunkTimeoutMs: timeouts.firstChunkTimeoutMs ?? 3000,
    onFallback: (report, error) => ctx.reports.push({ report, error }),
  });
}

function mulawBytes(chunks: TtsAudio[]): Uint8Array {
  assert.ok(chunks.every((c) => c.format === 'mulaw8k'), 'every chunk in the declared format');
  return Buffer.concat(chunks.map((c) => (c.format === 'mulaw8k' ? c.bytes : new Uint8Array(0))));
}

function rms(pcm: Int16Array): number {
  let sum = 0;
  for (const s of pcm) sum += s * s;
  return Math.sqrt(sum / Math.max(1, pcm.length));
}

test('healthy primary: its audio passes through untouched and no fallback is reported', async (ctx) => {
  const tts = elevenLabsWithFlite(ctx);
  assert.equal(tts.output, { format: 'mulaw8k' });
  const bytes = mulawBytes(await collect(tts.synthesize(SENTENCE, new AbortController().signal)));
  assert.equal(Buffer.from(bytes), Buffer.from(ctx.eleven.expectedAudio({ text: SENTENCE })));
  assert.is(ctx.reports.length, 0);
});

test('primary rejects (401): flite speaks the sentence, as μ-law 8 kHz, and the fault is reported without the text', async (ctx) => {
  const tts = new FallbackTtsEngine(
    new ElevenLabsTtsEngine({ apiKey: 'xi-wrong', voiceId: 'v1', modelId: 'm', baseUrl: ctx.eleven.origin }),
    ctx.flite, { onFallback: (report, error) => ctx.reports.push({ report, error }) });
  const bytes = mulawBytes(await collect(tts.synthesize(SENTENCE, new AbortController().signal)));
  const pcm = muLawDecode(bytes);
  const seconds = pcm.length / 8000;
  assert.ok(seconds > 1.5 && seconds < 10, `about a sentence of speech (${seconds.toFixed(2)} s)`);
  assert.ok(rms(pcm) > 300, 'audible speech, not silence');
  assert.is(ctx.reports.length, 1);
  const { report, error } = ctx.reports[0]!;
  assert.equal({ ...report, detail: undefined }, {
    primary: 'elevenlabs', fallback: 'flite', reason: 'http-status', status: 401, midSentence: false, detail: undefined,
  });
  assert.instance(error, TtsFaultError);
  assert.not.ok(JSON.stringify(report).includes('Patel'), 'report carries no patient text');
});

test('primary never answers: after the first-chunk timeout flite speaks and the primary request is dropped', async (ctx) => {
  ctx.eleven.enqueue({ kind: 'no-headers' });
  const tts = elevenLabsWithFlite(ctx, { requestTimeoutMs: 30_000, stallTimeoutMs: 30_000, firstChunkTimeoutMs: 300 });
  const started = performance.now();
  const pcm = muLawDecode(mulawBytes(await collect(tts.synthesize(SENTENCE, new AbortController().signal))));
  assert.ok(performance.now() - started >= 300);
  assert.ok(rms(pcm) > 300);
  assert.is(ctx.reports[0]!.report.reason, 'timeout-first-chunk');
  await ctx.eleven.requests[0]!.finished;
  assert.ok(ctx.eleven.requests[0]!.clientClosedEarly, 'the hung primary request was closed');
});

test('primary sends garbage: flite speaks instead', async (ctx) => {
  ctx.eleven.enqueue({ kind: 'garbage' });
  const pcm = muLawDecode(mulawBytes(await collect(elevenLabsWithFlite(ctx).synthesize(SENTENCE, new AbortController().signal))));
  assert.ok(rms(pcm) > 300);
  assert.is(ctx.reports[0]!.report.reason, 'bad-audio');
});

test('primary stalls mid-sentence: its audio so far, then the whole sentence again from flite', async (ctx) => {
  ctx.eleven.enqueue({ kind: 'stall', chunksBeforeStall: 2 });
  const chunks = await collect(elevenLabsWithFlite(ctx, { stallTimeoutMs: 300 }).synthesize(SENTENCE, new AbortController().signal));
  const primaryPart = ctx.eleven.expectedAudio({ text: SENTENCE }).subarray(0, 1600);
  const bytes = mulawBytes(chunks);
  assert.equal(Buffer.from(bytes.subarray(0, 1600)), Buffer.from(primaryPart), 'the primary audio came first, unchanged');
  assert.ok(bytes.length - 1600 > 8000 * 1.5, 'then a full sentence from the fallback');
  const { report } = ctx.reports[0]!;
  assert.is(report.reason, 'stall');
  assert.is(report.midSentence, true);
});

test('abort while the fallback speaks stops within one chunk', async (ctx) => {
  ctx.eleven.enqueue({ kind: 'status', status: 500 });
  const controller = new AbortController();
  let count = 0;
  for await (const _ of elevenLabsWithFlite(ctx).synthesize(SENTENCE, controller.signal)) {
    count++;
    controller.abort();
  }
  assert.is(count, 1);
});

test('consumer stops early on a healthy primary: the primary request is closed', async (ctx) => {
  ctx.eleven.enqueue({ kind: 'audio', intervalMs: 40 });
  for await (const _ of elevenLabsWithFlite(ctx).synthesize(SENTENCE, new AbortController().signal)) break;
  await ctx.eleven.requests[0]!.finished;
  assert.ok(ctx.eleven.requests[0]!.clientClosedEarly);
  assert.is(ctx.reports.length, 0);
});

test('PCM primary (OpenAI, 24 kHz) failing: flite audio is resampled to the declared 24 kHz', async (ctx) => {
  ctx.openai.enqueue({ kind: 'status', status: 503, code: 'overloaded' });
  const tts = new FallbackTtsEngine(
    new OpenAiTtsEngine({ apiKey: 'sk-key', baseURL: `${ctx.openai.origin}/v1`, model: 'tts-1', voice: 'alloy' }),
    ctx.flite, { onFallback: (report, error) => ctx.reports.push({ report, error }) });
  assert.equal(tts.output, { format: 'pcm16', sampleRate: 24_000 });
  const chunks = await collect(tts.synthesize(SENTENCE, new AbortController().signal));
  assert.ok(chunks.length > 0 && chunks.every((c) => c.format === 'pcm16' && c.sampleRate === 24_000));
  const total = chunks.reduce((n, c) => n + (c.format === 'pcm16' ? c.samples.length : 0), 0);
  const flite = await collect(ctx.flite.synthesize(SENTENCE, new AbortController().signal));
  const fliteTotal = flite.reduce((n, c) => n + (c.format === 'pcm16' ? c.samples.length : 0), 0);
  assert.ok(Math.abs(total - fliteTotal * 1.5) < 200, `16 kHz -> 24 kHz keeps the duration (${total} vs ${fliteTotal * 1.5})`);
  assert.is(ctx.reports[0]!.report.status, 503);
});

test('logTtsFallback writes one warning with the reason and status, never the spoken text', async (ctx) => {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
  const tts = new FallbackTtsEngine(
    new ElevenLabsTtsEngine({ apiKey: 'xi-wrong', voiceId: 'v1', modelId: 'm', baseUrl: ctx.eleven.origin }),
    ctx.flite, { onFallback: logTtsFallback(createLogger('info', sink)) });
  await collect(tts.synthesize(SENTENCE, new AbortController().signal));
  assert.is(lines.length, 1);
  const entry = JSON.parse(lines[0]!) as { level: number; ttsFallback: TtsFallbackReport };
  assert.is(entry.level, 40);
  assert.is(entry.ttsFallback.reason, 'http-status');
  assert.is(entry.ttsFallback.status, 401);
  assert.not.ok(lines[0]!.includes('Patel') || lines[0]!.includes('appointment'));
});

test('both engines failing: the fallback error surfaces (the stage then reports it)', async (ctx) => {
  ctx.eleven.enqueue({ kind: 'status', status: 500 });
  ctx.openai.enqueue({ kind: 'status', status: 500 });
  const tts = new FallbackTtsEngine(
    new ElevenLabsTtsEngine({ apiKey: 'xi-key', voiceId: 'v', modelId: 'm', baseUrl: ctx.eleven.origin }),
    new OpenAiTtsEngine({ apiKey: 'sk-key', baseURL: `${ctx.openai.origin}/v1`, model: 'tts-1', voice: 'alloy' }));
  try {
    await collect(tts.synthesize(SENTENCE, new AbortController().signal));
    assert.unreachable('should fail');
  } catch (err) {
    assert.instance(err, TtsFaultError);
    assert.is((err as TtsFaultError).engine, 'openai');
  }
});

test.run();
