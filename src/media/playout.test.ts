import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Frame, FrameOf, TtsAudio } from '../pipeline/frames.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { muLawEncode, MULAW_SILENCE } from './codec.js';
import { FRAME_SAMPLES, PlayoutStage, truncateText, type PlayoutOptions, type RateConverter } from './playout.js';
import { createResampler } from './resample.js';

const LEAD_MS = 60;
const T0 = 1000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Every pipeline a test opened, closed after it even when an assertion failed (a live pacing timer hangs the run). */
const openPipelines: Pipeline[] = [];
test.after.each(async () => {
  await Promise.all(openPipelines.splice(0).map((p) => p.close()));
});

/**
 * A PlayoutStage in a real pipeline. Its clock (`now`) is simulated and only moves when the test says so; its
 * pacing timer is real, so after each clock step the test yields briefly to let the timer run.
 * With a 60 ms lead and 20 ms steps the timer always waits 1 ms.
 */
function harness(options: Partial<PlayoutOptions> = {}) {
  const clock = { now: T0 };
  const down: Frame[] = [];
  const up: Frame[] = [];
  const errors: unknown[] = [];
  const firstFrameLatencies: number[] = [];
  const bargeInLatencies: number[] = [];
  const stage = new PlayoutStage({
    leadMs: LEAD_MS,
    convertersByRate: new Map(),
    now: () => clock.now,
    onFirstFrameLatency: (ms) => firstFrameLatencies.push(ms),
    onBargeInLatency: (ms) => bargeInLatencies.push(ms),
    ...options,
  });
  const pipeline = new Pipeline([stage], {
    onDownstreamOut: (frame) => down.push(frame),
    onUpstreamOut: (frame) => up.push(frame),
    onStageError: (_stage, err) => errors.push(err),
  });
  openPipelines.push(pipeline);
  return {
    clock, down, up, errors, firstFrameLatencies, bargeInLatencies, pipeline,
    /** Moves the clock and lets the pacing timer catch up. */
    async advance(ms: number) {
      clock.now += ms;
      await sleep(6);
    },
    start(sentenceId: string, text: string, turnId = 1) {
      pipeline.pushDown({ type: 'bot-sentence-start', sentenceId, text, turnId, at: clock.now });
    },
    audio(sentenceId: string, audio: TtsAudio, turnId = 1, at = clock.now) {
      pipeline.pushDown({ type: 'bot-audio', sentenceId, audio, turnId, at });
    },
    end(sentenceId: string, lastInReply: boolean, turnId = 1) {
      pipeline.pushDown({ type: 'bot-sentence-end', sentenceId, turnId, at: clock.now, lastInReply });
    },
    echo(name: string) {
      pipeline.pushUp({ type: 'playback-reached', name, at: clock.now });
    },
    /** Audio sent, mu-law encoded so byte patterns can be compared (mu-law -> PCM -> mu-law is lossless here). */
    media: () => down.filter((f): f is FrameOf<'outbound-audio'> => f.type === 'outbound-audio')
      .map((f) => ({ ...f, mulaw: muLawEncode(f.samples) })),
    /** Outbound frames as a compact script: "m" media, "mark:NAME", "clear". */
    script: () => down.map((f) => f.type === 'outbound-audio' ? 'm'
      : f.type === 'playback-marker' ? `mark:${f.name}` : f.type === 'outbound-clear' ? 'clear' : f.type),
    upOf: <T extends Frame['type']>(type: T) => up.filter((f) => f.type === type) as FrameOf<T>[],
  };
}
type Harness = ReturnType<typeof harness>;

/** Mu-law bytes whose every frame is distinguishable from every other (so a lost or repeated frame shows). */
function patternBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const code = (i * 7 + Math.floor(i / FRAME_SAMPLES) * 13) % 255; // never 0xFF
    // 0x7F is mu-law's negative zero: it decodes to 0, which encodes back as 0xFF.
    bytes[i] = code === 0x7f ? 0x7e : code;
  }
  return bytes;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) { out.set(chunk, at); at += chunk.length; }
  return out;
}

