/**
 * Sends one 20 ms frame every 20 ms on a deadline clock, for transports whose far end plays what it gets as it
 * gets it (SIP's RTP, Asterisk's AudioSocket): there is no buffer on the other side like Twilio's, so a burst
 * reaches the caller as a burst (livekit/sip#348). Deadlines are `start + n * 20 ms`, so timer lateness never
 * accumulates. A timer more than half a frame late re-anchors the clock (the lateness becomes a short gap,
 * not a burst); after a stall of two frames or more, one frame catches up. Never more than two frames inside
 * one 20 ms window. Markers report when everything queued before them has been sent (the transport's "played up to").
 */

export const PACER_FRAME_MS = 20;

export interface PacerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realClock: PacerClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface FramePacerOptions<T> {
  send(frame: T): void;
  /** Sent when nothing is queued (RTP: silence, so the stream stays continuous); none when absent. */
  idleFrame?(): T | null;
  onMarkReached?(name: string): void;
  clock?: PacerClock;
}

/** What the pacer did, for the per-call summary and the bench. */
export interface PacerStats {
  framesSent: number;
  /** |interval - 20 ms| between consecutive sends: p95 and max. */
  intervalJitterP95Ms: number;
  maxIntervalJitterMs: number;
  /** The most frames sent within any 20 ms window (2 at most by design). */
  maxPacketsIn20ms: number;
  /** Sends more than one frame late, after which the clock was re-anchored. */
  lateSends: number;
}

type Item<T> = { frame: T } | { mark: string };

const JITTER_BUCKETS = 200; // 0.1 ms buckets up to 20 ms

export class FramePacer<T> {
  private readonly queue: Item<T>[] = [];
  private queuedFrames = 0;
  private readonly clock: PacerClock;
  private timer: unknown = null;
  private nextAt = 0;
  private running = false;
  private lastSentAt: number | null = null;
  private readonly recentSends: number[] = [];
  private readonly jitterHistogram = new Uint32Array(JITTER_BUCKETS + 1);
  private stats = { framesSent: 0, maxIntervalJitterMs: 0, maxPacketsIn20ms: 0, lateSends: 0, intervals: 0 };

  constructor(private readonly options: FramePacerOptions<T>) {
    this.clock = options.clock ?? realClock;
  }

  /** Starts the clock (idle frames flow from now on when configured). Enqueueing starts it too. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.nextAt = this.clock.now();
    this.tick();
  }

  enqueue(frame: T): void {
    this.queue.push({ frame });
    this.queuedFrames++;
    if (!this.running) this.start();
  }

  /** Reports `name` once every frame queued before it has been sent (at once when nothing is queued). */
  mark(name: string): void {
    if (this.queue.length === 0) return this.options.onMarkReached?.(name);
    this.queue.push({ mark: name });
  }

  /** Barge-in: drops every queued frame and marker (a dropped marker is never reported). Returns ms dropped. */
  clear(): number {
    const dropped = this.queuedFrames * PACER_FRAME_MS;
    this.queue.length = 0;
    this.queuedFrames = 0;
    return dropped;
  }

  get queuedMs(): number { return this.queuedFrames * PACER_FRAME_MS; }

  stop(): void {
    this.running = false;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
    this.queuedFrames = 0;
  }

  summary(): PacerStats {
    let seen = 0;
    let p95 = 0;
    const target = this.stats.intervals * 0.95;
    for (let i = 0; i <= JITTER_BUCKETS; i++) {
      seen += this.jitterHistogram[i]!;
      if (seen >= target) { p95 = i / 10; break; }
    }
    return {
      framesSent: this.stats.framesSent,
      intervalJitterP95Ms: this.stats.intervals ? p95 : 0,
      maxIntervalJitterMs: round(this.stats.maxIntervalJitterMs),
      maxPacketsIn20ms: this.stats.maxPacketsIn20ms,
      lateSends: this.stats.lateSends,
    };
  }

  private tick(): void {
    this.timer = null;
    if (!this.running) return;
    const now = this.clock.now();
    // Timers can fire a fraction of a millisecond early (libuv's cached loop time): never a third frame
    // inside 20 ms, whatever the timer did.
    const windowStart = this.recentSends.length >= 2 ? this.recentSends[this.recentSends.length - 2]! : null;
    if (windowStart !== null && now - windowStart < PACER_FRAME_MS) {
      this.timer = this.clock.setTimeout(() => this.tick(), windowStart + PACER_FRAME_MS - now);
      return;
    }
    const late = now - this.nextAt;
    const quietFor = this.lastSentAt === null ? Infinity : now - this.lastSentAt;
    this.sendOne(now);
    if (late >= PACER_FRAME_MS && quietFor >= 2 * PACER_FRAME_MS) {
      // A frame or more behind after a silence of two frames: one catch-up frame keeps two in the window.
      this.stats.lateSends++;
      this.sendOne(now);
      this.nextAt = now + PACER_FRAME_MS;
    } else if (late > PACER_FRAME_MS / 2) {
      // Late: start the clock again from here rather than send the next frame at once (a burst).
      this.stats.lateSends++;
      this.nextAt = now + PACER_FRAME_MS;
    } else {
      this.nextAt += PACER_FRAME_MS;
    }
    this.timer = this.clock.setTimeout(() => this.tick(), Math.max(0, this.nextAt - this.clock.now()));
  }

  private sendOne(now: number): void {
    // Markers ahead of the next frame are reached: everything before them has gone.
    while (this.queue.length > 0 && 'mark' in this.queue[0]!) this.options.onMarkReached?.((this.queue.shift() as { mark: string }).mark);
    const item = this.queue.shift() as { frame: T } | undefined;
    let frame: T | null;
    if (item) { this.queuedFrames--; frame = item.frame; } else frame = this.options.idleFrame?.() ?? null;
    while (this.queue.length > 0 && 'mark' in this.queue[0]!) this.options.onMarkReached?.((this.queue.shift() as { mark: string }).mark);
    if (frame === null) { this.lastSentAt = null; return; }
    this.options.send(frame);
    this.record(now);
  }

  private record(now: number): void {
    this.stats.framesSent++;
    if (this.lastSentAt !== null) {
      const jitter = Math.abs(now - this.lastSentAt - PACER_FRAME_MS);
      this.stats.intervals++;
      this.jitterHistogram[Math.min(JITTER_BUCKETS, Math.round(jitter * 10))]!++;
      this.stats.maxIntervalJitterMs = Math.max(this.stats.maxIntervalJitterMs, jitter);
    }
    this.lastSentAt = now;
    this.recentSends.push(now);
    while (this.recentSends.length > 0 && now - this.recentSends[0]! >= PACER_FRAME_MS) this.recentSends.shift();
    this.stats.maxPacketsIn20ms = Math.max(this.stats.maxPacketsIn20ms, this.recentSends.length);
  }
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}
