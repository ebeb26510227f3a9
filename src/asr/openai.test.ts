import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { muLawDecode, muLawEncode } from '../media/codec.js';
import {
  answerTranscript, startRealtimeServer, startTranscriptionServer, type RealtimeServerDouble, type TranscriptionServerDouble,
} from '../../test/support/openai-asr-servers.js';
import { createOpenAiAsrEngine, realtimeUrl } from './openai.js';
import type { AsrEngine, AsrEvent, AsrStream } from './types.js';

const tone = (n: number, amplitude = 5000) => Int16Array.from({ length: n }, (_, i) => Math.round(amplitude * Math.sin(i / 5)));

function collector() {
  const events: AsrEvent[] = [];
  let wake: (() => void) | null = null;
  return {
    events,
    sink: (event: AsrEvent) => { events.push(event); wake?.(); },
    /** Resolves when an event matching `pred` has arrived (or rejects after `ms`). */
    async waitFor(pred: (e: AsrEvent) => boolean, ms = 20_000): Promise<AsrEvent> {
      const deadline = Date.now() + ms;
      for (;;) {
        const found = events.find(pred);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no matching event; got ${JSON.stringify(events.map((e) => e.type))}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 25);
          wake = () => { clearTimeout(timer); resolve(); };
        });
      }
    },
  };
}
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------------
const perUtterance = suite('openai ASR, per-utterance (real openai client, local transcription server)');
let http: TranscriptionServerDouble | null = null;
let engine: AsrEngine | null = null;
let stream: AsrStream | null = null;
perUtterance.after.each(async () => {
  stream?.close();
  await engine?.close();
  await http?.close();
  stream = null; engine = null; http = null;
});

perUtterance('uploads the VAD-cut turn as an 8 kHz WAV and emits the final', async () => {
  http = await startTranscriptionServer((req) => ({ text: ` heard ${req.samples.length} samples ` }));
  engine = createOpenAiAsrEngine({ apiKey: 'sk-test', baseUrl: http.baseUrl, model: 'whisper-1', mode: 'per-utterance', timeoutMs: 2000, language: 'en' });
  assert.is(engine.available, true);
  const c = collector();
  stream = engine.createStream(c.sink);
  const utterance = tone(12000);
  stream.pushAudio(utterance.subarray(0, 160));
  stream.endUtterance(utterance);
  const final = await c.waitFor((e) => e.type === 'final');
  assert.equal(final, { type: 'final', text: 'heard 12000 samples', startMs: 0, endMs: 1500 });
  const req = http.requests[0]!;
  assert.is(req.model, 'whisper-1');
  assert.is(req.fields.language, 'en');
  assert.is(req.authorization, 'Bearer sk-test');
  assert.is(req.sampleRate, 8000);
  assert.equal(Array.from(req.samples.subarray(0, 50)), Array.from(utterance.subarray(0, 50)), 'audio survives the WAV upload');
});

for (const status of [401, 500]) {
  perUtterance(`HTTP ${status} becomes an error event`, async () => {
    http = await startTranscriptionServer(() => ({ status, body: JSON.stringify({ error: { message: 'nope', type: 'x' } }) }));
    engine = createOpenAiAsrEngine({ apiKey: 'sk-test', baseUrl: http.baseUrl, model: 'whisper-1', mode: 'per-utterance', timeoutMs: 2000 });
    const c = collector();
    stream = engine.createStream(c.sink);
    stream.endUtterance(tone(800));
    const event = await c.waitFor((e) => e.type !== 'partial');
    assert.is(event.type, 'error');
    if (event.type === 'error') assert.match(event.error.message, String(status));
    assert.is(http.requests.length, 1, 'no retries while a caller waits');
  });
}

perUtterance('a server that never answers times out into an error event', async () => {
  http = await startTranscriptionServer(() => ({ stall: true }));
  engine = createOpenAiAsrEngine({ apiKey: 'sk-test', baseUrl: http.baseUrl, model: 'whisper-1', mode: 'per-utterance', timeoutMs: 300 });
  const c = collector();
  stream = engine.createStream(c.sink);
  stream.endUtterance(tone(800));
  const event = await c.waitFor((e) => e.type !== 'partial', 20_000);
  assert.is(event.type, 'error');
  if (event.type === 'error') assert.match(event.error.message, /time/i);
});

