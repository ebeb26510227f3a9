/**
 * Turn-taking benchmark: `npm run bench:turns -- --calls N --rounds R [--asr-delay-ms N] [--json FILE]
 * [--modes expectation,fixed] [--seed S] [--verbose]`.
 *
 * Runs the same scripted calls against the real server (bench/server.ts, in its own process) once per
 * endpointing mode (`expectation`: the wait depends on the question and the words so far; `fixed`: the VAD's
 * 640 ms rule), N concurrent callers making R calls each. The callers are simulated Twilio lines
 * (test/support/twilio-caller.ts) speaking real synthesized speech (test/support/caller-speech.ts) with pauses
 * where people make them: a date of birth recited in pieces, a message with a pause mid-sentence, a drug name
 * recalled after "a refill of my" (bench/turns-script.ts). The server's transcript double knows the same phrases.
 *
 * Measured per answer and grouped by the expectation kind of the question it answered (bench/turns-accounting.ts):
 * voice-to-voice (the caller's last voiced sample of the whole answer -> the first bot audio frame after it), bot
 * audio that reached the caller inside one of the answer's pauses, and whether the dialog went on to the script's
 * next question. Which question the dialog asked, and how many turns it got, come from the bench server's log
 * (node and kind only). A call the dialog derailed is listed with the reason; the caller then answers the question
 * asked again once, in one breath (not measured), so the rest of the call is still measured.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/index.js';
import { vadSegmentSilenceMs } from '../src/pipeline/endpointing.js';
import { SPEECH_MARGIN_SAMPLES } from '../test/support/caller-speech.js';
import { TwilioCaller } from '../test/support/twilio-caller.js';
import { freePort } from '../test/support/ports.js';
import { positiveInt, wholeNumber } from './cli.js';
import { accountAnswer, reportByKind, type AnswerRecord, type KindReport, type SpokenPiece } from './turns-accounting.js';
import {
  DEMO_PATIENT_NUMBER, digestPhrases, scriptFor, synthesizeTurnsPhrases, type CallScript, type PhraseAudio, type PhraseKey, type ScriptStep,
} from './turns-script.js';

const MODES = ['expectation', 'fixed'] as const;
type Mode = (typeof MODES)[number];

const { values: args } = parseArgs({
  options: {
    calls: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '2' },
    // The transcript double's final comes this long after each segment, as a real engine's would.
    'asr-delay-ms': { type: 'string', default: '150' },
    json: { type: 'string', default: 'bench/out/turns.json' },
    modes: { type: 'string', default: MODES.join(',') },
    seed: { type: 'string', default: '1' },
    // Each answer's timeline on stderr (pieces, bot audio, what the dialog logged), relative to its first word.
    verbose: { type: 'boolean', default: false },
  },
});
const options = {
  calls: positiveInt('calls', args.calls!),
  rounds: positiveInt('rounds', args.rounds!),
  asrDelayMs: wholeNumber('asr-delay-ms', args['asr-delay-ms']!),
  seed: wholeNumber('seed', args.seed!),
  modes: parseModes(args.modes!),
  json: args.json!,
  verbose: args.verbose!,
};

/** No reply this long after an answer means the call is stuck (the longest hold is 2 s, turns cap at 20 s). */
const REPLY_TIMEOUT_MS = 25_000;
/** The longest reply, three offers read out after "that time was just taken", runs about 20 s. */
const REPLY_PLAYING_TIMEOUT_MS = 60_000;
/** The greeting is long (emergency notice, the menu) and, under load, slow to start. */
const GREETING_TIMEOUT_MS = 60_000;
/** No bot audio for this long, nothing buffered: the bot has finished and the caller answers. Longer than a gap
 *  between two sentences of one reply on a loaded machine, so the caller does not cut the bot off. */
const BOT_QUIET_MS = 700;

// ---- what the server says about each call ---------------------------------------------------------------

