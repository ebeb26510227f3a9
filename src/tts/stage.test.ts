import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Frame } from '../pipeline/frames.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { FliteTtsEngine } from './flite.js';
import { PhraseCache } from './phrase-cache.js';
import { TtsStage, type TtsStageOptions } from './stage.js';
import { TtsError } from './types.js';

/** A one-stage pipeline around a TtsStage, recording what leaves it. */
function harness(options: TtsStageOptions) {
  const down: Frame[] = [];
  const up: Frame[] = [];
  const errors: unknown[] = [];
  const watchers: Array<{ match: (frame: Frame) => boolean; resolve: (frame: Frame) => void }> = [];
  const stage = new TtsStage(options);
  const pipeline = new Pipeline([stage], {
    onDownstreamOut: (frame) => {
      down.push(frame);
      for (const watcher of watchers.splice(0)) {
        if (watcher.match(frame)) watcher.resolve(frame);
        else watchers.push(watcher);
      }
    },
    onUpstreamOut: (frame) => up.push(frame),
    onStageError: (_stage, err) => errors.push(err),
  });
  const nextDown = (match: (frame: Frame) => boolean) => new Promise<Frame>((resolve) => watchers.push({ match, resolve }));
  return { stage, pipeline, down, up, errors, nextDown };
}

function reply(text: string, turnId: number, cacheable = false): Frame {
  return { type: 'bot-reply', text, turnId, at: performance.now(), cacheable };
}