perUtterance('garbage bodies become error events, not exceptions', async () => {
  const bodies = [
    { status: 200, body: '<html>oops</html>', contentType: 'text/html' },
    { status: 200, body: '{"text": 42}' },
    { status: 200, body: '{not json', contentType: 'application/json' },
  ];
  let i = 0;
  http = await startTranscriptionServer(() => bodies[i++]!);
  engine = createOpenAiAsrEngine({ apiKey: 'sk-test', baseUrl: http.baseUrl, model: 'whisper-1', mode: 'per-utterance', timeoutMs: 2000 });
  for (let n = 0; n < bodies.length; n++) {
    const c = collector();
    stream?.close();
    stream = engine.createStream(c.sink);
    stream.endUtterance(tone(800));
    const event = await c.waitFor((e) => e.type !== 'partial');
    assert.is(event.type, 'error', `body ${n}`);
  }
});

perUtterance('reset aborts the request in flight and drops its answer', async () => {
  let release: (() => void) | null = null;
  http = await startTranscriptionServer(() => new Promise((resolve) => { release = () => resolve({ text: 'late' }); }));
  engine = createOpenAiAsrEngine({ apiKey: 'sk-test', baseUrl: http.baseUrl, model: 'whisper-1', mode: 'per-utterance', timeoutMs: 2000 });
  const c = collector();
  stream = engine.createStream(c.sink);
  stream.endUtterance(tone(800));
  while (http.requests.length === 0) await pause(10);
  stream.reset();
  (release as (() => void) | null)?.();
  await pause(150);
  assert.equal(c.events, []);
});

perUtterance('an empty turn is an empty final without a request', async () => {
  http = await startTranscriptionServer(() => ({ text: 'should not be asked' }));
  engine = createOpenAiAsrEngine({ apiKey: 'sk-test', baseUrl: http.baseUrl, model: 'whisper-1', mode: 'per-utterance', timeoutMs: 2000 });
  const c = collector();
  stream = engine.createStream(c.sink);
  stream.endUtterance(new Int16Array(0));
  assert.equal(await c.waitFor((e) => e.type !== 'partial'), { type: 'final', text: '', startMs: 0, endMs: 0 });
  assert.is(http.requests.length, 0);
});

perUtterance('an unreachable server is an error event', async () => {
  http = await startTranscriptionServer(() => ({ text: 'x' }));
  const baseUrl = http.baseUrl;
  await http.close();
  http = null;
  engine = createOpenAiAsrEngine({ apiKey: 'sk-test', baseUrl, model: 'whisper-1', mode: 'per-utterance', timeoutMs: 1000 });
  const c = collector();
  stream = engine.createStream(c.sink);
  stream.endUtterance(tone(800));
  assert.is((await c.waitFor((e) => e.type !== 'partial')).type, 'error');
});

perUtterance.run();

// ---------------------------------------------------------------------------------------------------------
const realtime = suite('openai ASR, realtime transcription WebSocket (local server speaking the protocol)');
let rt: RealtimeServerDouble | null = null;
let rtEngine: AsrEngine | null = null;
let rtStream: AsrStream | null = null;
realtime.after.each(async () => {
  rtStream?.close();
  await rtEngine?.close();
  await rt?.close();
  rtStream = null; rtEngine = null; rt = null;
});

realtime('builds the transcription-intent URL from the base URL', () => {
  assert.is(realtimeUrl('https://api.openai.com/v1').toString(), 'wss://api.openai.com/v1/realtime?intent=transcription');
  assert.is(realtimeUrl('http://10.0.0.5:8000/v1/').toString(), 'ws://10.0.0.5:8000/v1/realtime?intent=transcription');
});