/** A tone as 16-bit PCM (real audio content, so mu-law coding and resampling have something to do). */
function tone(samples: number, sampleRate: number, hz = 440): Int16Array {
  const out = new Int16Array(samples);
  for (let i = 0; i < samples; i++) out[i] = Math.round(8000 * Math.sin((2 * Math.PI * hz * i) / sampleRate));
  return out;
}

/** Checks that audio sent never runs more than the lead ahead of the clock, and that it is not held back either. */
function assertPaced(h: Harness, totalFrames: number, startedAt = T0): void {
  const sent = h.media().length;
  const elapsed = h.clock.now - startedAt;
  assert.ok(sent * 20 <= elapsed + LEAD_MS, `${sent} frames sent ${elapsed} ms after start exceeds the ${LEAD_MS} ms lead`);
  const allowed = Math.min(totalFrames, Math.ceil((elapsed + LEAD_MS) / 20));
  assert.is(sent, allowed, `frames sent at +${elapsed} ms`);
}

test('mu-law audio goes out in 160-byte frames, paced within the lead, then a mark; the echo reports it played', async () => {
  const h = harness();
  const audio = patternBytes(10 * FRAME_SAMPLES + 80); // 10.5 frames: the last one is padded
  h.start('1.0', 'Hello there.');
  h.audio('1.0', { format: 'mulaw8k', bytes: audio.subarray(0, 1000) });
  assertPaced(h, 11);
  assert.equal(h.up.map((f) => f.type), ['bot-speaking']);
  assert.equal(h.upOf('bot-speaking')[0]!.speaking, true);
  h.audio('1.0', { format: 'mulaw8k', bytes: audio.subarray(1000) });
  h.end('1.0', true);
  for (let step = 0; step < 12; step++) {
    await h.advance(20);
    assertPaced(h, 11);
  }

  assert.equal(h.script(), [...Array(11).fill('m'), 'mark:1.0']);
  for (const frame of h.media()) assert.is(frame.mulaw.length, FRAME_SAMPLES);
  const sent = concat(h.media().map((f) => f.mulaw));
  assert.equal(sent.subarray(0, audio.length), audio);
  assert.ok(sent.subarray(audio.length).every((b) => b === MULAW_SILENCE), 'the last frame is padded with mu-law silence');
  assert.is(sent.length - audio.length, 80);
  assert.equal(h.upOf('bot-speaking').length, 1, 'still speaking until the echo');

  h.echo('nonsense');
  assert.is(h.up.length, 1, 'an unknown echo is ignored');
  h.echo('1.0');
  assert.equal(h.up.slice(1).map((f) => f.type), ['sentence-played', 'bot-speaking']);
  const played = h.upOf('sentence-played')[0]!;
  assert.equal(
    { id: played.sentenceId, text: played.text, heard: played.heardText, truncated: played.truncated, last: played.lastInReply, turn: played.turnId },
    { id: '1.0', text: 'Hello there.', heard: 'Hello there.', truncated: false, last: true, turn: 1 },
  );
  assert.is(h.upOf('bot-speaking')[1]!.speaking, false);
  h.echo('1.0');
  assert.is(h.up.length, 3, 'a repeated echo is ignored');
  assert.equal(h.errors, []);
  await h.pipeline.close();
});