type ServerEvent =
  | { type: 'question'; node: string; kind: string; at: number }
  /** `tentative`: handed over while the caller may still go on (withdrawn inputs are removed, see `withdraw`). */
  | { type: 'input'; input: string; seq: number; tentative: boolean; at: number }
  | { type: 'transfer'; reason: string; at: number }
  | { type: 'ended'; outcome: string; at: number };

/** One call's events from the bench server's log, in log order, stamped with when this process read them. */
class CallEvents {
  readonly events: ServerEvent[] = [];
  get outcome(): string | undefined { return this.find('ended')?.outcome; }
  /** The last transfer the dialog logged (withdrawn tentative turns may log one that never happened). */
  get transferReason(): string | undefined { return this.events.filter((e) => e.type === 'transfer').at(-1)?.reason; }
  /**
   * The caller went on after a tentative turn: the dialog undid it (the merged turn comes next), so the bench
   * forgets its input and the question it asked, which the session has taken back.
   */
  withdraw(seq: number): void {
    const at = this.events.findIndex((e) => e.type === 'input' && e.seq === seq);
    if (at < 0) return;
    let end = at + 1;
    while (end < this.events.length && this.events[end]!.type === 'question') end++;
    this.events.splice(at, end - at);
  }
  lastQuestion(): Extract<ServerEvent, { type: 'question' }> | undefined {
    return this.events.filter((e): e is Extract<ServerEvent, { type: 'question' }> => e.type === 'question').at(-1);
  }
  private find<T extends ServerEvent['type']>(type: T): Extract<ServerEvent, { type: T }> | undefined {
    return this.events.find((e): e is Extract<ServerEvent, { type: T }> => e.type === type);
  }
}

interface RunningServer {
  baseUrl: string;
  child: ChildProcess;
  digest: string;
  callEvents(callId: string): CallEvents;
  stageErrors(): number;
  stop(): Promise<void>;
}

interface LogLine {
  msg?: string; callId?: string; node?: string; kind?: string; input?: string; seq?: number; tentative?: boolean; reason?: string; outcome?: string;
  digest?: string; stageErrors?: number;
}

async function startServer(mode: Mode, dataDir: string): Promise<RunningServer> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/server.ts'], {
    env: {
      ...process.env, ENDPOINTING_MODE: mode, BENCH_UTTERANCES: 'turns', BENCH_ASR_DELAY_MS: String(options.asrDelayMs),
      // The phrases exist only for the transcript double; a fresh store per run, so runs do not see each other's bookings.
      ASR_ENGINE: 'none', DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const calls = new Map<string, CallEvents>();
  const callEvents = (callId: string) => {
    let events = calls.get(callId);
    if (!events) calls.set(callId, (events = new CallEvents()));
    return events;
  };
  let stageErrors = 0;
  let digest = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (text) => {
      let line: LogLine;
      try { line = JSON.parse(text) as LogLine; } catch { return; }
      const at = performance.now();
      const events = line.callId ? callEvents(line.callId) : undefined;
      switch (line.msg) {
        case 'bench server ready': return resolve();
        case 'bench utterances': digest = line.digest ?? ''; return;
        case 'bench question': events?.events.push({ type: 'question', node: line.node!, kind: line.kind!, at }); return;
        case 'bench dialog input': events?.events.push({ type: 'input', input: line.input!, seq: line.seq!, tentative: line.tentative === true, at }); return;
        case 'bench dialog input withdrawn': events?.withdraw(line.seq!); return;
        case 'dialog transfer': events?.events.push({ type: 'transfer', reason: line.reason ?? 'unknown', at }); return;
        case 'call summary':
          stageErrors += line.stageErrors ?? 0;
          events?.events.push({ type: 'ended', outcome: line.outcome ?? 'unknown', at });
          return;
        default:
      }
    });
  });
  await ready;
  return {
    baseUrl: `http://127.0.0.1:${port}`, child, digest, callEvents, stageErrors: () => stageErrors,
    stop: () => new Promise((resolve) => { child.removeAllListeners('exit'); child.once('exit', () => resolve()); child.kill('SIGTERM'); }),
  };
}

