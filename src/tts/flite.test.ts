import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FliteTtsEngine, normalizeForFlite } from './flite.js';
import { TtsError, type TtsAudio } from './types.js';

function pcmOf(chunks: TtsAudio[]): Int16Array {
  const parts = chunks.map((chunk) => {
    if (chunk.format !== 'pcm16') throw new Error('flite yields pcm16');
    return chunk.samples;
  });
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) { out.set(part, offset); offset += part.length; }
  return out;
}

function rms(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / Math.max(1, samples.length));
}

async function collect(engine: FliteTtsEngine, text: string, signal = new AbortController().signal): Promise<TtsAudio[]> {
  const chunks: TtsAudio[] = [];
  for await (const chunk of engine.synthesize(text, signal)) chunks.push(chunk);
  return chunks;
}

const SENTENCE = 'Your appointment with Doctor Lee is confirmed for Tuesday at ten.';

const flite = suite('FliteTtsEngine', {} as { engine: FliteTtsEngine });

flite.before(async (context) => {
  context.engine = await FliteTtsEngine.create({ voice: 'slt' });
});

flite.after(async (context) => {
  await context.engine.close();
});

flite('lists the compiled-in voices and declares slt at 16 kHz', ({ engine }) => {
  assert.is(engine.name, 'flite');
  assert.is(engine.voice, 'slt');
  for (const voice of ['slt', 'kal', 'kal16', 'rms', 'awb']) assert.ok(engine.availableVoices.includes(voice), voice);
  assert.equal(engine.output, { format: 'pcm16', sampleRate: 16000 });
});

flite('speaks a sentence: declared rate, plausible duration, clearly above silence', async ({ engine }) => {
  const chunks = await collect(engine, SENTENCE);
  assert.ok(chunks.length > 1);
  for (const chunk of chunks) {
    assert.is(chunk.format, 'pcm16');
    if (chunk.format === 'pcm16') assert.is(chunk.sampleRate, engine.output.format === 'pcm16' ? engine.output.sampleRate : -1);
  }
  const pcm = pcmOf(chunks);
  const seconds = pcm.length / 16000;
  const words = SENTENCE.split(' ').length; // 11
  // Natural speech runs ~2-4 words per second; flite pads a little silence at both ends.
  assert.ok(seconds > words / 5 && seconds < words / 1.2, `duration ${seconds.toFixed(2)} s for ${words} words`);
  const level = rms(pcm);
  assert.ok(level > 500, `rms ${level.toFixed(0)}`);
  // ~100 ms chunks (the last one may be shorter)
  for (const chunk of chunks.slice(0, -1)) if (chunk.format === 'pcm16') assert.is(chunk.samples.length, 1600);
});

flite('a longer text gives proportionally longer audio', async ({ engine }) => {
  const short = pcmOf(await collect(engine, 'Thank you.')).length;
  const long = pcmOf(await collect(engine, 'Thank you for calling the clinic, we will call you back later this afternoon.')).length;
  assert.ok(long > 2.5 * short, `short ${short} long ${long}`);
});

flite('streams: the first chunk is handed out while the rest of the sentence is still pending', async ({ engine }) => {
  const iterator = engine.synthesize(SENTENCE, new AbortController().signal)[Symbol.asyncIterator]();
  const first = await iterator.next();
  assert.is(first.done, false);
  assert.ok(first.value.format === 'pcm16' && first.value.samples.length === 1600);
  let remaining = 0;
  for (let step = await iterator.next(); !step.done; step = await iterator.next()) remaining++;
  assert.ok(remaining >= 10, `remaining chunks ${remaining}`);
});

flite('abort mid-sentence stops within one chunk', async ({ engine }) => {
  const controller = new AbortController();
  const iterator = engine.synthesize(SENTENCE, controller.signal)[Symbol.asyncIterator]();
  assert.is((await iterator.next()).done, false);
  assert.is((await iterator.next()).done, false);
  controller.abort();
  assert.is((await iterator.next()).done, true);
});

flite('abort before or during rendering yields nothing and does not throw', async ({ engine }) => {
  const before = new AbortController();
  before.abort();
  assert.equal(await collect(engine, SENTENCE, before.signal), []);
  const during = new AbortController();
  const pending = collect(engine, SENTENCE, during.signal);
  setTimeout(() => during.abort(), 5);
  assert.equal(await pending, []);
  // the engine is still usable afterwards
  assert.ok((await collect(engine, 'Still here.')).length > 0);
});

flite('empty, whitespace and punctuation-only text give no audio, not an error', async ({ engine }) => {
  for (const text of ['', '   ', '\n\t', '...', '?!', '<br/>']) {
    assert.equal(await collect(engine, text), [], JSON.stringify(text));
  }
});

flite('unicode, markup, control characters and very long text do not crash', async ({ engine }) => {
  const texts = [
    'Ünïcødé café naïve résumé 日本語 🙂 — fine',
    '<speak><prosody rate="x-fast">Hello</prosody> &amp; <break time="1s"/> there</speak>',
    'Null \u0000 bell \u0007 escape \u001b[31m red \u001b[0m done',
    '-voice kal -o /out/evil.wav --help',
    'word '.repeat(120),
  ];
  for (const text of texts) {
    const pcm = pcmOf(await collect(engine, text));
    assert.ok(pcm.length > 1600, `audio for ${JSON.stringify(text.slice(0, 30))}`);
  }
});

flite('normalizeForFlite folds accents and drops markup and non-ASCII', () => {
  assert.is(normalizeForFlite('Café <b>naïve</b> **bold** 🙂 “quoted”'), 'Cafe naive bold "quoted"');
  assert.is(normalizeForFlite('  \u0000 '), '');
});

flite('synthesis runs off the event loop (timers keep firing during a long sentence)', async ({ engine }) => {
  let ticks = 0;
  const timer = setInterval(() => { ticks++; }, 2);
  try {
    await collect(engine, 'Please hold the line while I check the schedule for next week, this may take a moment.');
  } finally {
    clearInterval(timer);
  }
  // Had synthesis blocked the loop, the interval could not have fired before the last chunk arrived. How often
  // it fired depends on the machine's load, so only "at all" is asserted.
  assert.ok(ticks >= 1, `the interval fired ${ticks} times during synthesis`);
});

flite('concurrent syntheses all complete, in full', async ({ engine }) => {
  const texts = ['First caller sentence.', 'Second caller sentence here.', 'Third one.'];
  const results = await Promise.all(texts.map((text) => collect(engine, text)));
  for (const chunks of results) assert.ok(pcmOf(chunks).length > 8000);
});

flite('synthesize after close is a TtsError', async () => {
  const engine = await FliteTtsEngine.create({ voice: 'kal' });
  assert.equal(engine.output, { format: 'pcm16', sampleRate: 8000 });
  const pcm = pcmOf(await collect(engine, 'Telephone voice.'));
  assert.ok(pcm.length > 4000 && rms(pcm) > 500);
  await engine.close();
  try {
    await collect(engine, 'Too late.');
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.instance(err, TtsError);
  }
});

flite('an unknown voice is a TtsError naming the available ones', async () => {
  try {
    await FliteTtsEngine.create({ voice: 'nonexistent' });
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.instance(err, TtsError);
    assert.match((err as Error).message, /nonexistent.*slt/);
  }
});

flite.run();
