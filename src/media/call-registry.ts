/**
 * Calls known to this node, by Twilio CallSid: the live session while the stream is up, then how the call
 * ended, kept briefly so the webhook Twilio requests after the stream closes can route a transfer. The
 * outcome goes to the shared state (Redis with several nodes), since that webhook may reach another node.
 */
import type { SharedState } from '../emr/shared-state.js';
import type { CallOutcome, CallRecord, CallSession } from './call-session.js';

const OUTCOME_TTL_MS = 10 * 60_000;

interface Entry { session?: CallSession; record?: CallRecord; expiresAt?: number }

export class CallRegistry {
  private readonly calls = new Map<string, Entry>();

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

  ended(record: CallRecord): void {
    this.calls.set(record.callId, { record, expiresAt: this.now() + OUTCOME_TTL_MS });
    void this.outcomes.set(outcomeKey(record.callId), record.outcome, OUTCOME_TTL_MS).catch(() => undefined);
  }

  /** The record of a finished call (undefined while live or unknown). */
  finished(callSid: string): CallRecord | undefined {
    return this.calls.get(callSid)?.record;
  }

  /** The outcome of a finished call on any node, read once by the after-stream webhook. */
  async takeOutcome(callSid: string): Promise<CallOutcome | undefined> {
    const local = this.finished(callSid);
    if (local) this.calls.delete(callSid);
    const shared = await this.outcomes.get(outcomeKey(callSid)).catch(() => undefined);
    await this.outcomes.delete(outcomeKey(callSid)).catch(() => undefined);
    return local?.outcome ?? (shared as CallOutcome | undefined);
  }

  sessions(): CallSession[] {
    return [...this.calls.values()].flatMap((e) => (e.session ? [e.session] : []));
  }

  private prune(): void {
    const now = this.now();
    for (const [sid, entry] of this.calls) if (entry.expiresAt !== undefined && entry.expiresAt < now) this.calls.delete(sid);
  }
}

function outcomeKey(callSid: string): string {
  return `call-outcome:${callSid}`;
}