test('pcm16 at 8 kHz is mu-law encoded; marks follow each sentence; first-frame latency once per turn', async () => {
  const h = harness();
  const first = tone(480, 8000); // 3 frames
  const second = tone(400, 8000, 300); // 2.5 frames
  h.start('1.0', 'One.');
  h.audio('1.0', { format: 'pcm16', sampleRate: 8000, samples: first }, 1, T0 - 7);
  h.end('1.0', false);
  h.start('1.1', 'Two.');
  h.audio('1.1', { format: 'pcm16', sampleRate: 8000, samples: second }, 1, T0 - 3);
  h.end('1.1', true);
  for (let step = 0; step < 6; step++) await h.advance(20);

  assert.equal(h.script(), ['m', 'm', 'm', 'mark:1.0', 'm', 'm', 'm', 'mark:1.1']);
  const sent = concat(h.media().map((f) => f.mulaw));
  assert.equal(sent.subarray(0, 480), muLawEncode(first));
  assert.equal(sent.subarray(480, 880), muLawEncode(second));
  assert.ok(sent.subarray(880).every((b) => b === MULAW_SILENCE));
  assert.equal(h.firstFrameLatencies, [7], 'measured once for the turn, from its first TTS audio');

  h.echo('1.0');
  assert.equal(h.up.map((f) => f.type), ['bot-speaking', 'sentence-played'], 'the bot is still speaking sentence 2');
  assert.is(h.upOf('sentence-played')[0]!.lastInReply, false);
  h.echo('1.1');
  assert.equal(h.up.map((f) => f.type), ['bot-speaking', 'sentence-played', 'sentence-played', 'bot-speaking']);
  assert.is(h.upOf('sentence-played')[1]!.lastInReply, true);

  // The next turn is measured again.
  h.start('2.0', 'Three.', 2);
  h.audio('2.0', { format: 'pcm16', sampleRate: 8000, samples: first }, 2, h.clock.now - 11);
  h.end('2.0', true, 2);
  assert.equal(h.firstFrameLatencies, [7, 11]);
  assert.is(h.upOf('bot-speaking').at(-1)!.speaking, true);
  await h.pipeline.close();
});

test('pcm16 at 16 kHz goes through the call\'s rate converter', async () => {
  const converter = await createResampler(16000, 8000);
  const reference = await createResampler(16000, 8000);
  try {
    const h = harness({ convertersByRate: new Map<number, RateConverter>([[16000, converter]]) });
    const chunks = [tone(1600, 16000), tone(1234, 16000, 600), tone(900, 16000, 250)];
    // The sentence's end flushes the converter: its filter tail belongs to this sentence, not the next.
    const expected = muLawEncode(Int16Array.from([...chunks.flatMap((c) => [...reference.process(c)]), ...reference.flush()]));
    h.start('1.0', 'Wideband.');
    for (const chunk of chunks) h.audio('1.0', { format: 'pcm16', sampleRate: 16000, samples: chunk });
    h.end('1.0', true);
    for (let step = 0; step < 12; step++) {
      await h.advance(20);
      assertPaced(h, Math.ceil(expected.length / FRAME_SAMPLES));
    }
    assert.is(expected.length, (1600 + 1234 + 900) / 2, 'exactly half the samples, tail included');
    const frames = h.media();
    assert.is(frames.length, Math.ceil(expected.length / FRAME_SAMPLES));
    for (const frame of frames) assert.is(frame.mulaw.length, FRAME_SAMPLES);
    const sent = concat(frames.map((f) => f.mulaw));
    assert.equal(sent.subarray(0, expected.length), expected);
    assert.ok(sent.subarray(expected.length).every((b) => b === MULAW_SILENCE));
    assert.is(h.script().at(-1), 'mark:1.0');
    assert.equal(h.errors, []);
    await h.pipeline.close();
  } finally {
    converter.destroy();
    reference.destroy();
  }
});

