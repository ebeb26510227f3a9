/**
 * Endpointing over whole calls on a real WebSocket (real VAD, flite TTS, receptionist dialog), on each way
 * carevox gets words: the streaming transcript double (partials while audio arrives, a final per segment),
 * an OpenAI-style per-utterance transcription server and an OpenAI Realtime transcription server, both
 * answering 150 ms after each segment. The caller's audio is real speech, synthesized by flite in another
 * voice than the bot's; the ASR doubles look its words up by that audio (see support/transcript-double.ts).
 *
 * The demo patient calls from their own number and leaves a message: a date of birth with a 1.2 s pause
 * after the day, a message with a 1.3 s pause mid-sentence, then "yes" at the confirmation, answered faster
 * than the fixed rule ever could. And a caller who goes on right after a complete-sounding request hears
 * nothing of the reply prepared for it. Each scenario runs its three paths at once (three calls in parallel).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createOpenAiAsrEngine } from '../src/asr/index.js';
import type { AsrEngine } from '../src/asr/types.js';
import { synthesizeCallerPhrases } from './support/caller-speech.js';
import { answerCommit, startRealtimeServer, startTranscriptionServer } from './support/openai-asr-servers.js';
import { loadConfig } from '../src/config/index.js';
import { startTestServer, type TestServer } from './support/server.js';
import { TwilioCaller } from './support/twilio-caller.js';
import { createTranscriptDouble, type TranscriptDouble } from './support/transcript-double.js';

const DEMO_PATIENT_NUMBER = '+15555550123';
const ENGINE_DELAY_MS = 150;
const PHRASES = {
  request: 'i would like to leave a message',
  day: 'january fifteenth',
  year: 'nineteen eighty five',
  messageStart: 'please ask the doctor to call me',
  messageEnd: 'about my blood test results',
  yes: 'yes',
  addition: 'for doctor patel',
} as const;
type Phrase = keyof typeof PHRASES;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type AsrPath = 'streaming' | 'per-utterance' | 'realtime';
const PATHS: readonly AsrPath[] = ['streaming', 'per-utterance', 'realtime'];

interface Ctx { audio: Record<Phrase, Int16Array>; double: TranscriptDouble }
const ctx = {} as Ctx;

/** The words an utterance's audio stands for (the double's lookup), for the OpenAI doubles. */
function wordsOf(audio: Int16Array): string {
  const match = ctx.double.identify(audio);
  return match ? Object.values(PHRASES)[match.entry]! : '';
}

async function engineFor(path: AsrPath): Promise<{ asr: AsrEngine; close(): Promise<void> }> {
  if (path === 'streaming') {
    // Word-timed partials trailing the audio by the engine delay, and the final as late.
    const streaming = createTranscriptDouble(entries(), { partialDelayMs: ENGINE_DELAY_MS, finalDelayMs: ENGINE_DELAY_MS });
    return { asr: streaming, close: async () => {} };
  }
  if (path === 'per-utterance') {
    const http = await startTranscriptionServer(async (req) => { await sleep(ENGINE_DELAY_MS); return { text: wordsOf(req.samples) }; });
    const asr = createOpenAiAsrEngine({ apiKey: 'sk-test', baseUrl: http.baseUrl, model: 'whisper-1', mode: 'per-utterance', timeoutMs: 5000 });
    return { asr, close: () => http.close() };
  }
  const realtime = await startRealtimeServer({
    onCommit(session, audio, itemId) { setTimeout(() => answerCommit(session, itemId, wordsOf(audio)), ENGINE_DELAY_MS); },
  });
  const asr = createOpenAiAsrEngine({ apiKey: 'sk-test', baseUrl: realtime.baseUrl, model: 'gpt-4o-mini-transcribe', mode: 'realtime', timeoutMs: 5000 });
  return { asr, close: () => realtime.close() };
}

const entries = () => Object.entries(PHRASES).map(([key, transcript]) => ({ audio: ctx.audio[key as Phrase], transcript }));

/** Bot media frames that reached the caller between two moments (performance.now() ms). */
function botAudioBetween(caller: TwilioCaller, from: number, to: number): number {
  return caller.received.filter((e) => e.kind === 'media' && e.at > from && e.at < to).length;
}

/** Says `first`, pauses `pauseMs`, says `second`; returns the window in which the bot must stay silent. */
async function sayWithPause(caller: TwilioCaller, first: Int16Array, pauseMs: number, second: Int16Array): Promise<{ from: number; to: number }> {
  const { startedAt } = await caller.say(first);
  const firstEnds = startedAt + first.length / 8;
  await sleep(Math.max(0, firstEnds + pauseMs - performance.now()));
  const secondStarts = performance.now();
  await caller.say(second);
  return { from: firstEnds, to: secondStarts + 100 };
}

/** A server per path, each with its ASR engine; `run` drives one call on every path at once. */
async function onEveryPath(config: Parameters<typeof startTestServer>[0], scenario: (server: TestServer, path: AsrPath) => Promise<void>): Promise<void> {
  if (!ctx.audio) {
    ctx.audio = await synthesizeCallerPhrases(PHRASES); // flite kal, trimmed: each pause is the true gap
    ctx.double = createTranscriptDouble(entries());
  }
  const setups = await Promise.all(PATHS.map(async (path) => {
    const { asr, close } = await engineFor(path);
    const server = await startTestServer(config, { engines: { asr } });
    return { path, server, close };
  }));
  try {
    const outcomes = await Promise.allSettled(setups.map(({ server, path }) => scenario(server, path)));
    const failures = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [`[${PATHS[i]}] ${(o.reason as Error).message}`] : []));
    if (failures.length > 0) assert.unreachable(failures.join('\n'));
  } finally {
    await Promise.all(setups.map(async ({ server, close }) => { await server.close(); await close(); }));
  }
}

