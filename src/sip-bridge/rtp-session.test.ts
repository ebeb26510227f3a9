import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSocket } from 'node:dgram';
import { parseRtp, RTP_CODECS, RtpParseError, RtpPortAllocator, RtpSession, serializeRtp } from './rtp-session.js';

test('RTP headers with CSRCs, an extension and padding parse; short or wrong-version packets do not', () => {
  const payload = Buffer.from([1, 2, 3, 4]);
  const header = Buffer.from([0xb1, 0x88, 0x01, 0x02, 0, 0, 0, 160, 0, 0, 0, 7]); // V2, P, X, CC=1, M, PT 8
  const csrc = Buffer.alloc(4);
  const extension = Buffer.from([0xbe, 0xde, 0, 1, 9, 9, 9, 9]);
  const padding = Buffer.from([0, 0, 3]);
  const packet = parseRtp(Buffer.concat([header, csrc, extension, payload, padding]));
  assert.equal({ pt: packet.payloadType, marker: packet.marker, seq: packet.seq, ts: packet.timestamp, ssrc: packet.ssrc }, { pt: 8, marker: true, seq: 258, ts: 160, ssrc: 7 });
  assert.equal([...packet.payload], [1, 2, 3, 4]);
  assert.throws(() => parseRtp(Buffer.alloc(5)), (e: unknown) => e instanceof RtpParseError);
  assert.throws(() => parseRtp(Buffer.alloc(12)), (e: unknown) => e instanceof RtpParseError, 'version 0');
});

/** A session on loopback fed by a raw socket: what the pipeline gets out of reordered, lost and DTMF packets. */
async function fixture() {
  const ports = new RtpPortAllocator(41000, 41020, '127.0.0.1');
  const { socket, port, release } = await ports.open();
  const peer = createSocket('udp4');
  await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
  const session = new RtpSession({
    socket, port, release, remote: { address: '127.0.0.1', port: 9 }, codec: RTP_CODECS.PCMU, dtmfPayloadType: 101,
    firstMediaTimeoutMs: 60_000, mediaTimeoutMs: 300,
  });
  const audio: Int16Array[] = [];
  const digits: string[] = [];
  let timedOut = false;
  const fromUs: Buffer[] = [];
  peer.on('message', (d) => fromUs.push(d));
  session.start({ onAudio: (s) => audio.push(s), onDtmf: (d) => digits.push(d), onPlaybackReached: () => undefined, onMediaTimeout: () => { timedOut = true; } });
  const send = (seq: number, timestamp: number, pt = 0, payload: Uint8Array = RTP_CODECS.PCMU.encode(new Int16Array(160).fill(seq * 10)), ssrc = 42) =>
    new Promise<void>((r) => peer.send(serializeRtp({ payloadType: pt, marker: false, seq, timestamp, ssrc, payload }), port, '127.0.0.1', () => r()));
  const settle = () => new Promise((r) => setTimeout(r, 30));
  return { session, peer, audio, digits, send, settle, fromUs, timedOut: () => timedOut, close: () => { session.close(); peer.close(); } };
}

test('reordered packets are put back in order, a lost one becomes silence, a duplicate is dropped', async () => {
  const f = await fixture();
  for (const seq of [1, 3, 2, 2, 4, 6, 7, 8]) await f.send(seq, seq * 160);
  await f.settle();
  const firstSample = f.audio.map((a) => a[0]);
  const levels = [10, 20, 30, 40, 0, 60, 70, 80].map((v) => RTP_CODECS.PCMU.decode(RTP_CODECS.PCMU.encode(Int16Array.of(v)))[0]);
  assert.equal(firstSample, levels, 'seq 5 never came: silence in its place');
  const stats = f.session.close();
  assert.is(stats.packetsLost, 1);
  assert.is(stats.duplicates, 1);
  f.peer.close();
});

test('RFC 4733: one digit per event even without a marker bit or its first packet; a new SSRC is a new stream', async () => {
  const f = await fixture();
  const event = (digit: number, end: boolean, duration: number) => Uint8Array.of(digit, end ? 0x8a : 0x0a, duration >> 8, duration & 0xff);
  for (const [end, duration] of [[false, 160], [false, 320], [true, 480], [true, 480], [true, 480]] as const) await f.send(100, 1600, 101, event(5, end, duration));
  await f.send(105, 3200, 101, event(11, true, 480)); // only end packets of a '#'
  await f.send(105, 3200, 101, event(11, true, 480));
  await f.send(1, 160, 0, undefined, 77);
  await f.settle();
  assert.equal(f.digits, ['5', '#']);
  assert.is(f.session.close().ssrcChanges, 0, 'the first audio stream is not a change');
  f.peer.close();
});

test('symmetric RTP: our packets go to where the caller sends from, not the SDP address; no RTP ends the call', async () => {
  const f = await fixture();
  await f.send(1, 160);
  await new Promise((r) => setTimeout(r, 120));
  assert.ok(f.fromUs.length >= 3, `we send to the latched source (${f.fromUs.length} packets)`);
  const seqs = f.fromUs.map((p) => parseRtp(p).seq);
  for (let i = 1; i < seqs.length; i++) assert.is(seqs[i], (seqs[i - 1]! + 1) & 0xffff);
  await new Promise((r) => setTimeout(r, 900));
  assert.ok(f.timedOut(), 'media timeout reported');
  f.close();
});

test.run();
