/**
 * A burst of keypad events on one call (issue 9, item 2), over real WebSockets against a real server: the
 * flooding call does bounded work (the per-call cap drops the excess, a key press supersedes unsaid replies,
 * rendering follows playback), and a second call's audio goes on whole and untouched. Work is counted (TTS
 * sentences handed out), never timed; the frame gap in ms is measured by bench/dtmf-flood.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultClinicConfig, describeHours, fixedPrompts } from '../src/dialog/index.js';
import { FliteTtsEngine } from '../src/tts/flite.js';
import { splitSentences } from '../src/tts/index.js';
import type { TtsAudio, TtsEngine } from '../src/tts/types.js';
import { startTestServer, type TestServer } from './support/server.js';
import { TwilioCaller } from './support/twilio-caller.js';

/** The real flite engine, counting the sentences it is asked for. */
class CountingTts implements TtsEngine {
  syntheses = 0;
  constructor(private readonly engine: FliteTtsEngine) {}
  get name() { return this.engine.name; }
  get voice() { return this.engine.voice; }
  get output() { return this.engine.output; }
  synthesize(text: string, signal: AbortSignal): AsyncIterable<TtsAudio> {
    this.syntheses++;
    return this.engine.synthesize(text, signal);
  }
  close() { return this.engine.close(); }
}

async function counter(server: TestServer, name: string, labels: Record<string, string>): Promise<number> {
  const metric = server.services.metrics.registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values.filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want)).reduce((s, v) => s + v.value, 0);
}

const flood = suite<{ server: TestServer; tts: CountingTts }>('dtmf flood', {} as never);
flood.before.each(async (ctx) => {
  ctx.tts = new CountingTts(await FliteTtsEngine.create({ voice: 'kal' }));
  // A low key rate keeps the number of keys taken small however slowly the burst is read on a busy machine.
  ctx.server = await startTestServer({ limits: { dtmfPerSecond: 5 } }, { engines: { tts: ctx.tts } });
});
flood.after.each(async (ctx) => { await ctx.server.close(); });

for (const count of [500, 5000]) {
  flood(`${count} key presses at once on one call: bounded work there, the other call's audio untouched`, async ({ server, tts }) => {
    const a = await TwilioCaller.dial({ baseUrl: server.baseUrl, from: '+15550100001' });
    const b = await TwilioCaller.dial({ baseUrl: server.baseUrl, from: '+15550100002' });
    await a.waitFor('A hears its greeting', () => a.mediaCount() > 10, 30_000);
    await b.waitFor('B hears its greeting', () => b.mediaCount() > 10, 30_000);
    const cache = server.services.engines.phraseCache!;
    // The server renders its fixed prompts in the background at start: let it finish, so only calls count.
    const clinic = defaultClinicConfig();
    const fixed = new Set(fixedPrompts(clinic.prompts, { clinic: clinic.name, hours: describeHours(clinic), address: clinic.address })
      .flatMap((text) => splitSentences(text)).map((s) => s.replace(/\s+/g, ' ').trim()));
    await a.waitFor('the fixed prompts to be rendered', () => cache.stats.entries >= fixed.size, 120_000);
    // Work TTS is handed: sentences served from the phrase cache, and sentences the engine is asked for.
    const work = () => cache.stats.hits + tts.syntheses;
    const workBefore = work();
    const aBefore = a.received.length;

    const bFrom = b.received.length;
    for (let i = 0; i < count; i++) b.pressDigit('#'); // "repeat": each one asks for the whole menu again
    // Frames on one socket are handled in order: once this sentinel is counted, every key before it was seen.
    b.sendRaw(JSON.stringify({ event: 'sentinel', streamSid: b.streamSid }));
    await b.waitFor('the server to read the burst', () => server.logs.some((l) => l.code === 'unknown-event'), 30_000);
    // B hears the menu again: a second of it, by which time all work the burst causes up front is done.
    await b.waitFor('B hears the repeated menu', () => b.mediaCount(bFrom) >= 50, 30_000);

    const burstWork = work() - workBefore;
    const bRecord = await server.hangUp(b);
    const dropped = await counter(server, 'carevox_inbound_events_dropped_total', { kind: 'dtmf' });
    assert.is(bRecord.dtmf + dropped, count, 'every key was either taken or dropped and counted');
    assert.ok(bRecord.dtmf <= 60, `${bRecord.dtmf} of ${count} keys taken: the per-call cap holds`);
    // Each key taken costs at most the start of one reply (its first sentence and the one looked ahead),
    // never the whole menu: with the cap alone this burst cost 80 sentences (10 keys x the 8-sentence menu).
    assert.ok(burstWork <= 3 * bRecord.dtmf + 5, `the burst cost ${burstWork} TTS sentences for ${bRecord.dtmf} keys taken`);
    assert.is(server.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('inbound dtmf events over')).length, 1,
      'the drop is logged once per call');

    // A, meanwhile: its greeting went on; nothing of B reached it; every sentence it was sent played whole.
    await a.waitFor('A keeps hearing its greeting', () => a.mediaCount(aBefore) > 10, 30_000);
    await a.waitFor('A hears a sentence to its end', () => a.echoedMarks.some((m) => !m.cleared), 30_000);
    const aRecord = await server.hangUp(a);
    assert.not.ok(a.received.some((e) => e.kind === 'clear'), 'A was never cut off');
    assert.ok(aRecord.botSentences.length > 0 && aRecord.botSentences.every((s) => !s.truncated), 'A heard every sentence whole');
    assert.is(aRecord.dtmf, 0);
  });
}

flood.run();
