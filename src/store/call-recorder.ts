/**
 * Write-ahead call records: the call row when the call starts, each turn as it happens, the outcome at the
 * end, each written at once so a crash loses at most the write in flight. The call path never waits on the
 * store: operations go into an in-memory queue written one at a time by one writer. When a write fails
 * (PostgreSQL down, disk full, a PGlite error) the operation stays queued and is retried with backoff; the
 * queue is bounded (beyond it the oldest operation is dropped and counted) and `status()` tells /health.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { describeError, type Logger } from '../log.js';
import { INTERRUPTED_OUTCOME } from './repositories.js';
import type { Store } from './store.js';

/** The store edge the recorder writes through (the repositories; a failing double in unit tests). */
export interface CallRecordWriter {
  startCall(callId: string, nodeId: string, details: { transport?: string; startedAt: Date }): Promise<void>;
  appendTurn(callId: string, seq: number, speaker: 'caller' | 'bot', text: string, at: Date): Promise<void>;
  endCall(callId: string, outcome: string, endedAt: Date): Promise<void>;
}

export type RecordOperation =
  | { kind: 'start'; callId: string; transport?: string; at: Date }
  | { kind: 'turn'; callId: string; seq: number; speaker: 'caller' | 'bot'; text: string; at: Date }
  | { kind: 'end'; callId: string; outcome: string; at: Date };

export interface RecorderStatus {
  /** `degraded` while writes fail, or while the oldest record has waited longer than `stallMs` (a stuck write). */
  state: 'ok' | 'degraded';
  /** Operations waiting to be written (the one being written included). */
  queued: number;
  /** Operations given up on since start: pushed out of a full queue, or refused by the database for good. */
  dropped: number;
  /** The last write failure (kind and database message; never record text). */
  lastError: { kind: string; message: string; at: string } | null;
}

export interface CallRecorderOptions {
  writer: CallRecordWriter;
  /** Stored with each call: the start-up sweep marks this node's unended calls interrupted. */
  nodeId: string;
  /** Most operations held while the store fails. */
  maxQueued: number;
  logger?: Logger;
  /** Retry backoff after a failed write: doubles from the first to the most. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** A record waiting this long makes the status degraded even before any write has failed (default 5 s). */
  stallMs?: number;
  now?: () => Date;
}

/** What the media core reports (CallSession's `CallEventsSink`), plus status for /health. */
export class CallRecorder {
  private readonly queue: RecordOperation[] = [];
  private writing: RecordOperation | null = null;
  private running = false;
  private failing = false;
  private retryDelayMs: number;
  private retryTimer: NodeJS.Timeout | null = null;
  private dropped = 0;
  private droppedThisOutage = 0;
  private lastError: RecorderStatus['lastError'] = null;
  private closed = false;
  /** After close's grace period: no more retries (the process is going away). */
  private stopped = false;
  private idleWaiters: (() => void)[] = [];
  private readonly log?: Logger;
  private readonly now: () => Date;

  constructor(private readonly options: CallRecorderOptions) {
    this.retryDelayMs = options.retryInitialMs ?? 250;
    this.log = options.logger;
    this.now = options.now ?? (() => new Date());
  }

  started(callId: string, details: { transport?: string } = {}): void {
    this.push({ kind: 'start', callId, transport: details.transport, at: this.now() });
  }

  turn(callId: string, seq: number, speaker: 'caller' | 'bot', text: string): void {
    this.push({ kind: 'turn', callId, seq, speaker, text, at: this.now() });
  }

  ended(callId: string, outcome: string): void {
    this.push({ kind: 'end', callId, outcome, at: this.now() });
  }

  status(): RecorderStatus {
    const queued = this.queue.length + (this.writing ? 1 : 0);
    // A short backlog is normal (one writer, a statement at a time): only a failing or stuck one degrades.
    const oldest = this.writing ?? this.queue[0];
    const stalled = oldest !== undefined && this.now().getTime() - oldest.at.getTime() > (this.options.stallMs ?? 5000);
    return { state: this.failing || stalled ? 'degraded' : 'ok', queued, dropped: this.dropped, lastError: this.lastError };
  }