// ---- one scripted call ---------------------------------------------------------------------------------

interface CallResult {
  caller: number;
  round: number;
  flow: CallScript['flow'];
  answers: AnswerRecord[];
  /** Why the call did not follow its script (empty: it did). */
  failures: string[];
  /** The server's outcome for the call (completed, transfer, ...). */
  outcome: string | undefined;
  error?: string;
}

/** Says an answer's pieces with its pauses; when each piece's first and last voiced sample went out. */
async function speak(line: TwilioCaller, audio: PhraseAudio, pieces: readonly PhraseKey[], gapsMs: readonly number[]): Promise<SpokenPiece[]> {
  const margin = SPEECH_MARGIN_SAMPLES / 8;
  const spoken: SpokenPiece[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const samples = audio[pieces[i]!];
    const { startedAt } = await line.say(samples);
    const piece = { voicedStartAt: startedAt + margin, voicedEndAt: startedAt + samples.length / 8 - margin };
    spoken.push(piece);
    // The gap is the silence between the words: the next piece's speech starts gapsMs after this one's ended.
    if (i < gapsMs.length) await sleep(piece.voicedEndAt + gapsMs[i]! - margin - performance.now());
  }
  return spoken;
}

/**
 * "pieces 0-1339,2580-3822 bot 4284..8765 events utterance@4262 id-dob?@4265": ms from the answer's first word
 * (`utterance~`: a tentative turn the dialog kept).
 */
function timeline(pieces: readonly SpokenPiece[], mediaAt: readonly number[], events: readonly ServerEvent[]): string {
  const t0 = pieces[0]!.voicedStartAt;
  const ms = (t: number) => Math.round(t - t0);
  const runs: string[] = [];
  for (let i = 0; i < mediaAt.length; i++) {
    let j = i;
    while (j + 1 < mediaAt.length && mediaAt[j + 1]! - mediaAt[j]! < 100) j++;
    runs.push(`${ms(mediaAt[i]!)}..${ms(mediaAt[j]!)}`);
    i = j;
  }
  const said = events.map((e) => `${e.type === 'question' ? `${e.node}?` : e.type === 'input' ? `${e.input}${e.tentative ? '~' : ''}` : e.type}@${ms(e.at)}`);
  return `pieces ${pieces.map((p) => `${ms(p.voicedStartAt)}-${ms(p.voicedEndAt)}`).join(',')} bot ${runs.join(' ') || 'none'} events ${said.join(' ')}`;
}

function botQuiet(line: TwilioCaller): boolean {
  if (!line.isOpen) return true;
  const last = line.received.at(-1);
  return last !== undefined && line.bufferedMs === 0 && performance.now() - last.at > BOT_QUIET_MS;
}

/**
 * Waits until the dialog has answered the caller's last words and the bot has finished saying it (or the call
 * ended): the dialog got a turn after `lastEndAt`, asked its next question, and the reply's audio began after
 * that turn and has stopped. Earlier turns of a cut answer, and their replies, do not count.
 */
async function waitForReply(line: TwilioCaller, events: CallEvents, from: number, lastEndAt: number): Promise<void> {
  let heardAt = Infinity;
  await line.waitFor('the dialog to answer', () => {
    if (!line.isOpen || events.outcome !== undefined) return true;
    const since = events.events.slice(from);
    const heard = since.findIndex((e) => e.type === 'input' && e.input === 'utterance' && e.at >= lastEndAt);
    if (heard < 0 || !since.slice(heard + 1).some((e) => e.type === 'question')) return false;
    heardAt = since[heard]!.at;
    return true;
  }, REPLY_TIMEOUT_MS);
  // The question is logged as the reply is handed to TTS, before its audio: wait for the audio to start.
  await line.waitFor('the reply audio', () => !line.isOpen || lastMediaAt(line) > heardAt, REPLY_TIMEOUT_MS);
  await line.waitFor('the bot to finish its reply', () => botQuiet(line), REPLY_PLAYING_TIMEOUT_MS);
}

