/**
 * A real call from Net::SIP (Debian's libnet-sip-perl), a SIP stack that is not ours: it sends a raw PCMU
 * file as the caller's voice and records what carevox sends back. The recording must hold the greeting (not
 * silence), and the caller speaking over the bot must silence it.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { muLawDecode, muLawEncode } from '../src/media/codec.js';
import { loadFixture } from './support/fixtures.js';
import { startTestServer, type TestServer } from './support/server.js';
import { createTranscriptDouble } from './support/transcript-double.js';

const stop = loadFixture('no-wait-stop');
const script = new URL('./fixtures/netsip/call.pl', import.meta.url).pathname;
const netsip = suite<{ server: TestServer; port: number; dir: string }>('Net::SIP call', { server: undefined as unknown as TestServer, port: 0, dir: '' });

netsip.before(async (ctx) => {
  const asr = createTranscriptDouble([{ audio: stop.samples, transcript: stop.transcript! }]);
  ctx.server = await startTestServer({ sip: { enabled: true } }, { engines: { asr } });
  ctx.port = ctx.server.bridges.sipPorts!.udp;
  ctx.dir = mkdtempSync(join(tmpdir(), 'carevox-netsip-'));
});
netsip.after(async (ctx) => {
  await ctx.server.close();
  rmSync(ctx.dir, { recursive: true, force: true });
});

/** Runs the Net::SIP phone with `voice` (8 kHz PCM) as its whole call; returns the PCM it recorded. */
async function call(ctx: { port: number; dir: string }, name: string, voice: Int16Array, seconds: number): Promise<{ received: Int16Array; output: string }> {
  const input = join(ctx.dir, `${name}.in`);
  const recorded = join(ctx.dir, `${name}.out`);
  writeFileSync(input, muLawEncode(voice));
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn('perl', [script, `sip:carevox@127.0.0.1:${ctx.port}`, input, recorded, String(seconds)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => { text += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { text += d.toString(); });
    const timer = setTimeout(() => { child.kill(); reject(new Error(`Net::SIP call did not end: ${text}`)); }, (seconds + 20) * 1000);
    child.on('close', (code) => { clearTimeout(timer); if (code === 0) resolve(text); else reject(new Error(`Net::SIP exited ${code}: ${text}`)); });
  });
  const bytes = existsSync(recorded) ? readFileSync(recorded) : Buffer.alloc(0);
  return { received: muLawDecode(bytes), output };
}

/** RMS of each 20 ms frame. */
function frameLevels(samples: Int16Array): number[] {
  const levels: number[] = [];
  for (let i = 0; i + 160 <= samples.length; i += 160) {
    let sum = 0;
    for (let j = i; j < i + 160; j++) sum += samples[j]! * samples[j]!;
    levels.push(Math.sqrt(sum / 160));
  }
  return levels;
}

netsip('the recorded call holds the greeting, not silence', async (ctx) => {
  const { received } = await call(ctx, 'greeting', new Int16Array(8000 * 6), 8);
  const levels = frameLevels(received);
  assert.ok(levels.length > 200, `recorded ${levels.length} frames`);
  const audible = levels.filter((l) => l > 300).length;
  assert.ok(audible > 100, `${audible} of ${levels.length} frames carry the greeting`);
});

netsip('speaking over the bot silences it', async (ctx) => {
  // 2.5 s of listening to the greeting, then "no wait stop", then quiet.
  const voice = new Int16Array(8000 * 8);
  voice.set(stop.samples, 8000 * 2.5);
  const { received } = await call(ctx, 'barge-in', voice, 10);
  const levels = frameLevels(received);
  const onsetFrame = Math.round((2500 + stop.segments![0]!.startMs) / 20);
  const before = levels.slice(onsetFrame - 25, onsetFrame).filter((l) => l > 300).length;
  assert.ok(before > 10, `the bot was talking when the caller spoke (${before} of 25 frames)`);
  // From 0.5 s after the caller starts until the caller's words end, the bot is quiet.
  const quietFrom = onsetFrame + 25;
  const quietTo = Math.round((2500 + stop.segments![0]!.endMs) / 20);
  const during = levels.slice(quietFrom, quietTo).filter((l) => l > 300).length;
  assert.is(during, 0, `the bot went quiet under the caller (${during} audible frames)`);
  const record = ctx.server.records().at(-1)!;
  assert.ok(record.bargeIns >= 1);
});

netsip.run();