  /** Resolves once nothing is queued (tests, shutdown). */
  whenIdle(): Promise<void> {
    if (!this.writing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops taking records and writes what is queued, for up to `timeoutMs` (the store may be down at
   * shutdown); what is still queued then is lost, and the log says how many.
   */
  async close(timeoutMs = 5000): Promise<void> {
    this.closed = true;
    if (this.retryTimer) { clearTimeout(this.retryTimer); this.retryTimer = null; void this.drain(); } // one more try now
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.whenIdle(), new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); })]);
    clearTimeout(timer);
    this.stopped = true;
    if (this.retryTimer) { clearTimeout(this.retryTimer); this.retryTimer = null; }
    const left = this.status().queued;
    if (left > 0) this.log?.error({ lost: left, lastError: this.lastError }, 'call records not written at shutdown (store unavailable)');
  }

  private push(op: RecordOperation): void {
    if (this.closed) {
      this.countDropped(op, 'recorder closed');
      return;
    }
    this.queue.push(op);
    // The bound counts what waits, not the write in flight.
    while (this.queue.length > this.options.maxQueued) this.countDropped(this.queue.shift()!, 'queue full');
    if (!this.running && !this.retryTimer) void this.drain();
  }

  private countDropped(op: RecordOperation, reason: string): void {
    this.dropped++;
    this.droppedThisOutage++;
    // One line for the first of an outage, then a tally when it ends: no flood, and never the turn text.
    if (this.droppedThisOutage === 1) this.log?.error({ callId: op.callId, kind: op.kind, reason, maxQueued: this.options.maxQueued }, 'call record dropped');
  }

  /** The one writer: one operation at a time, yielding between them (PGlite blocks the event loop per statement). */
  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const op = this.queue.shift()!;
        this.writing = op;
        try {
          await this.write(op);
        } catch (err) {
          this.writing = null;
          if (isPermanent(err)) {
            this.noteError(err);
            this.countDropped(op, 'refused by the database');
            continue;
          }
          this.queue.unshift(op);
          while (this.queue.length > this.options.maxQueued) this.countDropped(this.queue.shift()!, 'queue full');
          this.noteError(err);
          this.scheduleRetry();
          return;
        }
        this.writing = null;
        if (this.failing) this.recovered();
        await yieldToEventLoop();
      }
    } finally {
      this.running = false;
    }
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private write(op: RecordOperation): Promise<void> {
    const { writer, nodeId } = this.options;
    switch (op.kind) {
      case 'start': return writer.startCall(op.callId, nodeId, { transport: op.transport, startedAt: op.at });
      case 'turn': return writer.appendTurn(op.callId, op.seq, op.speaker, op.text, op.at);
      case 'end': return writer.endCall(op.callId, op.outcome, op.at);
    }
  }

  private noteError(err: unknown): void {
    const error = describeError(err);
    this.lastError = { ...error, at: this.now().toISOString() };
    if (!this.failing) {
      this.failing = true;
      this.log?.warn({ error, queued: this.status().queued }, 'call records cannot be written: keeping them queued and retrying');
    }
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    const delay = this.retryDelayMs;
    this.retryDelayMs = Math.min(Math.max(1, delay * 2), this.options.retryMaxMs ?? 5000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.drain();
    }, delay);
  }

  private recovered(): void {
    this.failing = false;
    this.retryDelayMs = this.options.retryInitialMs ?? 250;
    this.log?.info({ dropped: this.droppedThisOutage, queued: this.status().queued }, 'call records are being written again');
    this.droppedThisOutage = 0;
  }
}

/**
 * A failure that retrying cannot fix: the database refused the data itself (SQLSTATE class 22, data
 * exception, or 23, integrity violation: e.g. a turn whose call row was dropped from a full queue).
 * Anything else (no connection, disk full, shutdown, a PGlite runtime error) is worth retrying.
 */
function isPermanent(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|23)[0-9A-Z]{3}$/.test(code);
}

/** The recorder's writer over the store's repositories. */
export function storeCallRecordWriter(store: Pick<Store, 'calls' | 'turns'>): CallRecordWriter {
  return {
    startCall: (callId, nodeId, details) => store.calls.start(callId, nodeId, details),
    appendTurn: (callId, seq, speaker, text, at) => store.turns.append(callId, seq, speaker, text, at),
    endCall: (callId, outcome, endedAt) => store.calls.end(callId, outcome, endedAt),
  };
}

/**
 * At start-up: calls this node left without an end died with its previous process; they are marked
 * `interrupted`. With the embedded store every unended call is this node's (PGlite is single-process);
 * with PostgreSQL only those carrying this node's id, since other nodes' calls may be live.
 */
export async function markInterruptedCalls(store: Pick<Store, 'kind' | 'calls'>, nodeId: string): Promise<string[]> {
  return store.calls.interruptUnended(store.kind === 'pglite' ? undefined : nodeId);
}
