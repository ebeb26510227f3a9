/**
 * The turn-taking benchmark's arithmetic, kept pure so it can be checked without a server: what one scripted
 * answer measured (voice-to-voice, whether the bot spoke into one of its pauses), and the per-kind report.
 * All times are the caller's clock (performance.now() ms in the bench process).
 */
import { summarize, type Summary } from './stats.js';

/** One piece of an answer as the caller said it: its first and last voiced sample went out at these times. */
export interface SpokenPiece { voicedStartAt: number; voicedEndAt: number }

export interface AnswerTiming {
  /** Last voiced sample of the whole answer -> first bot media frame received after it; null: no reply came. */
  voiceToVoiceMs: number | null;
  /** Said in more than one piece, with silence between. */
  paused: boolean;
  /** Bot audio reached the caller after the first piece ended and before the last began (+ grace). */
  repliedIntoPause: boolean;
}

/** How long after the last piece's first voiced sample bot audio still counts as "into the pause": a frame
 *  already on its way when the caller resumed is the bot speaking over them all the same. */
export const PAUSE_GRACE_MS = 100;

/** What one answer measured, from its pieces and the arrival times of the bot media frames around it. */
export function accountAnswer(pieces: readonly SpokenPiece[], mediaAt: readonly number[], graceMs = PAUSE_GRACE_MS): AnswerTiming {
  if (pieces.length === 0) throw new Error('an answer has at least one piece');
  const first = pieces[0]!;
  const last = pieces[pieces.length - 1]!;
  const paused = pieces.length > 1;
  const reply = mediaAt.filter((at) => at > last.voicedEndAt).reduce((a, b) => Math.min(a, b), Infinity);
  return {
    voiceToVoiceMs: Number.isFinite(reply) ? reply - last.voicedEndAt : null,
    paused,
    repliedIntoPause: paused && mediaAt.some((at) => at > first.voicedEndAt && at < last.voicedStartAt + graceMs),
  };
}

/** One scripted answer, with what the dialog made of it. */
export interface AnswerRecord {
  /** The expectation kind of the question it answered (yes-no, date-of-birth, ...). */
  kind: string;
  timing: AnswerTiming;
  /** The dialog went on to the script's next question (or ended the call as the script's last answer should). */
  understood: boolean;
  /** Caller turns (utterance inputs) the dialog got for this answer: more than one means it was cut. */
  dialogTurns: number;
}

export interface KindReport {
  voiceToVoice: Summary;
  answers: number;
  pausedAnswers: number;
  repliesIntoPause: number;
  /** Answers after which the dialog did not go on to the script's next question. */
  misunderstood: number;
  /** Answers that reached the dialog as more than one turn. */
  splitAnswers: number;
  /** Answers no bot audio followed (the call ended or stalled). */
  noReply: number;
}

/** Groups answers by the kind of question they answered, kinds in alphabetical order. */
export function reportByKind(records: readonly AnswerRecord[]): Record<string, KindReport> {
  const kinds = [...new Set(records.map((r) => r.kind))].sort();
  return Object.fromEntries(kinds.map((kind) => {
    const of = records.filter((r) => r.kind === kind);
    const voiceToVoice = of.map((r) => r.timing.voiceToVoiceMs).filter((ms): ms is number => ms !== null);
    return [kind, {
      voiceToVoice: summarize(voiceToVoice),
      answers: of.length,
      pausedAnswers: of.filter((r) => r.timing.paused).length,
      repliesIntoPause: of.filter((r) => r.timing.repliedIntoPause).length,
      misunderstood: of.filter((r) => !r.understood).length,
      splitAnswers: of.filter((r) => r.dialogTurns > 1).length,
      noReply: of.length - voiceToVoice.length,
    } satisfies KindReport];
  }));
}