realtime('streams mu-law audio, commits at endUtterance, emits partials then the final', async () => {
  rt = await startRealtimeServer({ transcript: (audio) => `i need an appointment ${audio.length}` });
  rtEngine = createOpenAiAsrEngine({ apiKey: 'sk-rt', baseUrl: rt.baseUrl, model: 'gpt-4o-transcribe', mode: 'realtime', timeoutMs: 2000 });
  const c = collector();
  rtStream = rtEngine.createStream(c.sink);
  const audio = tone(4000);
  for (let i = 0; i < audio.length; i += 160) rtStream.pushAudio(audio.subarray(i, i + 160));
  rtStream.endUtterance(audio);
  const final = await c.waitFor((e) => e.type === 'final');
  assert.is(final.type === 'final' && final.text, 'i need an appointment 4000');
  const partials = c.events.filter((e) => e.type === 'partial').map((e) => e.type === 'partial' && e.text);
  assert.equal(partials, ['i', 'i need', 'i need an', 'i need an appointment', 'i need an appointment 4000']);
  const session = rt.sessions[0]!;
  assert.is(session.url.searchParams.get('intent'), 'transcription');
  assert.is(session.authorization, 'Bearer sk-rt');
  const update = session.events[0] as { type: string; session: { type: string; audio: { input: { format: { type: string }; transcription: { model: string }; turn_detection: null } } } };
  assert.is(update.type, 'session.update');
  assert.is(update.session.type, 'transcription');
  assert.is(update.session.audio.input.format.type, 'audio/pcmu');
  assert.is(update.session.audio.input.transcription.model, 'gpt-4o-transcribe');
  assert.is(update.session.audio.input.turn_detection, null);
  // What reached the server is the caller's audio after one mu-law trip.
  const appended = session.events.filter((e) => e.type === 'input_audio_buffer.append').length;
  assert.is(appended, 25);
});

realtime('beta protocol: transcription_session.update with g711_ulaw', async () => {
  rt = await startRealtimeServer({ transcript: () => 'yes' });
  rtEngine = createOpenAiAsrEngine({ apiKey: 'k', baseUrl: rt.baseUrl, model: 'whisper-1', mode: 'realtime', realtimeProtocol: 'beta', timeoutMs: 2000 });
  const c = collector();
  rtStream = rtEngine.createStream(c.sink);
  rtStream.pushAudio(tone(1600));
  rtStream.endUtterance(new Int16Array(0));
  await c.waitFor((e) => e.type === 'final');
  const session = rt.sessions[0]!;
  assert.is(session.betaHeader, 'realtime=v1');
  assert.equal(session.events[0], {
    type: 'transcription_session.update',
    session: { input_audio_format: 'g711_ulaw', input_audio_transcription: { model: 'whisper-1' }, turn_detection: null },
  });
});

realtime('server receives exactly the mu-law round trip of the audio', async () => {
  let received: Int16Array | null = null;
  rt = await startRealtimeServer({ transcript: (audio) => { received = audio; return 'ok'; } });
  rtEngine = createOpenAiAsrEngine({ apiKey: 'k', baseUrl: rt.baseUrl, model: 'm', mode: 'realtime', timeoutMs: 2000 });
  const c = collector();
  rtStream = rtEngine.createStream(c.sink);
  const audio = tone(800, 12000);
  rtStream.pushAudio(audio);
  rtStream.endUtterance(audio);
  await c.waitFor((e) => e.type === 'final');
  assert.equal(Array.from(received!), Array.from(muLawDecode(muLawEncode(audio))));
});

realtime('reset clears the buffer and drops a pending transcript', async () => {
  const held: Array<() => void> = [];
  rt = await startRealtimeServer({
    onCommit: (session, audio, itemId) => {
      session.send({ type: 'input_audio_buffer.committed', item_id: itemId, previous_item_id: null });
      held.push(() => answerTranscript(session, itemId, `len ${audio.length}`));
    },
  });
  rtEngine = createOpenAiAsrEngine({ apiKey: 'k', baseUrl: rt.baseUrl, model: 'm', mode: 'realtime', timeoutMs: 2000 });
  const c = collector();
  rtStream = rtEngine.createStream(c.sink);
  rtStream.pushAudio(tone(800));
  rtStream.endUtterance(new Int16Array(0));
  while (held.length === 0) await pause(10);
  rtStream.reset();
  held.shift()!();
  rtStream.pushAudio(tone(480));
  rtStream.endUtterance(new Int16Array(0));
  while (held.length === 0) await pause(10);
  held.shift()!();
  const final = await c.waitFor((e) => e.type !== 'partial');
  assert.is(final.type === 'final' && final.text, 'len 480', JSON.stringify(final.type === 'error' ? final.error.message : final));
  assert.is(c.events.filter((e) => e.type === 'final').length, 1);
  assert.ok(rt.sessions[0]!.events.some((e) => e.type === 'input_audio_buffer.clear'));
});

