import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FliteTtsEngine } from './flite.js';
import { CachingTtsEngine, PhraseCache, synthesizeCached } from './phrase-cache.js';
import { TtsError, type TtsAudio, type TtsEngine } from './types.js';
import { collect } from '../../test/support/tts-audio.js';

/** Real flite, with a count of the syntheses that reached it. */
class CountingEngine implements TtsEngine {
  syntheses = 0;
  constructor(private readonly inner: TtsEngine) {}
  get name() { return this.inner.name; }
  get voice() { return this.inner.voice; }
  get output() { return this.inner.output; }
  synthesize(text: string, signal: AbortSignal): AsyncIterable<TtsAudio> {
    this.syntheses++;
    return this.inner.synthesize(text, signal);
  }
  close() { return this.inner.close(); }
}

function bytesOf(chunks: readonly TtsAudio[]): number {
  return chunks.reduce((n, c) => n + (c.format === 'pcm16' ? c.samples.byteLength : c.bytes.byteLength), 0);
}

const GREETING = 'Thank you for calling the clinic.';

const cacheSuite = suite('PhraseCache', {} as { flite: FliteTtsEngine; engine: CountingEngine });

cacheSuite.before(async (context) => {
  context.flite = await FliteTtsEngine.create({ voice: 'kal' });
});
cacheSuite.before.each((context) => {
  context.engine = new CountingEngine(context.flite);
});
cacheSuite.after(async (context) => {
  await context.flite.close();
});

cacheSuite('the second get returns the same audio without rendering again', async ({ engine }) => {
  const cache = new PhraseCache();
  const first = await cache.get(engine, GREETING);
  assert.ok(first.length > 5 && bytesOf(first) > 8000);
  assert.is(engine.syntheses, 1);
  const second = await cache.get(engine, `  ${GREETING} `); // whitespace does not make a new phrase
  assert.is(engine.syntheses, 1);
  assert.is(second, first);
  assert.equal(cache.peek(engine, GREETING), first);
  const direct = await collect(engine.synthesize(GREETING, new AbortController().signal));
  assert.equal(second.map((c) => c.format === 'pcm16' && Array.from(c.samples)), direct.map((c) => c.format === 'pcm16' && Array.from(c.samples)));
  assert.equal({ ...cache.stats, bytes: 0 }, { entries: 1, bytes: 0, hits: 2, misses: 1, renders: 1, evictions: 0 });
  assert.is(cache.stats.bytes, bytesOf(first));
});

cacheSuite('concurrent gets of one phrase render it once', async ({ engine }) => {
  const cache = new PhraseCache();
  const results = await Promise.all(Array.from({ length: 6 }, () => cache.get(engine, 'Please hold the line.')));
  assert.is(engine.syntheses, 1);
  assert.is(cache.stats.renders, 1);
  for (const result of results) assert.is(result, results[0]);
});

cacheSuite('evicts the least recently used phrases to stay within the byte bound', async ({ engine }) => {
  const sizer = new PhraseCache();
  const long = 'Your appointment is confirmed, we will send you a reminder the day before.';
  const short = 'Goodbye.';
  const sizeFirst = bytesOf(await sizer.get(engine, GREETING));
  const sizeLong = bytesOf(await sizer.get(engine, long));
  const sizeShort = bytesOf(await sizer.get(engine, short));
  assert.ok(sizeShort < sizeLong);

  const cache = new PhraseCache({ maxBytes: sizeFirst + sizeLong });
  await cache.get(engine, GREETING);
  await cache.get(engine, long);
  assert.ok(cache.has(engine, GREETING) && cache.has(engine, long));
  cache.peek(engine, GREETING); // now the long phrase is the least recently used
  await cache.get(engine, short);
  assert.ok(cache.has(engine, GREETING), 'recently used phrase kept');
  assert.not.ok(cache.has(engine, long), 'least recently used phrase evicted');
  assert.ok(cache.has(engine, short));
  assert.is(cache.stats.evictions, 1);
  assert.is(cache.stats.bytes, sizeFirst + sizeShort);
  assert.ok(cache.stats.bytes <= sizeFirst + sizeLong);
});

cacheSuite('a phrase larger than the whole bound is served but not kept', async ({ engine }) => {
  const cache = new PhraseCache({ maxBytes: 1000 });
  const audio = await cache.get(engine, GREETING);
  assert.ok(bytesOf(audio) > 1000);
  assert.is(cache.stats.entries, 0);
  await cache.get(engine, GREETING);
  assert.is(engine.syntheses, 2);
});

cacheSuite('a failed render is a TtsError, is not cached, and is retried next time', async () => {
  const closed = await FliteTtsEngine.create({ voice: 'kal' });
  await closed.close();
  const engine = new CountingEngine(closed);
  const cache = new PhraseCache();
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await cache.get(engine, GREETING);
      assert.unreachable('should have failed');
    } catch (err) {
      assert.instance(err, TtsError);
    }
  }
  assert.is(engine.syntheses, 2);
  assert.is(cache.stats.entries, 0);
});

cacheSuite('one caller giving up does not cancel the render for the others', async ({ engine }) => {
  const cache = new PhraseCache();
  const impatient = new AbortController();
  const abandoned = cache.get(engine, 'One moment please.', impatient.signal);
  const patient = cache.get(engine, 'One moment please.');
  impatient.abort(new Error('caller hung up'));
  try {
    await abandoned;
    assert.unreachable('should have rejected');
  } catch (err) {
    assert.is((err as Error).message, 'caller hung up');
  }
  assert.ok((await patient).length > 0);
  assert.ok(cache.has(engine, 'One moment please.'));
  assert.is(engine.syntheses, 1);
});

cacheSuite('synthesizeCached stops within one chunk when aborted', async ({ engine }) => {
  const cache = new PhraseCache();
  await cache.warm(engine, [GREETING]);
  const controller = new AbortController();
  const iterator = synthesizeCached(cache, engine, GREETING, controller.signal);
  assert.is((await iterator.next()).done, false);
  controller.abort();
  assert.is((await iterator.next()).done, true);
});

cacheSuite('CachingTtsEngine serves warmed and cacheable texts from memory, the rest from the engine', async ({ engine }) => {
  const cache = new PhraseCache();
  const caching = new CachingTtsEngine({ engine, cache, isCacheable: (text) => text.startsWith('Press') });
  assert.is(caching.name, 'flite');
  assert.equal(caching.output, engine.output);
  await caching.warm([GREETING]);
  assert.is(engine.syntheses, 1);
  const signal = new AbortController().signal;

  const greeting = await collect(caching.synthesize(GREETING, signal));
  assert.equal(greeting, [...cache.peek(engine, GREETING)!]);
  assert.is(engine.syntheses, 1);

  await collect(caching.synthesize('Press one for appointments.', signal));
  await collect(caching.synthesize('Press one for appointments.', signal));
  assert.is(engine.syntheses, 2);

  const free = await collect(caching.synthesize('Your balance is due on Friday.', signal));
  assert.ok(free.length > 0);
  assert.not.ok(cache.has(engine, 'Your balance is due on Friday.'));
  assert.is(engine.syntheses, 3);
});

cacheSuite.run();
