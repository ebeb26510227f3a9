/**
 * State shared by the server nodes: the call registry (which node holds a call), call outcomes for the
 * after-stream webhook, consumed stream tokens and the prefetch cache. Redis when REDIS_URL is set, a
 * process-local map otherwise. Values are opaque strings; callers seal patient data.
 *
 * Redis is never allowed to hold a live call up: every command has a short timeout, nothing is queued while
 * the connection is down (a command then fails at once with SharedStateUnavailableError), and callers decide
 * what to do without it (see CallRegistry in media/call-registry.ts and CallTokenLedger in call-token.ts).
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';

export interface SharedStateHealth {
  backend: 'memory' | 'redis';
  /** 'degraded': the shared state cannot be reached; nodes answer from what they know locally. */
  status: 'ok' | 'degraded';
  reason?: string;
}

export interface SharedState {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Sets `key` only if it holds nothing (atomic across nodes); true when this call set it. */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Whether the shared state answers now (bounded by the command timeout). */
  health(): Promise<SharedStateHealth>;
  close(): Promise<void>;
}

export class SharedStateUnavailableError extends Error {
  constructor(readonly code: 'not-connected' | 'timeout' | 'command-failed', message: string) {
    super(message);
    this.name = 'SharedStateUnavailableError';
  }
}

export class MemorySharedState implements SharedState {
  private readonly entries = new Map<string, { value: string; expiresAt: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async get(key: string): Promise<string | undefined> {
    return this.current(key);
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    // Check and set with no await between them: atomic on this thread.
    if (this.current(key) !== undefined) return false;
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
    return true;
  }

  private current(key: string): string | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async health(): Promise<SharedStateHealth> {
    return { backend: 'memory', status: 'ok' };
  }

  async close(): Promise<void> {
    this.entries.clear();
  }
}

export interface RedisTimeouts {
  /** Longest wait for one command's reply. */
  commandTimeoutMs: number;
  /** Longest wait for a TCP connection (each attempt; reconnects back off up to 2 s). */
  connectTimeoutMs: number;
}

export const DEFAULT_REDIS_TIMEOUTS: RedisTimeouts = { commandTimeoutMs: 500, connectTimeoutMs: 1000 };

/** The configured timeouts (REDIS_COMMAND_TIMEOUT_MS, REDIS_CONNECT_TIMEOUT_MS). */
export function redisTimeouts(config: Config): RedisTimeouts {
  return { commandTimeoutMs: config.redis.commandTimeoutMs, connectTimeoutMs: config.redis.connectTimeoutMs };
}

/**
 * ioredis options for every carevox client (one place for the decision): short timeouts, no offline queue
 * (ioredis would otherwise hold commands, unbounded, until Redis returns), one retry per command, and
 * reconnection forever with a backoff capped at 2 s so the node recovers by itself.
 */
export function redisClientOptions(timeouts: RedisTimeouts = DEFAULT_REDIS_TIMEOUTS): RedisOptions {
  // disconnectTimeout (in ioredis's defaults, not its types): how long a closing socket may linger, 2 s by
  // default, which held a stopped node up that long with Redis down.
  const options: RedisOptions & { disconnectTimeout: number } = {
    disconnectTimeout: timeouts.commandTimeoutMs,
    commandTimeout: timeouts.commandTimeoutMs,
    connectTimeout: timeouts.connectTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000),
  };
  return options;
}

/**
 * Waits for a client's first connection (bounded by the connect timeout), so commands issued right after
 * start-up are not refused merely because the socket is still opening. Once a connection has failed, nothing
 * waits: commands fail at once until Redis is back.
 */
export class RedisConnection {
  private firstAttempt: Promise<void> | null;
  private lastProblem: string | undefined;

