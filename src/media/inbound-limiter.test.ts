import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InboundRateLimiter, type InboundKind } from './inbound-limiter.js';

const LIMITS = { inboundEventsPerSecond: 250, dtmfPerSecond: 10 };

function limiter() {
  const clock = { now: 0 };
  const drops: InboundKind[] = [];
  const firstDrops: InboundKind[] = [];
  const l = new InboundRateLimiter(LIMITS, { onDrop: (k) => drops.push(k), onFirstDrop: (k) => firstDrops.push(k) }, () => clock.now);
  const admitted = (kind: InboundKind, n: number) => { let ok = 0; for (let i = 0; i < n; i++) if (l.admit(kind)) ok++; return ok; };
  return { clock, drops, firstDrops, limiter: l, admitted };
}

test('a 10-digit entry keyed in at once passes whole, twice over', () => {
  const h = limiter();
  assert.is(h.admitted('dtmf', 10), 10);
  assert.is(h.admitted('dtmf', 10), 10);
  assert.equal(h.drops, []);
});

test('a fast typist (10 keys a second) is never cut', () => {
  const h = limiter();
  for (let i = 0; i < 600; i++) {
    assert.ok(h.limiter.admit('dtmf'), `key ${i}`);
    h.clock.now += 100;
  }
});

test('a burst of 5,000 keys: the burst allowance passes, the rest is dropped, counted, and reported once', () => {
  const h = limiter();
  assert.is(h.admitted('dtmf', 5000), 20);
  assert.is(h.drops.length, 4980);
  assert.equal(h.firstDrops, ['dtmf']);
  assert.is(h.limiter.droppedCounts.dtmf, 4980);
  h.clock.now += 1000;
  assert.is(h.admitted('dtmf', 5000), 10, 'the rate refills');
  assert.equal(h.firstDrops, ['dtmf'], 'still reported once per call');
});

test('media at 50 frames a second always passes, so does the burst after a 10 s network stall; a flood does not', () => {
  const h = limiter();
  for (let i = 0; i < 3000; i++) {
    assert.ok(h.limiter.admit('media'));
    h.clock.now += 20;
  }
  h.clock.now += 10_000; // nothing arrives for 10 s, then Twilio releases what it held
  assert.is(h.admitted('media', 500), 500);
  assert.is(h.admitted('media', 5000), 0, 'a flood right after is cut');
  assert.ok(h.limiter.admit('dtmf'), 'keys have their own allowance');
  assert.equal(h.firstDrops, ['media']);
});

test.run();