realtime('a turn with no audio is an empty final (server: commit_empty)', async () => {
  rt = await startRealtimeServer({ transcript: () => 'never' });
  rtEngine = createOpenAiAsrEngine({ apiKey: 'k', baseUrl: rt.baseUrl, model: 'm', mode: 'realtime', timeoutMs: 2000 });
  const c = collector();
  rtStream = rtEngine.createStream(c.sink);
  rtStream.endUtterance(new Int16Array(0));
  const event = await c.waitFor((e) => e.type !== 'partial');
  assert.equal(event, { type: 'final', text: '', startMs: 0, endMs: 0 });
});

realtime('401 on the upgrade: error event for the turn, no throw', async () => {
  rt = await startRealtimeServer({ refuseWith: 401 });
  rtEngine = createOpenAiAsrEngine({ apiKey: 'bad', baseUrl: rt.baseUrl, model: 'm', mode: 'realtime', timeoutMs: 2000 });
  const c = collector();
  rtStream = rtEngine.createStream(c.sink);
  rtStream.pushAudio(tone(160));
  await pause(100);
  rtStream.endUtterance(tone(160));
  const event = await c.waitFor((e) => e.type === 'error');
  assert.match(event.type === 'error' ? event.error.message : '', /401/);
});

realtime('a server that stalls mid-stream (deltas, then nothing) times out into an error', async () => {
  rt = await startRealtimeServer({
    onCommit: (session, _audio, itemId) => {
      session.send({ type: 'input_audio_buffer.committed', item_id: itemId, previous_item_id: null });
      session.send({ type: 'conversation.item.input_audio_transcription.delta', item_id: itemId, content_index: 0, delta: 'half' });
    },
  });
  rtEngine = createOpenAiAsrEngine({ apiKey: 'k', baseUrl: rt.baseUrl, model: 'm', mode: 'realtime', timeoutMs: 300 });
  const c = collector();
  rtStream = rtEngine.createStream(c.sink);
  rtStream.pushAudio(tone(800));
  rtStream.endUtterance(new Int16Array(0));
  const event = await c.waitFor((e) => e.type !== 'partial');
  assert.is(event.type, 'error');
  assert.ok(c.events.some((e) => e.type === 'partial' && e.text === 'half'));
});

realtime('garbage from the server and a dropped socket are error events', async () => {
  rt = await startRealtimeServer({ onCommit: (session) => session.socket.send('}}garbage{{') });
  rtEngine = createOpenAiAsrEngine({ apiKey: 'k', baseUrl: rt.baseUrl, model: 'm', mode: 'realtime', timeoutMs: 2000 });
  const c = collector();
  rtStream = rtEngine.createStream(c.sink);
  rtStream.pushAudio(tone(800));
  rtStream.endUtterance(new Int16Array(0));
  const event = await c.waitFor((e) => e.type === 'error');
  assert.match(event.type === 'error' ? event.error.message : '', /not a JSON event/);
  // The connection is now unusable: later turns are answered with an error too.
  rtStream.endUtterance(tone(160));
  await c.waitFor((e) => c.events.filter((x) => x.type === 'error').length === 2 && e.type === 'error');

  const dropper = await startRealtimeServer({ onCommit: (session) => session.socket.terminate() });
  const engine2 = createOpenAiAsrEngine({ apiKey: 'k', baseUrl: dropper.baseUrl, model: 'm', mode: 'realtime', timeoutMs: 2000 });
  const c2 = collector();
  const stream2 = engine2.createStream(c2.sink);
  stream2.pushAudio(tone(800));
  stream2.endUtterance(new Int16Array(0));
  const dropped = await c2.waitFor((e) => e.type === 'error');
  assert.match(dropped.type === 'error' ? dropped.error.message : '', /closed/);
  stream2.close();
  await dropper.close();
});

realtime('server error event while a turn waits becomes that turn\'s error', async () => {
  rt = await startRealtimeServer({
    onCommit: (session) => session.send({ type: 'error', error: { type: 'server_error', code: 'internal', message: 'boom' } }),
  });
  rtEngine = createOpenAiAsrEngine({ apiKey: 'k', baseUrl: rt.baseUrl, model: 'm', mode: 'realtime', timeoutMs: 2000 });
  const c = collector();
  rtStream = rtEngine.createStream(c.sink);
  rtStream.pushAudio(tone(800));
  rtStream.endUtterance(new Int16Array(0));
  const event = await c.waitFor((e) => e.type !== 'partial');
  assert.match(event.type === 'error' ? event.error.message : '', /boom/);
});

realtime.run();