/** Checks start, audio+, end per sentence, in order, and returns the sentences' texts. */
function spokenSentences(frames: Frame[], turnId: number): string[] {
  const texts: string[] = [];
  let open: { id: string; audio: number } | undefined;
  const ids = new Set<string>();
  for (const frame of frames) {
    if (!('turnId' in frame) || frame.turnId !== turnId) continue;
    if (frame.type === 'bot-sentence-start') {
      assert.is(open, undefined, 'previous sentence was closed');
      assert.not.ok(ids.has(frame.sentenceId), 'sentence ids are unique');
      ids.add(frame.sentenceId);
      open = { id: frame.sentenceId, audio: 0 };
      texts.push(frame.text);
    } else if (frame.type === 'bot-audio') {
      assert.ok(open && open.id === frame.sentenceId, 'audio inside its sentence');
      open!.audio++;
    } else if (frame.type === 'bot-sentence-end') {
      assert.ok(open && open.id === frame.sentenceId, 'end matches start');
      assert.ok(open!.audio > 0, 'a sentence has audio');
      open = undefined;
    }
  }
  assert.is(open, undefined, 'last sentence closed');
  return texts;
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const stageSuite = suite('TtsStage', {} as { kal: FliteTtsEngine; slt: FliteTtsEngine });

stageSuite.before(async (context) => {
  [context.kal, context.slt] = await Promise.all([FliteTtsEngine.create({ voice: 'kal' }), FliteTtsEngine.create({ voice: 'slt' })]);
});
stageSuite.after(async (context) => {
  await Promise.all([context.kal.close(), context.slt.close()]);
});

stageSuite('speaks each sentence in order: start, audio..., end', async ({ kal }) => {
  const firstAudio: Array<[number, number]> = [];
  const { stage, pipeline, down, errors } = harness({ engine: kal, onFirstAudio: (turnId, ms) => firstAudio.push([turnId, ms]) });
  pipeline.pushDown(reply('Hello there, thanks for calling. Your appointment is on Tuesday at 9 a.m. Is there anything else?', 7));
  await stage.idle();
  assert.equal(errors, []);
  assert.equal(spokenSentences(down, 7), [
    'Hello there, thanks for calling.', 'Your appointment is on Tuesday at 9 a.m.', 'Is there anything else?',
  ]);
  assert.not.ok(down.some((frame) => frame.type === 'bot-reply'), 'the reply itself is consumed');
  const audio = down.filter((frame) => frame.type === 'bot-audio');
  assert.ok(audio.every((frame) => frame.type === 'bot-audio' && frame.audio.format === 'pcm16' && frame.audio.sampleRate === 8000));
  assert.is(firstAudio.length, 1);
  assert.is(firstAudio[0]![0], 7);
  assert.ok(firstAudio[0]![1] >= 0);
  await pipeline.close();
});

stageSuite('replies are spoken one after another, never interleaved', async ({ kal }) => {
  const { stage, pipeline, down } = harness({ engine: kal });
  pipeline.pushDown(reply('One moment please. Let me look that up.', 1));
  pipeline.pushDown(reply('I found your record. You are all set.', 2));
  await stage.idle();
  const turns = down.filter((f) => f.type === 'bot-sentence-start').map((f) => ('turnId' in f ? f.turnId : -1));
  assert.equal(turns, [1, 1, 2, 2]);
  assert.equal(spokenSentences(down, 2), ['I found your record.', 'You are all set.']);
  await pipeline.close();
});

stageSuite('other frames pass through untouched, both ways', async ({ kal }) => {
  const { pipeline, down, up } = harness({ engine: kal });
  const dtmf: Frame = { type: 'dtmf', digit: '5', at: 1 };
  const speaking: Frame = { type: 'bot-speaking', speaking: true, at: 2 };
  pipeline.pushDown(dtmf);
  pipeline.pushUp(speaking);
  assert.equal(down, [dtmf]);
  assert.equal(up, [speaking]);
  await pipeline.close();
});

stageSuite('an interruption cancels the reply: nothing of it follows, and the interruption passes on', async ({ slt }) => {
  const { stage, pipeline, down, nextDown } = harness({ engine: slt });
  const sentences = [
    'Thank you for waiting on the line today.',
    'I have checked the schedule for the whole of next week.',
    'There are openings on Monday, Wednesday and Friday mornings.',
    'Doctor Lee also has an evening slot on Thursday.',
    'Please tell me which of these suits you best.',
    'You can also press a key on your phone.',
  ];
  pipeline.pushDown(reply(sentences.join(' '), 3));
  await nextDown((frame) => frame.type === 'bot-audio');
  const interruption: Frame = { type: 'interruption', at: performance.now(), reason: 'barge-in' };
  pipeline.pushDown(interruption);
  const cutAt = down.indexOf(interruption);
  assert.ok(cutAt > 0, 'interruption passed on downstream');
  await stage.idle();
  await delay(600); // let any synthesis that was already running in flite finish
  assert.equal(down.slice(cutAt + 1), [], 'no frames after the interruption');
  const started = down.filter((frame) => frame.type === 'bot-sentence-start').length;
  assert.ok(started < sentences.length, `only ${started} sentences began`);

  // The next reply is spoken normally.
  pipeline.pushDown(reply('Sure, take your time.', 4));
  await stage.idle();
  assert.equal(spokenSentences(down.slice(cutAt + 1), 4), ['Sure, take your time.']);
  await pipeline.close();
});

stageSuite('an engine failure on one sentence is reported, and the next sentence is still spoken', async ({ slt }) => {
  const { stage, pipeline, down, errors, nextDown } = harness({ engine: slt });
  const doomed = 'While I am reading this rather long sentence about your upcoming appointment at the main clinic on '
    + 'the corner of the high street, the synthesizer process will be stopped by the test, which must not stop the call.';
  pipeline.pushDown(reply(`Okay, one moment please. ${doomed} Thanks for waiting, that is all.`, 5));
  await nextDown((frame) => frame.type === 'bot-sentence-end');
  // The long sentence is now rendering in the synthesizer process: crash it.
  const [pid] = slt.processIds();
  process.kill(pid!, 'SIGKILL');
  await stage.idle();
  assert.equal(spokenSentences(down, 5), ['Okay, one moment please.', 'Thanks for waiting, that is all.']);
  assert.is(errors.length, 1);
  assert.instance(errors[0], TtsError);
  assert.not.equal(slt.processIds(), [pid], 'the synthesizer was replaced');
  await pipeline.close();
});

stageSuite('when the first sentence fails, the fallback engine speaks it', async ({ kal }) => {
  const broken = await FliteTtsEngine.create({ voice: 'slt' });
  await broken.close(); // every synthesis now fails with a TtsError
  const { stage, pipeline, down, errors } = harness({ engine: broken, fallbackEngine: kal });
  pipeline.pushDown(reply('Sorry, we are having trouble. Please call back later.', 6));
  await stage.idle();
  assert.equal(spokenSentences(down, 6), ['Sorry, we are having trouble.']);
  assert.ok(down.some((f) => f.type === 'bot-audio' && f.audio.format === 'pcm16' && f.audio.sampleRate === 8000), 'fallback audio');
  assert.is(errors.length, 2, 'both failures reported');
  for (const err of errors) assert.instance(err, TtsError);
  await pipeline.close();
});

stageSuite('cacheable replies are rendered once and then served from the phrase cache', async ({ kal }) => {
  const cache = new PhraseCache();
  const { stage, pipeline, down } = harness({ engine: kal, phraseCache: cache });
  pipeline.pushDown(reply('Thank you for calling. Goodbye for now.', 8, true));
  await stage.idle();
  pipeline.pushDown(reply('Thank you for calling. Goodbye for now.', 9, true));
  await stage.idle();
  assert.is(cache.stats.renders, 2); // two sentences, each rendered once
  assert.is(cache.stats.hits, 2);
  const audioOf = (turnId: number) => down.filter((f) => f.type === 'bot-audio' && f.turnId === turnId)
    .map((f) => (f.type === 'bot-audio' && f.audio.format === 'pcm16' ? f.audio.samples.length : 0));
  assert.equal(audioOf(9), audioOf(8));
  pipeline.pushDown(reply('This one is not cacheable.', 10));
  await stage.idle();
  assert.is(cache.stats.entries, 2);
  await pipeline.close();
});

stageSuite('after close, replies are ignored', async ({ kal }) => {
  const { stage, pipeline, down } = harness({ engine: kal });
  await stage.close();
  stage.process(reply('Hello there, anyone home?', 11), 'down');
  await stage.idle();
  assert.equal(down, []);
  await pipeline.close();
});

stageSuite.run();
