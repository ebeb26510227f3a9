/**
 * Rendering follows playback: TTS -> playout in one real pipeline, with a counting engine. A long reply is
 * rendered only a little ahead of what has been played, and one cut off early cost almost nothing.
 * Playout's clock is simulated (it moves only when the test says so); its pacing timer is real.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Frame, TtsAudio } from '../pipeline/frames.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { BACKLOG_FULL_MS, FRAME_MS, PlayoutStage } from '../media/playout.js';
import { TtsStage } from './stage.js';
import type { TtsEngine } from './types.js';

const CHUNK_SAMPLES = 800; // 100 ms at 8 kHz
const CHUNKS_PER_SENTENCE = 5; // 500 ms per sentence
const SENTENCE_MS = (CHUNK_SAMPLES * CHUNKS_PER_SENTENCE) / 8;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A tone engine that counts what it is asked to synthesize and the audio it produced. */
class CountingEngine implements TtsEngine {
  readonly name = 'counting';
  readonly voice = 'tone';
  readonly output = { format: 'pcm16', sampleRate: 8000 } as const;
  syntheses = 0;
  chunks = 0;
  async *synthesize(_text: string, signal: AbortSignal): AsyncIterable<TtsAudio> {
    this.syntheses++;
    for (let i = 0; i < CHUNKS_PER_SENTENCE; i++) {
      await Promise.resolve();
      if (signal.aborted) return;
      this.chunks++;
      const samples = new Int16Array(CHUNK_SAMPLES);
      for (let s = 0; s < samples.length; s++) samples[s] = Math.round(3000 * Math.sin(s / 5));
      yield { format: 'pcm16', sampleRate: 8000, samples };
    }
  }
  async close(): Promise<void> {}
}

function harness() {
  const clock = { now: 1000 };
  const engine = new CountingEngine();
  const wire: Frame[] = [];
  const tts = new TtsStage({ engine, now: () => clock.now });
  const playout = new PlayoutStage({ leadMs: 60, convertersByRate: new Map(), now: () => clock.now });
  const pipeline = new Pipeline([tts, playout], {
    onDownstreamOut: (frame) => wire.push(frame),
    onUpstreamOut: () => undefined,
    onStageError: (_stage, err) => { throw err; },
  });
  return {
    clock, engine, wire, pipeline,
    media: () => wire.filter((f) => f.type === 'outbound-audio').length,
    /** Lets the stages run (microtasks and the pacing timer) without moving the simulated clock. */
    settle: () => sleep(15),
    async play(ms: number) {
      for (let t = 0; t < ms; t += FRAME_MS) { clock.now += FRAME_MS; await sleep(2); }
      await sleep(10);
    },
  };
}

const longReply = (sentences: number) => Array.from({ length: sentences }, (_, i) => `This is sentence number ${i + 1} of the reply.`).join(' ');

test('a long reply is rendered only a little ahead of playback', async () => {
  const h = harness();
  try {
    h.pipeline.pushDown({ type: 'bot-reply', text: longReply(20), turnId: 1, at: h.clock.now });
    await h.settle();
    // Nothing has played yet: what is rendered is the backlog playout holds, plus the sentence behind it.
    const aheadSentences = Math.ceil(BACKLOG_FULL_MS / SENTENCE_MS) + 2;
    assert.ok(h.engine.syntheses <= aheadSentences, `${h.engine.syntheses} of 20 sentences rendered before any was heard`);
    assert.ok(h.engine.syntheses >= 2, 'rendering has started');
    // As the caller hears it, rendering follows, never far ahead.
    for (let step = 0; step < 6; step++) {
      await h.play(SENTENCE_MS);
      const playedSentences = Math.floor(h.media() * FRAME_MS / SENTENCE_MS);
      assert.ok(h.engine.syntheses <= playedSentences + aheadSentences,
        `${h.engine.syntheses} rendered with ${playedSentences} played`);
    }
    assert.ok(h.engine.syntheses > aheadSentences, 'rendering went on as the reply played');
  } finally {
    await h.pipeline.close();
  }
});

test('a reply cut off at once was barely rendered and nothing more of it is', async () => {
  const h = harness();
  try {
    h.pipeline.pushDown({ type: 'bot-reply', text: longReply(20), turnId: 1, at: h.clock.now });
    await h.settle();
    h.pipeline.pushDown({ type: 'interruption', at: h.clock.now, reason: 'dtmf' });
    const rendered = h.engine.chunks;
    assert.ok(rendered * 100 <= BACKLOG_FULL_MS + 2 * SENTENCE_MS, `${rendered * 100} ms of audio rendered for a reply nobody heard`);
    await h.play(2 * SENTENCE_MS);
    assert.is(h.engine.chunks, rendered, 'nothing more of the cancelled reply is rendered');
  } finally {
    await h.pipeline.close();
  }
});

test.run();
