/**
 * Per-call cap on inbound events: a token bucket per kind, refilled at the configured rate and holding
 * BURST_SECONDS of it, so a short burst (a network stall releasing queued media, a fast typist) passes whole
 * and only a sustained flood is cut. What is over the cap is dropped before it reaches the pipeline: one
 * call's flood must not cost the node's event loop, which paces every call's audio.
 */
export type InboundKind = 'media' | 'playback-report' | 'dtmf';

/** Seconds of the rate a bucket holds: 2 s of dtmf at 10/s takes a 10-digit entry typed at once, twice. */
const BURST_SECONDS = 2;

export interface InboundLimits {
  /** Media and playback-report events (Twilio's mark echoes) per second (one shared bucket). */
  inboundEventsPerSecond: number;
  dtmfPerSecond: number;
}

class TokenBucket {
  private tokens: number;
  private refilledAt: number;
  private readonly capacity: number;

  constructor(private readonly perSecond: number, now: number) {
    this.capacity = perSecond * BURST_SECONDS;
    this.tokens = this.capacity;
    this.refilledAt = now;
  }

  take(now: number): boolean {
    if (now > this.refilledAt) {
      this.tokens = Math.min(this.capacity, this.tokens + ((now - this.refilledAt) / 1000) * this.perSecond);
      this.refilledAt = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export class InboundRateLimiter {
  private readonly events: TokenBucket;
  private readonly dtmf: TokenBucket;
  private readonly dropped: Record<InboundKind, number> = { media: 0, 'playback-report': 0, dtmf: 0 };

  /** `onFirstDrop` is called once per kind per call (log it); `onDrop` for every dropped event (count it). */
  constructor(
    limits: InboundLimits,
    private readonly hooks: { onDrop?(kind: InboundKind): void; onFirstDrop?(kind: InboundKind): void } = {},
    private readonly now: () => number = () => performance.now(),
  ) {
    const start = now();
    this.events = new TokenBucket(limits.inboundEventsPerSecond, start);
    this.dtmf = new TokenBucket(limits.dtmfPerSecond, start);
  }

  /** True when the event may go on; false when it is over the cap (counted, and dropped by the caller). */
  admit(kind: InboundKind): boolean {
    const bucket = kind === 'dtmf' ? this.dtmf : this.events;
    if (bucket.take(this.now())) return true;
    if (this.dropped[kind]++ === 0) this.hooks.onFirstDrop?.(kind);
    this.hooks.onDrop?.(kind);
    return false;
  }

  get droppedCounts(): Readonly<Record<InboundKind, number>> {
    return this.dropped;
  }
}