  constructor(readonly client: Redis, private readonly timeouts: RedisTimeouts, logger?: Logger) {
    let settle!: () => void;
    this.firstAttempt = new Promise<void>((resolve) => { settle = resolve; });
    const timer = setTimeout(() => settle(), timeouts.connectTimeoutMs);
    timer.unref();
    const done = () => { clearTimeout(timer); settle(); this.firstAttempt = null; };
    client.once('ready', done);
    let warned = false;
    client.on('error', (err: Error) => {
      done();
      this.lastProblem = err.message;
      // One warning per outage, not one per reconnection attempt.
      if (!warned) logger?.warn({ err: err.message }, 'redis connection problem: shared state degraded');
      warned = true;
    });
    client.on('ready', () => {
      if (warned) logger?.info('redis connection restored');
      warned = false;
      this.lastProblem = undefined;
    });
  }

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  get problem(): string | undefined {
    return this.ready ? undefined : this.lastProblem ?? `connection ${this.client.status}`;
  }

  /** Runs one command, or fails fast with a typed error when Redis is not reachable. */
  async run<T>(command: (client: Redis) => Promise<T>): Promise<T> {
    if (!this.ready && this.firstAttempt) await this.firstAttempt;
    if (!this.ready) throw new SharedStateUnavailableError('not-connected', `redis is not connected (${this.problem})`);
    try {
      return await command(this.client);
    } catch (err) {
      const message = (err as Error).message;
      this.lastProblem = message;
      const timedOut = /timed? ?out/i.test(message);
      throw new SharedStateUnavailableError(timedOut ? 'timeout' : 'command-failed', `redis command failed: ${message}`);
    }
  }

  /** QUIT, bounded: with Redis down or stalled, the socket is dropped instead (shutdown must not wait on it). */
  async close(): Promise<void> {
    const client = this.client;
    if (client.status === 'end') return;
    if (this.ready) {
      let timer: NodeJS.Timeout | undefined;
      const quit = client.quit().then(() => true, () => false);
      const gaveUp = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), this.timeouts.commandTimeoutMs); });
      const clean = await Promise.race([quit, gaveUp]);
      clearTimeout(timer);
      if (clean) return;
    }
    client.disconnect(false);
  }
}

export interface RedisSharedStateOptions {
  /** Prefix of every key (tests use a unique one on the shared Redis). */
  prefix?: string;
  logger?: Logger;
  timeouts?: RedisTimeouts;
}

export class RedisSharedState implements SharedState {
  private readonly connection: RedisConnection;
  private readonly prefix: string;

  constructor(url: string, options: RedisSharedStateOptions = {}) {
    const timeouts = options.timeouts ?? DEFAULT_REDIS_TIMEOUTS;
    this.prefix = options.prefix ?? 'carevox:';
    this.connection = new RedisConnection(new Redis(url, redisClientOptions(timeouts)), timeouts, options.logger);
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.connection.run((r) => r.get(this.prefix + key))) ?? undefined;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.connection.run((r) => r.set(this.prefix + key, value, 'PX', Math.max(1, Math.round(ttlMs))));
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    const reply = await this.connection.run((r) => r.set(this.prefix + key, value, 'PX', Math.max(1, Math.round(ttlMs)), 'NX'));
    return reply === 'OK';
  }

  async delete(key: string): Promise<void> {
    await this.connection.run((r) => r.del(this.prefix + key));
  }

  async health(): Promise<SharedStateHealth> {
    try {
      await this.connection.run((r) => r.ping());
      return { backend: 'redis', status: 'ok' };
    } catch (err) {
      return { backend: 'redis', status: 'degraded', reason: (err as Error).message };
    }
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}

export interface CallRegistration {
  nodeId: string;
  startedAt: string;
}

/** Which node holds which live call (for routing results and admin views across nodes). */
export class CallRegistry {
  constructor(private readonly state: SharedState, private readonly ttlMs = 4 * 3600_000) {}

  register(callId: string, nodeId: string): Promise<void> {
    const value: CallRegistration = { nodeId, startedAt: new Date().toISOString() };
    return this.state.set(`call:${callId}`, JSON.stringify(value), this.ttlMs);
  }

  async lookup(callId: string): Promise<CallRegistration | undefined> {
    const raw = await this.state.get(`call:${callId}`);
    return raw ? JSON.parse(raw) as CallRegistration : undefined;
  }

  unregister(callId: string): Promise<void> {
    return this.state.delete(`call:${callId}`);
  }
}
