import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FramePacer, type PacerClock } from './frame-pacer.js';

/** A clock whose timers fire when `advance` passes their time, `lateBy` ms late when told to stall. */
function fakeClock() {
  let now = 0;
  const timers: Array<{ at: number; fn: () => void; id: number }> = [];
  let ids = 0;
  const clock: PacerClock & { advance(ms: number, stallMs?: number): void } = {
    now: () => now,
    setTimeout: (fn, ms) => { const id = ++ids; timers.push({ at: now + ms, fn, id }); return id; },
    clearTimeout: (id) => { const i = timers.findIndex((t) => t.id === id); if (i >= 0) timers.splice(i, 1); },
    advance(ms, stallMs = 0) {
      const end = now + ms;
      for (;;) {
        timers.sort((a, b) => a.at - b.at);
        const next = timers[0];
        if (!next || next.at > end) break;
        timers.shift();
        now = Math.max(now, next.at + stallMs);
        stallMs = 0;
        next.fn();
      }
      now = Math.max(now, end);
    },
  };
  return clock;
}

test('one frame per 20 ms on the deadline clock, idle frames when the queue is empty, markers in order', () => {
  const clock = fakeClock();
  const sent: Array<{ at: number; frame: string }> = [];
  const marks: Array<{ at: number; name: string }> = [];
  const pacer = new FramePacer<string>({
    send: (frame) => sent.push({ at: clock.now(), frame }),
    idleFrame: () => 'silence',
    onMarkReached: (name) => marks.push({ at: clock.now(), name }),
    clock,
  });
  for (const f of ['a', 'b', 'c']) pacer.enqueue(f);
  pacer.mark('after-c');
  pacer.enqueue('d');
  clock.advance(100);
  assert.equal(sent.map((s) => s.frame), ['a', 'b', 'c', 'd', 'silence', 'silence']);
  assert.equal(sent.map((s) => s.at), [0, 20, 40, 60, 80, 100]);
  assert.equal(marks, [{ at: 40, name: 'after-c' }], 'reached as soon as c went out');
  const stats = pacer.summary();
  assert.is(stats.maxIntervalJitterMs, 0);
  assert.is(stats.maxPacketsIn20ms, 1);
  pacer.stop();
});

test('clear drops queued frames and their markers; a marker with nothing queued is reached at once', () => {
  const clock = fakeClock();
  const sent: string[] = [];
  const marks: string[] = [];
  const pacer = new FramePacer<string>({ send: (f) => sent.push(f), onMarkReached: (n) => marks.push(n), clock });
  for (let i = 0; i < 10; i++) pacer.enqueue(`f${i}`);
  pacer.mark('end');
  clock.advance(40);
  assert.is(pacer.clear(), 7 * 20);
  clock.advance(100);
  assert.equal(sent, ['f0', 'f1', 'f2']);
  assert.equal(marks, [], 'a dropped marker is never reported');
  pacer.mark('now');
  assert.equal(marks, ['now']);
  pacer.stop();
});

test('after a stall at most one frame catches up and the clock re-anchors: never 3 frames in 20 ms', () => {
  const clock = fakeClock();
  const sent: number[] = [];
  const pacer = new FramePacer<number>({ send: () => sent.push(clock.now()), idleFrame: () => 0, clock });
  pacer.start();
  clock.advance(60);
  clock.advance(200, 130); // the next timer fires 130 ms late
  for (let i = 2; i < sent.length; i++) assert.ok(sent[i]! - sent[i - 2]! >= 20, `3 frames within 20 ms at ${sent[i]}`);
  const stats = pacer.summary();
  assert.is(stats.lateSends, 1);
  assert.is(stats.maxPacketsIn20ms, 2);
  const afterStall = sent.filter((t) => t >= 210).slice(1); // from the catch-up frame on
  for (let i = 1; i < afterStall.length; i++) assert.is(afterStall[i]! - afterStall[i - 1]!, 20, `steady again after the stall: ${sent.join(',')}`);
  pacer.stop();
});

test('a timer late by almost two frames re-anchors without a burst', () => {
  for (const stall of [11, 19, 25, 39, 41, 79]) {
    const clock = fakeClock();
    const sent: number[] = [];
    const pacer = new FramePacer<number>({ send: () => sent.push(clock.now()), idleFrame: () => 0, clock });
    pacer.start();
    clock.advance(40);
    clock.advance(300, stall);
    for (let i = 2; i < sent.length; i++) assert.ok(sent[i]! - sent[i - 2]! >= 20, `stall ${stall}: 3 frames within 20 ms at ${sent.slice(i - 2, i + 1)}`);
    assert.ok(pacer.summary().maxPacketsIn20ms <= 2, `stall ${stall}`);
    pacer.stop();
  }
});

test.run();
