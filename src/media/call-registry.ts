/**
 * Calls known to this node, by Twilio CallSid: the live session while the stream is up, then only how the call
 * ended (never the record with its transcript), kept briefly so the webhook Twilio requests after the stream
 * closes can route a transfer. The outcome also goes to the shared state (Redis with several nodes), since
 * that webhook may reach another node.
 */
import type { SharedState } from '../emr/shared-state.js';
import type { CallOutcome, CallRecord, CallSession } from './call-session.js';

const OUTCOME_TTL_MS = 10 * 60_000;

interface Entry { session?: CallSession; outcome?: CallOutcome; expiresAt?: number }

/** Where the after-stream webhook learned a call's outcome; 'unknown' when nobody could say. */
export type OutcomeLookup =
  | { outcome: CallOutcome; source: 'this-node' | 'shared-state' }
  | { outcome: undefined; source: 'unknown'; sharedStateProblem?: string };

export class CallRegistry {
  private readonly calls = new Map<string, Entry>();
  private readonly changeListeners = new Set<() => void>();

  constructor(private readonly outcomes: SharedState, private readonly now: () => number = Date.now) {}

  get activeCount(): number {
    let n = 0;
    for (const entry of this.calls.values()) if (entry.session) n++;
    return n;
  }

  add(callSid: string, session: CallSession): void {
    this.prune();
    this.calls.set(callSid, { session });
  }

  /** A call ended: keep its outcome (only that) here and in the shared state. */
  ended(record: Pick<CallRecord, 'callId' | 'outcome'>): void {
    this.calls.set(record.callId, { outcome: record.outcome, expiresAt: this.now() + OUTCOME_TTL_MS });
    void this.outcomes.set(outcomeKey(record.callId), record.outcome, OUTCOME_TTL_MS).catch(() => undefined);
    this.changed();
  }

  /** How a call that ended on this node ended (undefined while live or unknown). */
  outcomeOf(callSid: string): CallOutcome | undefined {
    return this.calls.get(callSid)?.outcome;
  }

  /**
   * The outcome of a finished call, read once by the after-stream webhook: this node's own knowledge first
   * (no network), then the shared state, whose commands are bounded by their timeout. A shared-state failure
   * reads as 'unknown', never as an error.
   */
  async takeOutcome(callSid: string): Promise<OutcomeLookup> {
    const local = this.outcomeOf(callSid);
    if (local) {
      this.calls.delete(callSid);
      void this.outcomes.delete(outcomeKey(callSid)).catch(() => undefined);
      this.changed();
      return { outcome: local, source: 'this-node' };
    }
    try {
      const shared = await this.outcomes.get(outcomeKey(callSid));
      if (!isOutcome(shared)) return { outcome: undefined, source: 'unknown' };
      void this.outcomes.delete(outcomeKey(callSid)).catch(() => undefined);
      return { outcome: shared, source: 'shared-state' };
    } catch (err) {
      return { outcome: undefined, source: 'unknown', sharedStateProblem: (err as Error).message };
    }
  }

  /**
   * Resolves once the after-stream webhook has read every one of these calls' outcomes on this node, or after
   * `timeoutMs` (the webhook may have gone to another node, or Twilio may not ask at all).
   */
  async waitUntilTaken(callSids: Iterable<string>, timeoutMs: number): Promise<void> {
    const sids = [...callSids];
    await this.waitUntil(() => sids.every((sid) => this.outcomeOf(sid) === undefined), timeoutMs);
  }

  /** Resolves once no call is live on this node, after `timeoutMs`, or when `signal` aborts. */
  async waitUntilIdle(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    await this.waitUntil(() => this.activeCount === 0, timeoutMs, signal);
  }

  sessions(): CallSession[] {
    return [...this.calls.values()].flatMap((e) => (e.session ? [e.session] : []));
  }

  /** CallSids of the calls live on this node. */
  liveCallSids(): string[] {
    return [...this.calls].flatMap(([sid, e]) => (e.session ? [sid] : []));
  }

  private waitUntil(condition: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (condition() || signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.changeListeners.delete(check);
        signal?.removeEventListener('abort', finish);
        resolve();
      };
      const check = () => { if (condition()) finish(); };
      const timer = setTimeout(finish, timeoutMs);
      this.changeListeners.add(check);
      signal?.addEventListener('abort', finish);
    });
  }

  private changed(): void {
    for (const listener of [...this.changeListeners]) listener();
  }

  private prune(): void {
    const now = this.now();
    for (const [sid, entry] of this.calls) if (entry.expiresAt !== undefined && entry.expiresAt < now) this.calls.delete(sid);
  }
}

const OUTCOMES: readonly string[] = ['completed', 'transfer', 'caller-hung-up', 'error', 'handed-over-on-shutdown'] satisfies CallOutcome[];

function isOutcome(value: string | undefined): value is CallOutcome {
  return value !== undefined && OUTCOMES.includes(value);
}

function outcomeKey(callSid: string): string {
  return `call-outcome:${callSid}`;
}
