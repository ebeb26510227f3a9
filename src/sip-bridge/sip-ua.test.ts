/**
 * The user agent's transactions on a fake clock, with a transport that records what would be sent: the
 * timers RFC 3261 §17.2 gives a UAS, without real sockets or calls.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '../log.js';
import { createMetrics } from '../metrics/index.js';
import type { CallServices } from '../media/start-call.js';
import { SourceAllowList } from './allow-list.js';
import { RtpPortAllocator } from './rtp-session.js';
import { parseSipMessage, type SipMessage, type SipResponse } from './sip-message.js';
import type { SipPeer, SipTransportLayer } from './sip-transport.js';
import { SipUserAgent, T1_MS, T2_MS, type SipClock } from './sip-ua.js';

function fakeClock() {
  let now = 0;
  let ids = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const clock: SipClock & { advance(ms: number): void } = {
    setTimeout: (fn, ms) => { timers.set(++ids, { at: now + ms, fn }); return ids; },
    clearTimeout: (id) => { timers.delete(id as number); },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const next = [...timers.entries()].sort((a, b) => a[1].at - b[1].at)[0];
        if (!next || next[1].at > end) break;
        timers.delete(next[0]);
        now = next[1].at;
        next[1].fn();
      }
      now = end;
    },
  };
  return { clock, now: () => now };
}

function agent(admission: 'open' | 'draining' = 'open') {
  const { clock, now } = fakeClock();
  const sent: Array<{ at: number; message: SipResponse }> = [];
  const transport = { send: (message: SipMessage) => sent.push({ at: now(), message: message as SipResponse }) } as unknown as SipTransportLayer;
  const metrics = createMetrics();
  const services = { metrics, logger: createLogger('silent'), admission: () => admission } as unknown as CallServices;
  const ua = new SipUserAgent({
    services, transport: () => transport, allowList: new SourceAllowList('10.0.0.0/8'), digest: null,
    media: { allowed: ['PCMU'], srtp: 'off', ports: new RtpPortAllocator(40000, 40010, '127.0.0.1'), firstMediaTimeoutMs: 1000, mediaTimeoutMs: 1000 },
    sipPort: 5060, answerDelayMs: 0, sessionExpiresSeconds: 1800, logger: createLogger('silent'), clock,
  });
  return { ua, clock, sent, metrics, statuses: () => sent.map((s) => s.message.status) };
}

const peer: SipPeer = { protocol: 'udp', address: '192.0.2.9', port: 5062 };
const request = (method: string, branch: string, maxForwards = 70) => parseSipMessage(Buffer.from([
  `${method} sip:carevox@192.0.2.1 SIP/2.0`, `Via: SIP/2.0/UDP 192.0.2.9:5062;branch=${branch}`, 'From: <sip:a@192.0.2.9>;tag=f',
  'To: <sip:carevox@192.0.2.1>', 'Call-ID: call-1', `CSeq: 1 ${method === 'ACK' ? 'INVITE' : method}`, `Max-Forwards: ${maxForwards}`, 'Content-Length: 0', '', '',
].join('\r\n')));

test('a refused INVITE: 100 at once, 403 retransmitted at T1, 2T1 ... T2 (timer G) until the ACK stops it', () => {
  const { ua, clock, sent, statuses } = agent();
  ua.received(request('INVITE', 'z9hG4bK1'), peer);
  assert.equal(statuses(), [100, 403]);
  clock.advance(T1_MS + 2 * T1_MS + 4 * T1_MS + T2_MS + 1);
  const times = sent.filter((s) => s.message.status === 403).map((s) => s.at);
  assert.equal(times, [0, T1_MS, 3 * T1_MS, 7 * T1_MS, 7 * T1_MS + T2_MS]);
  ua.received(request('ACK', 'z9hG4bK1'), peer);
  const before = sent.length;
  clock.advance(20_000);
  assert.is(sent.length, before, 'the ACK ended the retransmissions');
  ua.close();
});

test('without an ACK the retransmissions stop at 64*T1 (timer H)', () => {
  const { ua, clock, sent } = agent();
  ua.received(request('INVITE', 'z9hG4bK2'), peer);
  clock.advance(64 * T1_MS + 10_000);
  const last = sent.filter((s) => s.message.status === 403).at(-1)!.at;
  assert.ok(last <= 64 * T1_MS, `last retransmission at ${last}`);
  ua.close();
});

test('a retransmitted request is answered with the last response, not handled twice', () => {
  const { ua, statuses, metrics } = agent();
  ua.received(request('INVITE', 'z9hG4bK3'), peer);
  ua.received(request('INVITE', 'z9hG4bK3'), peer);
  assert.equal(statuses(), [100, 403, 403]);
  void metrics.registry.getSingleMetricAsString('carevox_calls_refused_total').then((text) => assert.match(text, /source-not-allowed"} 1/));
  ua.close();
});

test('OPTIONS 200 with Allow (503 while draining); BYE, INFO and CANCEL outside any dialog 481; unknown methods 405', () => {
  const open = agent();
  open.ua.received(request('OPTIONS', 'z9hG4bK4'), peer);
  open.ua.received(request('BYE', 'z9hG4bK5'), peer);
  open.ua.received(request('CANCEL', 'z9hG4bK6'), peer);
  open.ua.received(request('PUBLISH', 'z9hG4bK7'), peer);
  assert.equal(open.statuses(), [200, 481, 481, 405]);
  assert.ok(open.sent[0]!.message.headers.some(([n, v]) => n === 'allow' && v.includes('INVITE')));
  const draining = agent('draining');
  draining.ua.received(request('OPTIONS', 'z9hG4bK8'), peer);
  assert.equal(draining.statuses(), [503]);
  open.ua.close();
  draining.ua.close();
});

test('Max-Forwards 0 is answered 483', () => {
  const { ua, statuses } = agent();
  ua.received(request('OPTIONS', 'z9hG4bK9', 0), peer);
  assert.equal(statuses(), [483]);
  ua.close();
});

test.run();
