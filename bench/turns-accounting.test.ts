/**
 * The turn-taking bench's accounting (bench/turns-accounting.ts) on hand-made timelines.
 * Run with the rest (`node scripts/test.mjs`) or alone: `node scripts/test.mjs 'turns-accounting\.test\.ts$'`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { accountAnswer, reportByKind, type AnswerRecord } from './turns-accounting.js';

const piece = (voicedStartAt: number, voicedEndAt: number) => ({ voicedStartAt, voicedEndAt });
/** Bot frames every 20 ms from `from` to `to`. */
const frames = (from: number, to: number) => Array.from({ length: Math.floor((to - from) / 20) + 1 }, (_, i) => from + i * 20);

test('one piece: voice-to-voice runs from its last voiced sample to the first frame after it', () => {
  const timing = accountAnswer([piece(1000, 1400)], [...frames(0, 900), ...frames(2100, 3000)]);
  assert.equal(timing, { voiceToVoiceMs: 700, paused: false, repliedIntoPause: false });
});

test('no frame after the answer: no voice-to-voice', () => {
  assert.is(accountAnswer([piece(1000, 1400)], frames(0, 900)).voiceToVoiceMs, null);
});

test('a paused answer the bot waited out: measured from the end of the last piece', () => {
  const timing = accountAnswer([piece(1000, 1800), piece(3000, 3900)], frames(4500, 5000));
  assert.equal(timing, { voiceToVoiceMs: 600, paused: true, repliedIntoPause: false });
});

test('bot audio in the pause is a reply into the pause', () => {
  const timing = accountAnswer([piece(1000, 1800), piece(3000, 3900)], [...frames(2600, 3200), ...frames(4500, 5000)]);
  assert.ok(timing.repliedIntoPause);
  assert.is(timing.voiceToVoiceMs, 600, 'still measured from the end of the whole answer');
});

test('the grace: a frame just after the caller resumed counts, one later does not', () => {
  const pieces = [piece(1000, 1800), piece(3000, 3900)];
  assert.ok(accountAnswer(pieces, [3090]).repliedIntoPause, '90 ms into the last piece');
  assert.not.ok(accountAnswer(pieces, [3150]).repliedIntoPause, '150 ms into the last piece is talking over, not into the pause');
  assert.not.ok(accountAnswer(pieces, [1800]).repliedIntoPause, 'a frame at the very end of the first piece is before the pause');
});

test('three pieces: the window spans both pauses', () => {
  const pieces = [piece(0, 800), piece(2000, 2600), piece(3600, 4800)];
  assert.ok(accountAnswer(pieces, [2700]).repliedIntoPause, 'in the second pause');
  assert.ok(accountAnswer(pieces, [1000]).repliedIntoPause, 'in the first pause');
});

test('the report groups by kind and counts pauses, replies into them, misreadings and cut answers', () => {
  const record = (kind: string, over: Partial<AnswerRecord> & { v2v?: number | null; paused?: boolean; into?: boolean }): AnswerRecord => ({
    kind, understood: over.understood ?? true, dialogTurns: over.dialogTurns ?? 1,
    timing: { voiceToVoiceMs: over.v2v === undefined ? 500 : over.v2v, paused: over.paused ?? false, repliedIntoPause: over.into ?? false },
  });
  const report = reportByKind([
    record('yes-no', { v2v: 400 }),
    record('yes-no', { v2v: 600 }),
    record('date-of-birth', { paused: true, into: true, understood: false, dialogTurns: 2, v2v: 900 }),
    record('date-of-birth', { paused: true }),
    record('date-of-birth', { v2v: null }),
  ]);
  assert.equal(Object.keys(report), ['date-of-birth', 'yes-no']);
  assert.is(report['yes-no']!.voiceToVoice.n, 2);
  assert.is(report['yes-no']!.voiceToVoice.p50, 400);
  const dob = report['date-of-birth']!;
  assert.equal(
    { answers: dob.answers, pausedAnswers: dob.pausedAnswers, repliesIntoPause: dob.repliesIntoPause, misunderstood: dob.misunderstood, splitAnswers: dob.splitAnswers, noReply: dob.noReply },
    { answers: 3, pausedAnswers: 2, repliesIntoPause: 1, misunderstood: 1, splitAnswers: 1, noReply: 1 },
  );
  assert.is(dob.voiceToVoice.n, 2);
});

test.run();
