/**
 * Endpointing over whole calls on a real WebSocket (real VAD, flite TTS, receptionist dialog), on each way
 * carevox gets words: the streaming transcript double (partials while audio arrives, a final per segment),
 * an OpenAI-style per-utterance transcription server and an OpenAI Realtime transcription server, both
 * answering 150 ms after each segment. The caller's audio is real speech, synthesized by flite in another
 * voice than the bot's; the ASR doubles look its words up by that audio (see support/transcript-double.ts).
 *
 * The demo patient calls from their own number and leaves a message: a date of birth with a 1.2 s pause
 * after the day, a message with a 1.3 s pause mid-sentence, then "yes" at the confirmation.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createOpenAiAsrEngine } from '../src/asr/index.js';
import type { AsrEngine } from '../src/asr/types.js';
import { FliteTtsEngine } from '../src/tts/flite.js';
import { answerCommit, startRealtimeServer, startTranscriptionServer } from './support/openai-asr-servers.js';
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
} as const;
type Phrase = keyof typeof PHRASES;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function synthesizeCaller(): Promise<Record<Phrase, Int16Array>> {
  const flite = await FliteTtsEngine.create({ voice: 'kal' }); // 8 kHz, not the bot's voice
  try {
    assert.equal(flite.output, { format: 'pcm16', sampleRate: 8000 });
    const out = {} as Record<Phrase, Int16Array>;
    for (const [key, text] of Object.entries(PHRASES) as [Phrase, string][]) {
      const chunks: Int16Array[] = [];
      for await (const chunk of flite.synthesize(text, new AbortController().signal)) {
        if (chunk.format === 'pcm16') chunks.push(chunk.samples);
      }
      const joined = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const c of chunks) { joined.set(c, at); at += c.length; }
      out[key] = trimSilence(joined); // so each pause in the script is the true gap between words
    }
    return out;
  } finally {
    await flite.close();
  }
}

/** The speech inside synthesized audio: flite leaves 100-350 ms of silence around an utterance. */
function trimSilence(samples: Int16Array): Int16Array {
  const loud = (v: number) => Math.abs(v) > 500;
  const first = samples.findIndex(loud);
  let last = samples.length - 1;
  while (last > first && !loud(samples[last]!)) last--;
  if (first < 0) return samples;
  return samples.slice(Math.max(0, first - 80), Math.min(samples.length, last + 81)); // 10 ms either side
}

type AsrPath = 'streaming' | 'per-utterance' | 'realtime';

interface Ctx { audio: Record<Phrase, Int16Array>; double: TranscriptDouble }
const ctx = {} as Ctx;

/** The words an utterance's audio stands for (the double's lookup), for the OpenAI doubles. */
function wordsOf(audio: Int16Array): string {
  const match = ctx.double.identify(audio);
  return match ? Object.values(PHRASES)[match.entry]! : '';
}

async function engineFor(path: AsrPath): Promise<{ asr: AsrEngine; close(): Promise<void> }> {
  if (path === 'streaming') return { asr: ctx.double, close: async () => {} };
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

for (const path of ['streaming', 'per-utterance', 'realtime'] as const) {
  const call = suite<{ server: TestServer; closeAsr(): Promise<void> }>(`endpointing (${path})`, {} as never);
  call.before(async (s) => {
    if (!ctx.audio) {
      ctx.audio = await synthesizeCaller();
      ctx.double = createTranscriptDouble(Object.entries(PHRASES).map(([key, transcript]) => ({ audio: ctx.audio[key as Phrase], transcript })));
    }
    const { asr, close } = await engineFor(path);
    s.closeAsr = close;
    s.server = await startTestServer({}, { engines: { asr } });
  });
  call.after(async (s) => { await s.server.close(); await s.closeAsr(); });

  call('a paused date of birth and a paused message are each one turn, with no bot audio in the pauses', async ({ server }) => {
    const caller = await TwilioCaller.dial({ baseUrl: server.baseUrl, from: DEMO_PATIENT_NUMBER });
    await caller.waitFor('greeting audio', () => caller.mediaCount() > 25);
    await caller.waitForBotQuiet();
    let from = caller.received.length;
    await caller.say(ctx.audio.request);
    await caller.waitFor('the date-of-birth question', () => caller.mediaCount(from) > 25, 10_000);
    await caller.waitForBotQuiet();

    const dobPause = await sayWithPause(caller, ctx.audio.day, 1200, ctx.audio.year);
    from = caller.received.length;
    await caller.waitFor('the message question', () => caller.mediaCount(from) > 25, 10_000);
    assert.is(botAudioBetween(caller, dobPause.from, dobPause.to), 0, 'no bot audio while the caller recalls the year');
    await caller.waitForBotQuiet();

    const messagePause = await sayWithPause(caller, ctx.audio.messageStart, 1300, ctx.audio.messageEnd);
    from = caller.received.length;
    await caller.waitFor('the confirmation question', () => caller.mediaCount(from) > 25, 10_000);
    assert.is(botAudioBetween(caller, messagePause.from, messagePause.to), 0, 'no bot audio in the pause mid-message');
    await caller.waitForBotQuiet();

    from = caller.received.length;
    await caller.say(ctx.audio.yes);
    await caller.waitFor('the message sent', () => caller.mediaCount(from) > 25, 10_000);
    await caller.waitForBotQuiet();
    const record = await server.hangUp(caller);
    assert.ok(record.botSentences.some((s) => /message has been sent/i.test(s.text)), 'the message was sent');

    const turns = (await server.services.store.turns.list(caller.callSid)).filter((t) => t.speaker === 'caller').map((t) => t.text);
    assert.equal(turns, [
      PHRASES.request, `${PHRASES.day} ${PHRASES.year}`, `${PHRASES.messageStart} ${PHRASES.messageEnd}`, PHRASES.yes,
    ], 'each answer reached the dialog as one utterance');
  });
  call.run();
}