test('pause clears the line once and keeps what was not heard; resume sends exactly that, with a renamed mark', async () => {
  const h = harness();
  const audio = patternBytes(6 * FRAME_SAMPLES);
  h.start('1.0', 'Your appointment is on Tuesday.');
  h.audio('1.0', { format: 'mulaw8k', bytes: audio });
  h.end('1.0', true);
  for (let step = 0; step < 4; step++) await h.advance(20);
  // Frames play at 1000, 1020, ..., 1100; the mark after them at 1120. All of it is on the wire by now.
  assert.equal(h.script(), ['m', 'm', 'm', 'm', 'm', 'm', 'mark:1.0']);
  const beforePause = h.media().map((f) => f.mulaw);

  h.clock.now = 1090; // the frame playing from 1080 is in progress: heard; 1100 onwards is not
  h.pipeline.pushDown({ type: 'playout-pause', at: 1090, speechOnsetAt: 1010 });
  assert.equal(h.script().slice(7), ['clear']);
  assert.equal(h.bargeInLatencies, [80]);
  h.pipeline.pushDown({ type: 'playout-pause', at: 1095, speechOnsetAt: 1010 });
  await h.advance(100);
  assert.equal(h.script().slice(7), ['clear'], 'nothing more while paused, and no second clear');

  h.pipeline.pushDown({ type: 'playout-resume', at: h.clock.now });
  for (let step = 0; step < 3; step++) await h.advance(20);
  assert.equal(h.script().slice(7), ['clear', 'm', 'mark:1.0~2']);
  const afterResume = h.media().slice(6).map((f) => f.mulaw);
  const heardCount = [0, 1, 2, 3, 4, 5].filter((k) => T0 + 20 * k < 1090).length;
  assert.is(heardCount, 5);
  assert.equal(concat([...beforePause.slice(0, heardCount), ...afterResume]), audio, 'heard + resent = the sentence, once');
  assert.equal(h.upOf('bot-speaking').map((f) => f.speaking), [true], 'a pause is not the end of speaking');

  h.echo('1.0'); // Twilio echoes the cleared mark too: not "played"
  assert.equal(h.upOf('sentence-played'), []);
  h.echo('1.0~2');
  assert.equal(h.upOf('sentence-played').map((f) => [f.sentenceId, f.truncated]), [['1.0', false]]);
  assert.equal(h.upOf('bot-speaking').map((f) => f.speaking), [true, false]);
  assert.equal(h.errors, []);
  await h.pipeline.close();
});

test('interruption after a pause sends no second clear and reports the sentence cut at the words heard', async () => {
  const h = harness();
  const text = 'one two three four five six seven eight nine ten';
  h.start('1.0', text);
  h.audio('1.0', { format: 'mulaw8k', bytes: patternBytes(10 * FRAME_SAMPLES) });
  h.end('1.0', true);
  await h.advance(20);
  await h.advance(20); // frames for 1000..1080 on the wire
  h.clock.now = 1050; // 1000, 1020, 1040 heard: 3 of 10 frames
  h.pipeline.pushDown({ type: 'playout-pause', at: 1050, speechOnsetAt: 1020 });
  h.clock.now = 1200;
  const interruption: Frame = { type: 'interruption', at: 1200, reason: 'barge-in', speechOnsetAt: 1020 };
  h.pipeline.pushDown(interruption);

  assert.equal(h.script().filter((s) => s !== 'm'), ['clear', 'interruption']);
  assert.is(h.down.at(-1), interruption, 'the interruption passes on');
  assert.equal(h.bargeInLatencies, [30], 'measured once, at the pause');
  const played = h.upOf('sentence-played');
  assert.is(played.length, 1);
  assert.is(played[0]!.truncated, true);
  assert.is(played[0]!.heardText, 'one two three');
  assert.equal(h.upOf('bot-speaking').map((f) => f.speaking), [true, false]);

  // Audio of the dropped sentence still arriving from TTS is ignored; its mark too.
  const sentBefore = h.down.length;
  h.audio('1.0', { format: 'mulaw8k', bytes: patternBytes(4 * FRAME_SAMPLES) });
  h.end('1.0', true);
  await h.advance(20);
  assert.is(h.down.length, sentBefore);

  // The next reply plays normally.
  h.start('2.0', 'Okay.', 2);
  h.audio('2.0', { format: 'mulaw8k', bytes: patternBytes(FRAME_SAMPLES) }, 2);
  h.end('2.0', true, 2);
  assert.equal(h.script().slice(sentBefore), ['m', 'mark:2.0']);
  assert.equal(h.upOf('bot-speaking').map((f) => f.speaking), [true, false, true]);
  await h.pipeline.close();
});

test('interruption without a pause clears the line and reports the heard words', async () => {
  const h = harness();
  const text = 'please hold while I look that up for you';
  h.start('1.0', text);
  h.audio('1.0', { format: 'mulaw8k', bytes: patternBytes(8 * FRAME_SAMPLES) });
  h.end('1.0', true);
  await h.advance(20); // 4 frames on the wire (1000..1060)
  h.clock.now = 1045; // 1000, 1020, 1040 started: 3 of 8 frames
  h.pipeline.pushDown({ type: 'interruption', at: 1045, reason: 'barge-in', speechOnsetAt: 1000 });

  assert.equal(h.script(), ['m', 'm', 'm', 'm', 'clear', 'interruption']);
  assert.equal(h.bargeInLatencies, [45]);
  const played = h.upOf('sentence-played')[0]!;
  assert.is(played.truncated, true);
  assert.is(played.heardText, truncateText(text, 3 / 8));
  assert.ok(played.heardText.length > 0 && text.startsWith(`${played.heardText} `), 'a strict word prefix');
  await h.advance(40);
  assert.is(h.media().length, 4, 'nothing more is sent');
  await h.pipeline.close();
});