async function dialDemoPatient(server: TestServer): Promise<TwilioCaller> {
  const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl, from: DEMO_PATIENT_NUMBER });
  await caller.waitFor('greeting audio', () => caller.mediaCount() > 25);
  await caller.waitForBotQuiet();
  return caller;
}

const callerTurns = async (server: TestServer, caller: TwilioCaller) =>
  (await server.services.store.turns.list(caller.callSid)).filter((t) => t.speaker === 'caller').map((t) => t.text);

const test = suite('endpointing over whole calls (streaming partials, per-utterance, realtime)');

test('a paused date of birth and a paused message are each one turn with no bot audio in the pauses; "yes" is answered fast', () => onEveryPath({}, async (server, path) => {
  const caller = await dialDemoPatient(server);
  let from = caller.received.length;
  await caller.say(ctx.audio.request);
  await caller.waitFor('the date-of-birth question', () => caller.mediaCount(from) > 25, 10_000);
  await caller.waitForBotQuiet();

  const dobPause = await sayWithPause(caller, ctx.audio.day, 1200, ctx.audio.year);
  from = caller.received.length;
  await caller.waitFor('the message question', () => caller.mediaCount(from) > 25, 10_000);
  assert.is(botAudioBetween(caller, dobPause.from, dobPause.to), 0, `${path}: no bot audio while the caller recalls the year`);
  await caller.waitForBotQuiet();

  const messagePause = await sayWithPause(caller, ctx.audio.messageStart, 1300, ctx.audio.messageEnd);
  from = caller.received.length;
  await caller.waitFor('the confirmation question', () => caller.mediaCount(from) > 25, 10_000);
  assert.is(botAudioBetween(caller, messagePause.from, messagePause.to), 0, `${path}: no bot audio in the pause mid-message`);
  await caller.waitForBotQuiet();

  from = caller.received.length;
  const { startedAt } = await caller.say(ctx.audio.yes);
  const yesEnds = startedAt + ctx.audio.yes.length / 8;
  await caller.waitFor('the message sent', () => caller.mediaCount(from) > 25, 10_000);
  const answeredAt = caller.received.slice(from).find((e) => e.kind === 'media' && e.at > yesEnds)!.at;
  // The fixed rule cannot answer before its end-of-speech silence plus the engine's delay have passed.
  const fixedRuleEarliest = loadConfig({}).vad.endSilenceMs + ENGINE_DELAY_MS;
  assert.ok(answeredAt - yesEnds < fixedRuleEarliest, `${path}: "yes" answered in ${Math.round(answeredAt - yesEnds)} ms, sooner than the fixed rule's ${fixedRuleEarliest} ms`);
  await caller.waitForBotQuiet();
  const record = await server.hangUp(caller);
  assert.ok(record.botSentences.some((s) => /message has been sent/i.test(s.text)), `${path}: the message was sent`);
  assert.equal(await callerTurns(server, caller), [
    PHRASES.request, `${PHRASES.day} ${PHRASES.year}`, `${PHRASES.messageStart} ${PHRASES.messageEnd}`, PHRASES.yes,
  ], `${path}: each answer reached the dialog as one utterance`);
}));

// A long confirmation silence, so the reply is prepared while the caller may still go on, on every path (with
// the default 250 ms the per-utterance and realtime finals arrive after it has passed: they are never tentative).
// The caller resumes 700 ms after the request: by then every path has its words (the per-utterance final lands
// ~450 ms after the request ends, later on a loaded machine), and the turn is not confirmed before 1.2 s.
const PREPARED_AHEAD = { endpointing: { completeSilenceMs: 1200 } };
const RESUME_AFTER_MS = 700;

test('a caller who goes on right after a complete-sounding request hears nothing of the reply prepared for it', () => onEveryPath(PREPARED_AHEAD, async (server, path) => {
  const caller = await dialDemoPatient(server);
  const pause = await sayWithPause(caller, ctx.audio.request, RESUME_AFTER_MS, ctx.audio.addition);
  const from = caller.received.length;
  await caller.waitFor('the date-of-birth question', () => caller.mediaCount(from) > 25, 10_000);
  assert.is(botAudioBetween(caller, pause.from, pause.to), 0, `${path}: nothing of the prepared reply reached the caller`);
  assert.is(caller.received.filter((e) => e.kind === 'clear' && e.at > pause.from).length, 0, `${path}: nothing had to be cleared`);
  await caller.waitForBotQuiet();
  const record = await server.hangUp(caller);
  assert.ok(record.botSentences.some((s) => /date of birth/i.test(s.text)), `${path}: the merged request was understood`);
  assert.equal(await callerTurns(server, caller), [`${PHRASES.request} ${PHRASES.addition}`], `${path}: one turn, the whole request`);
  assert.ok(await metricValue(server, 'carevox_turns_withdrawn_total') >= 1, `${path}: a reply was prepared for the first words and withdrawn`);
}));

async function metricValue(server: TestServer, name: string): Promise<number> {
  const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

test.run();
