/**
 * State shared by the server nodes: the call registry (which node holds a call) and the prefetch cache. Redis
 * when REDIS_URL is set, a process-local map otherwise. Values are opaque strings; callers seal patient data.
 */
import { Redis } from 'ioredis';
import type { Logger } from '../log.js';

export interface SharedState {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}

export class MemorySharedState implements SharedState {
  private readonly entries = new Map<string, { value: string; expiresAt: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async get(key: string): Promise<string | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async close(): Promise<void> {
    this.entries.clear();
  }
}

export class RedisSharedState implements SharedState {
  private readonly redis: Redis;

  constructor(url: string, private readonly prefix = 'carevox:', logger?: Logger) {
    this.redis = new Redis(url, { maxRetriesPerRequest: 2 });
    this.redis.on('error', (err: Error) => logger?.warn({ err: err.message }, 'redis connection problem'));
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.redis.get(this.prefix + key)) ?? undefined;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.redis.set(this.prefix + key, value, 'PX', Math.max(1, Math.round(ttlMs)));
  }

  async delete(key: string): Promise<void> {
    await this.redis.del(this.prefix + key);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => undefined);
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