test('a pause after the last frame played, answered by the final echo, does not mute the next reply', async () => {
  const h = harness();
  h.start('1.0', 'Anything else?');
  h.audio('1.0', { format: 'mulaw8k', bytes: patternBytes(2 * FRAME_SAMPLES) });
  h.end('1.0', true);
  assert.equal(h.script(), ['m', 'm', 'mark:1.0']);
  await h.advance(60); // everything has played by the clock; Twilio's echo is still on its way
  h.pipeline.pushDown({ type: 'playout-pause', at: h.clock.now, speechOnsetAt: h.clock.now - 160 });
  assert.equal(h.script(), ['m', 'm', 'mark:1.0'], 'nothing left to clear');
  h.echo('1.0');
  assert.equal(h.upOf('bot-speaking').map((f) => f.speaking), [true, false]);

  // Turn-taking forgets its pause when the bot stops speaking, so no resume will come: the next reply must play.
  h.start('2.0', 'Okay.', 2);
  h.audio('2.0', { format: 'mulaw8k', bytes: patternBytes(FRAME_SAMPLES) }, 2);
  h.end('2.0', true, 2);
  assert.equal(h.script().slice(3), ['m', 'mark:2.0']);
  assert.equal(h.upOf('bot-speaking').map((f) => f.speaking), [true, false, true]);
  await h.pipeline.close();
});

test('a lead of 0 ms still plays, one frame at a time in real time', async () => {
  const h = harness({ leadMs: 0 });
  h.start('1.0', 'Hi.');
  h.audio('1.0', { format: 'mulaw8k', bytes: patternBytes(3 * FRAME_SAMPLES) });
  h.end('1.0', true);
  assert.equal(h.script(), ['m'], 'the first frame goes out at once');
  await h.advance(20);
  assert.equal(h.script(), ['m', 'm']);
  await sleep(25); // the clock has not moved: nothing more may go
  assert.equal(h.script(), ['m', 'm']);
  await h.advance(20);
  assert.equal(h.script(), ['m', 'm', 'm']);
  await h.advance(20);
  assert.equal(h.script(), ['m', 'm', 'm', 'mark:1.0']);
  await h.pipeline.close();
});

test('audio at a rate with no converter is reported as a stage error and the stage keeps working', async () => {
  const h = harness();
  h.start('1.0', 'Odd rate.');
  h.audio('1.0', { format: 'pcm16', sampleRate: 11025, samples: tone(1000, 11025) });
  assert.is(h.errors.length, 1);
  assert.match((h.errors[0] as Error).message, '11025');
  assert.equal(h.down, []);

  h.audio('1.0', { format: 'pcm16', sampleRate: 8000, samples: tone(320, 8000) });
  h.end('1.0', true);
  assert.equal(h.script(), ['m', 'm', 'mark:1.0']);
  h.echo('1.0');
  assert.equal(h.upOf('sentence-played').length, 1);
  await h.pipeline.close();
});