function lastMediaAt(line: TwilioCaller): number {
  for (let i = line.received.length - 1; i >= 0; i--) if (line.received[i]!.kind === 'media') return line.received[i]!.at;
  return -Infinity;
}

/**
 * Says one scripted answer and waits for the reply: what it measured, the questions the dialog asked after it,
 * and the error if no reply came (the answer is still counted: a stall is a result too).
 */
async function answerStep(line: TwilioCaller, events: CallEvents, audio: PhraseAudio, step: ScriptStep, label: string): Promise<{ record: AnswerRecord; asked: string[]; error?: Error }> {
  const fromEvent = events.events.length;
  const fromReceived = line.received.length;
  const pieces = await speak(line, audio, step.pieces, step.gapsMs);
  const error = await waitForReply(line, events, fromEvent, pieces.at(-1)!.voicedEndAt).then(() => undefined, (err: unknown) => err as Error);
  const mediaAt = line.received.slice(fromReceived).filter((e) => e.kind === 'media').map((e) => e.at);
  const since = events.events.slice(fromEvent);
  const asked = since.flatMap((e) => (e.type === 'question' ? [e.node] : []));
  const dialogTurns = since.filter((e) => e.type === 'input' && e.input === 'utterance').length;
  if (options.verbose) console.error(`bench:turns: ${label} ${step.node} ${timeline(pieces, mediaAt, since)}`);
  return { record: { kind: step.kind, timing: accountAnswer(pieces, mediaAt), understood: false, dialogTurns }, asked, error };
}

async function runCall(baseUrl: string, server: RunningServer, audio: PhraseAudio, caller: number, round: number): Promise<CallResult> {
  const script = scriptFor(options.seed, caller, round, options.calls);
  const result: CallResult = { caller, round, flow: script.flow, answers: [], failures: [], outcome: undefined };
  const line = await TwilioCaller.dial({ baseUrl, from: DEMO_PATIENT_NUMBER });
  const events = server.callEvents(line.callSid);
  try {
    await line.waitFor('the greeting', () => events.lastQuestion() !== undefined || !line.isOpen, GREETING_TIMEOUT_MS);
    await line.waitFor('the greeting to end', () => botQuiet(line), GREETING_TIMEOUT_MS);
    await followScript(line, events, audio, script, result, `c${caller}r${round}`);
  } catch (err) {
    result.error = (err as Error).message;
    result.failures.push(`error: ${result.error}`);
  } finally {
    await line.hangUp().catch(() => undefined);
    // The summary line (with the outcome) is written as the server tears the call down.
    await line.waitFor('the call summary', () => events.outcome !== undefined, 5000).catch(() => undefined);
    result.outcome = events.outcome;
    // The outcome, not the dialog's "transfer" log line: a withdrawn tentative turn may log one and be undone.
    if (result.outcome === 'transfer') result.failures.push(`the bot transferred the call (${events.transferReason ?? 'reason not logged'})`);
  }
  return result;
}

/**
 * Where the question the bot asks is in the script: the next step that asks it, or else an earlier one (the bot
 * went back, e.g. to the offers when the chosen slot was taken meanwhile); -1 if the script never answers it.
 */
function stepAsked(script: CallScript, node: string | undefined, from: number): number {
  const ahead = script.steps.findIndex((s, k) => k >= from && s.node === node);
  if (ahead >= 0) return ahead;
  for (let k = from - 1; k >= 0; k--) if (script.steps[k]!.node === node) return k;
  return -1;
}

/**
 * Answers whatever the bot asks, in script order: each step once as scripted (measured), and once more in one
 * breath if the bot asks the same question again. A question the script does not answer ends the call.
 */
