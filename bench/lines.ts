/**
 * The bench's view of one simulated caller, whatever carries the call: Twilio Media Streams (the Twilio
 * double) or SIP/RTP (the SIP test phone). Each says when the bot's audio reached the caller and when it
 * stopped after a barge-in, in its own wire's terms: Twilio's `clear`, or on RTP the first packet of the
 * silence that follows (the bot's line goes quiet; RTP has no clear).
 */
import type { SipCaller } from '../test/support/sip-caller.js';
import type { TwilioCaller } from '../test/support/twilio-caller.js';

export interface BenchLine {
  readonly isOpen: boolean;
  say(samples: Int16Array): Promise<{ startedAt: number }>;
  /** A position in what was received; the queries below look from one on. */
  mark(): number;
  /** Arrival of the first bot audio after time `after`, among what came from `from` on (null: none yet). */
  firstAudioAfter(from: number, after: number): number | null;
  /** When the bot's audio stopped reaching the caller, after `from` (null: not yet). */
  audioStoppedAfter(from: number): number | null;
  /** The caller is hearing the bot now. */
  hearingBot(): boolean;
  /** Nothing from the bot for `quietMs` and nothing left to hear. */
  quiet(quietMs: number): boolean;
  waitFor(what: string, predicate: () => boolean, timeoutMs: number): Promise<void>;
  hangUp(): Promise<void>;
}

export function twilioLine(caller: TwilioCaller): BenchLine {
  return {
    get isOpen() { return caller.isOpen; },
    say: (samples) => caller.say(samples),
    mark: () => caller.received.length,
    firstAudioAfter: (from, after) => firstAt(caller.received, from, (e) => e.kind === 'media' && e.at > after),
    audioStoppedAfter: (from) => caller.received.slice(from).find((e) => e.kind === 'clear')?.at ?? null,
    hearingBot: () => caller.bufferedMs > 0 || performance.now() - (caller.received.at(-1)?.at ?? 0) < 100,
    quiet: (quietMs) => {
      const last = caller.received.at(-1);
      return last !== undefined && caller.bufferedMs === 0 && performance.now() - last.at > quietMs;
    },
    waitFor: (what, predicate, timeoutMs) => caller.waitFor(what, predicate, timeoutMs),
    hangUp: () => caller.hangUp(),
  };
}

/** Arrival of the first event from `from` on that matches. */
function firstAt<E extends { at: number }>(events: E[], from: number, matches: (e: E) => boolean): number | null {
  for (let i = from; i < events.length; i++) if (matches(events[i]!)) return events[i]!.at;
  return null;
}

/** Silent packets in a row that mean the bot stopped (a sentence gap is shorter than a barge-in's silence). */
const STOPPED_RUN = 10;

export function sipLine(caller: SipCaller): BenchLine {
  const lastAudible = (): number | null => {
    for (let i = caller.received.length - 1; i >= 0; i--) if (caller.received[i]!.audible) return caller.received[i]!.at;
    return null;
  };
  return {
    get isOpen() { return caller.isOpen; },
    say: (samples) => caller.say(samples),
    mark: () => caller.received.length,
    firstAudioAfter: (from, after) => firstAt(caller.received, from, (p) => p.audible && p.at > after),
    audioStoppedAfter: (from) => {
      const packets = caller.received;
      for (let i = from; i + STOPPED_RUN <= packets.length; i++) {
        if (packets[i]!.audible) continue;
        let silent = true;
        for (let j = i; j < i + STOPPED_RUN; j++) if (packets[j]!.audible) { silent = false; break; }
        if (silent) return packets[i]!.at;
      }
      return null;
    },
    hearingBot: () => performance.now() - (lastAudible() ?? 0) < 100,
    quiet: (quietMs) => {
      const last = lastAudible();
      return last !== null && performance.now() - last > quietMs;
    },
    waitFor: (what, predicate, timeoutMs) => caller.waitFor(what, predicate, timeoutMs),
    hangUp: () => caller.hangUp(),
  };
}

/** What the callers saw of the server's outbound RTP: interval jitter, bursts, loss (from sequence numbers). */
export function rtpArrivalStats(callers: SipCaller[]): { intervalJitterMs: number[]; maxPacketsIn20ms: number; lost: number; received: number } {
  const intervalJitterMs: number[] = [];
  let maxPacketsIn20ms = 0;
  let lost = 0;
  let received = 0;
  for (const caller of callers) {
    const packets = caller.received;
    received += packets.length;
    let windowStart = 0;
    for (let i = 1; i < packets.length; i++) {
      const gap = (packets[i]!.seq - packets[i - 1]!.seq + 65536) % 65536;
      if (gap > 1 && gap < 1000) lost += gap - 1;
      if (gap === 1) intervalJitterMs.push(Math.abs(packets[i]!.at - packets[i - 1]!.at - 20));
      while (packets[i]!.at - packets[windowStart]!.at >= 20) windowStart++;
      maxPacketsIn20ms = Math.max(maxPacketsIn20ms, i - windowStart + 1);
    }
  }
  return { intervalJitterMs, maxPacketsIn20ms, lost, received };
}