test('a held turn is rendered but not sent until confirmed; a withdrawal drops it without a clear', async () => {
  const h = harness();
  h.pipeline.pushDown({ type: 'playout-hold', fromTurnId: 2, at: h.clock.now });
  h.start('2.0', 'Thanks, and your date of birth?', 2);
  h.audio('2.0', { format: 'mulaw8k', bytes: patternBytes(5 * FRAME_SAMPLES) }, 2);
  h.end('2.0', true, 2);
  await h.advance(100);
  assert.equal(h.script(), [], 'nothing reaches the caller while the turn may go on');
  assert.equal(h.up, [], 'the bot is not speaking');
  await h.advance(40);
  h.pipeline.pushDown({ type: 'turn-confirmed', at: h.clock.now });
  assert.equal(h.script().slice(0, 3), ['m', 'm', 'm'], 'confirmed: it goes out at once');
  assert.equal(h.firstFrameLatencies, [0], 'the held time is the caller\'s silence, not playout latency');

  const w = harness();
  w.pipeline.pushDown({ type: 'playout-hold', fromTurnId: 3, at: w.clock.now });
  w.start('3.0', 'Is that right?', 3);
  w.audio('3.0', { format: 'mulaw8k', bytes: patternBytes(5 * FRAME_SAMPLES) }, 3);
  await w.advance(20);
  w.pipeline.pushDown({ type: 'interruption', reason: 'turn-withdrawn', at: w.clock.now });
  await w.advance(100);
  assert.equal(w.script(), ['interruption'], 'withdrawn: never sent, and no clear for audio that never played (the frame goes on to the wire, which ignores it)');
  assert.equal(w.upOf('sentence-played'), [], 'nothing was heard, so nothing is reported cut off');
  w.start('4.0', 'Next.', 4);
  w.audio('4.0', { format: 'mulaw8k', bytes: patternBytes(2 * FRAME_SAMPLES) }, 4);
  assert.equal(w.script().slice(1), ['m', 'm'], 'the hold ended with the withdrawal');
});

test('a hold does not stop a reply that is already playing', async () => {
  const h = harness();
  h.start('1.0', 'Our hours are nine to five.', 1);
  h.audio('1.0', { format: 'mulaw8k', bytes: patternBytes(6 * FRAME_SAMPLES) }, 1);
  h.end('1.0', true, 1);
  h.pipeline.pushDown({ type: 'playout-hold', fromTurnId: 2, at: h.clock.now });
  h.start('2.0', 'Anything else?', 2);
  h.audio('2.0', { format: 'mulaw8k', bytes: patternBytes(3 * FRAME_SAMPLES) }, 2);
  for (let step = 0; step < 8; step++) await h.advance(20);
  assert.equal(h.script(), [...Array(6).fill('m'), 'mark:1.0'], 'the first reply plays to its end; the held one waits');
});

test('a transport without playback reports: the sentence counts as played when the pacing clock says so', async () => {
  const h = harness({ transportReportsPlayback: false });
  h.start('1.0', 'Hello there.');
  h.audio('1.0', { format: 'mulaw8k', bytes: patternBytes(3 * FRAME_SAMPLES) });
  h.end('1.0', true);
  await h.advance(20);
  assert.equal(h.script(), ['m', 'm', 'm', 'mark:1.0']);
  assert.is(h.upOf('sentence-played').length, 0, 'not before its audio has played');
  await h.advance(60);
  await sleep(80);
  const played = h.upOf('sentence-played');
  assert.is(played.length, 1);
  assert.is(played[0]!.truncated, false);
  assert.equal(h.upOf('bot-speaking').map((f) => f.speaking), [true, false]);
});

test('without playback reports, a barge-in before the clock reaches the marker reports the sentence truncated', async () => {
  const h = harness({ transportReportsPlayback: false });
  h.start('1.0', 'One two three four five six.');
  h.audio('1.0', { format: 'mulaw8k', bytes: patternBytes(6 * FRAME_SAMPLES) });
  h.end('1.0', true);
  for (let i = 0; i < 3; i++) await h.advance(20);
  h.pipeline.pushDown({ type: 'interruption', reason: 'barge-in', at: h.clock.now, speechOnsetAt: h.clock.now - 50 });
  await h.advance(200);
  await sleep(80);
  const played = h.upOf('sentence-played');
  assert.is(played.length, 1, 'reported once, by the interruption, not again by a stale clock report');
  assert.is(played[0]!.truncated, true);
});

test('truncateText keeps the leading share of the words', () => {
  assert.is(truncateText('a b c d', 0.5), 'a b');
  assert.is(truncateText('a b c d', 0), '');
  assert.is(truncateText('a b c d', 2), 'a b c d');
});

test.run();
