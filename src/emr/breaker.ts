/**
 * Circuit breaker around the EMR. Hand-written (small) because the worker needs to ask "may I call now, and when
 * next?" before claiming a job, which wrapper-style breaker libraries do not expose. Only transient failures
 * (down, timeout, garbage) count; a refused booking is an answer, not an outage.
 */
import { isTransient } from './http.js';
import { EmrError } from './types.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Consecutive transient failures that open the circuit. */
  failureThreshold?: number;
  /** How long the circuit stays open before one probe is let through. */
  resetAfterMs?: number;
  now?: () => number;
}

export class CircuitBreaker {
  private failures = 0;
  private openedAt: number | undefined;
  private probing = false;
  private readonly threshold: number;
  private readonly resetAfterMs: number;
  private readonly now: () => number;

  constructor(options: CircuitBreakerOptions = {}) {
    this.threshold = options.failureThreshold ?? 5;
    this.resetAfterMs = options.resetAfterMs ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  get state(): BreakerState {
    if (this.openedAt === undefined) return 'closed';
    return this.now() - this.openedAt >= this.resetAfterMs ? 'half-open' : 'open';
  }

  /** Milliseconds until a call may be tried (0 when it may be tried now). */
  msUntilRetry(): number {
    if (this.openedAt === undefined) return 0;
    if (this.probing) return this.resetAfterMs;
    return Math.max(0, this.openedAt + this.resetAfterMs - this.now());
  }

  /** Whether a call may start now; in half-open state only one probe at a time. */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.probing) return false;
    this.probing = true;
    return true;
  }

  success(): void {
    this.failures = 0;
    this.openedAt = undefined;
    this.probing = false;
  }

  failure(err: unknown): void {
    if (!isTransient(err)) {
      // An answer (conflict, not found, refused): the EMR is up.
      if (this.probing) this.success();
      return;
    }
    this.failures++;
    if (this.probing || this.failures >= this.threshold) this.openedAt = this.now();
    this.probing = false;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.tryAcquire()) throw new EmrError('unavailable', 'EMR circuit open: not calling a failing EMR');
    try {
      const value = await fn();
      this.success();
      return value;
    } catch (err) {
      this.failure(err);
      throw err;
    }
  }
}