async function followScript(line: TwilioCaller, events: CallEvents, audio: PhraseAudio, script: CallScript, result: CallResult, label: string): Promise<void> {
  const answered = new Set<number>();
  const retried = new Set<number>();
  let i = 0;
  while (i < script.steps.length) {
    if (!line.isOpen || events.outcome !== undefined) {
      result.failures.push(`the call ended with the script at ${script.steps[i]!.node}`);
      return;
    }
    const asked = events.lastQuestion()?.node;
    const at = stepAsked(script, asked, i);
    if (at < 0) {
      result.failures.push(`the bot asked ${asked ?? 'nothing'}, which the script does not answer`);
      return;
    }
    i = at;
    const step = script.steps[i]!;
    if (answered.has(i)) {
      // Asked again: a person repeats the answer, whole. Not measured: it is not the scripted answer.
      if (retried.has(i)) { result.failures.push(`${step.node} asked again after the caller repeated the answer in one breath`); return; }
      retried.add(i);
      const from = events.events.length;
      const [piece] = await speak(line, audio, [step.retry], []);
      await waitForReply(line, events, from, piece!.voicedEndAt);
      continue;
    }
    answered.add(i);
    const { record, asked: after, error } = await answerStep(line, events, audio, step, label);
    const next = script.steps[i + 1]?.node;
    record.understood = !error && (next !== undefined
      ? after.length === 1 && after[0] === next
      : after.length === 0 && (!line.isOpen || events.outcome !== undefined));
    result.answers.push(record);
    if (error) throw new Error(`after the ${step.kind} answer to ${step.node}: ${error.message}`);
    if (record.understood) { i++; continue; }
    const pieces = step.pieces.length > 1 ? `${step.pieces.length} pieces, pauses ${step.gapsMs.join('/')} ms` : 'one piece';
    result.failures.push(`${step.kind} answer to ${step.node} (${pieces}): the dialog got ${record.dialogTurns} turn(s) and asked `
      + `${after.join(' -> ') || 'nothing'}; the script expected ${next ?? 'the call to end'}`);
  }
}

async function runCaller(baseUrl: string, server: RunningServer, audio: PhraseAudio, caller: number): Promise<CallResult[]> {
  await sleep((caller * 1000) / options.calls); // stagger call arrivals over the first second
  const results: CallResult[] = [];
  for (let round = 0; round < options.rounds; round++) {
    results.push(await runCall(baseUrl, server, audio, caller, round).catch((err: unknown): CallResult => ({
      caller, round, flow: scriptFor(options.seed, caller, round, options.calls).flow, answers: [], outcome: undefined,
      error: (err as Error).message, failures: [`error: ${(err as Error).message}`],
    })));
  }
  return results;
}

// ---- one mode, then the report ------------------------------------------------------------------------

interface ModeReport {
  endpointing: Mode;
  /** The silences the server ran with (ms), as its config reads them. */
  config: { vadEndSilenceMs: number; segmentSilenceMs: number; completeSilenceMs: number; incompleteSilenceMs: number; freeTextSilenceMs: number };
  byKind: Record<string, KindReport>;
  calls: number;
  completedCalls: number;
  failedCalls: Array<{ caller: number; round: number; flow: string; outcome: string | null; reasons: string[] }>;
  errors: string[];
  serverStageErrors: number;
  durationS: number;
}

async function runMode(mode: Mode, audio: PhraseAudio, digest: string): Promise<ModeReport> {
  const dataDir = mkdtempSync(join(tmpdir(), 'carevox-bench-turns-'));
  const server = await startServer(mode, dataDir);
  const started = performance.now();
  try {
    if (server.digest !== digest) {
      throw new Error(`the bench server's phrase audio differs from the callers' (${server.digest || 'none'} vs ${digest}): its transcript double would not know them`);
    }
    console.error(`bench:turns: ${mode}: ${options.calls} callers x ${options.rounds} calls against ${server.baseUrl}`);
    const results = (await Promise.all(Array.from({ length: options.calls }, (_, c) => runCaller(server.baseUrl, server, audio, c)))).flat();
    await sleep(500); // the last summary lines
    const failed = results.filter((r) => r.failures.length > 0 || r.outcome !== 'completed');
    const config = loadConfig({ ...process.env, ENDPOINTING_MODE: mode });
    return {
      endpointing: mode,
      config: {
        vadEndSilenceMs: config.vad.endSilenceMs, segmentSilenceMs: vadSegmentSilenceMs(config), completeSilenceMs: config.endpointing.completeSilenceMs,
        incompleteSilenceMs: config.endpointing.incompleteSilenceMs, freeTextSilenceMs: config.endpointing.freeTextSilenceMs,
      },
      byKind: reportByKind(results.flatMap((r) => r.answers)),
      calls: results.length,
      completedCalls: results.length - failed.length,
      failedCalls: failed.map((r) => ({
        caller: r.caller, round: r.round, flow: r.flow, outcome: r.outcome ?? null,
        reasons: r.failures.length > 0 ? r.failures : [`the call ended with outcome ${r.outcome ?? 'unknown'}`],
      })),
      errors: results.flatMap((r) => (r.error ? [`call ${r.caller} round ${r.round}: ${r.error}`] : [])),
      serverStageErrors: server.stageErrors(),
      durationS: Math.round((performance.now() - started) / 100) / 10,
    };
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** One row per kind and mode: voice-to-voice (ms) and the pause accounting, then the calls that derailed. */
function printTable(modes: Partial<Record<Mode, ModeReport>>): void {
  const ran = options.modes.filter((m) => modes[m]);
  const kinds = [...new Set(ran.flatMap((m) => Object.keys(modes[m]!.byKind)))].sort();
  const ms = (v: number | null) => (v === null ? '-' : String(Math.round(v)));
  const row = (cells: Array<string | number>, widths: number[]) => cells.map((c, i) => (i < 2 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join(' ');
  const widths = [14, 12, 4, 6, 6, 6, 7, 11, 14, 6];
  console.log(row(['kind', 'mode', 'n', 'p50', 'p95', 'p99', 'paused', 'into-pause', 'misunderstood', 'split'], widths));
  for (const kind of kinds) {
    for (const [i, m] of ran.entries()) {
      const k = modes[m]!.byKind[kind];
      if (!k) continue;
      const v = k.voiceToVoice;
      console.log(row([i === 0 ? kind : '', m, v.n, ms(v.p50), ms(v.p95), ms(v.p99), k.pausedAnswers, k.repliesIntoPause, k.misunderstood, k.splitAnswers], widths));
    }
  }
  for (const m of ran) {
    const r = modes[m]!;
    console.log(`${m}: ${r.completedCalls}/${r.calls} calls followed their script, ${r.failedCalls.length} did not, ${r.errors.length} errors, ${r.durationS} s`);
  }
}

async function main(): Promise<void> {
  const audio = await synthesizeTurnsPhrases();
  const digest = digestPhrases(audio);
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version, loadAverage1m: Math.round(loadavg()[0]! * 100) / 100 };
  const modes: Partial<Record<Mode, ModeReport>> = {};
  for (const mode of options.modes) modes[mode] = await runMode(mode, audio, digest);
  const report = { options: { ...options, phrasesDigest: digest }, machine, modes };
  mkdirSync(dirname(options.json), { recursive: true });
  writeFileSync(options.json, JSON.stringify(report, null, 2) + '\n');
  printTable(modes);
  console.error(`bench:turns: wrote ${options.json}`);
}

// ---- small things ---------------------------------------------------------------------------------------

function parseModes(value: string): Mode[] {
  const modes = value.split(',').map((m) => m.trim()).filter(Boolean);
  const unknown = modes.filter((m) => !(MODES as readonly string[]).includes(m));
  if (modes.length === 0 || unknown.length > 0) throw new Error(`--modes takes ${MODES.join(',')} (any of them), got "${value}"`);
  return [...new Set(modes)] as Mode[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

main().catch((err: unknown) => { console.error(`bench:turns: ${(err as Error).stack ?? String(err)}`); process.exitCode = 1; });
