/**
 * Results of EMR jobs, delivered to the live call that asked for them. In-process by default; through Redis
 * pub/sub when REDIS_URL is set, so the node holding the call hears about work another node's worker finished.
 * Results carry appointment details, so on Redis they travel sealed with the store's keyring.
 */
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import type { Keyring } from '../store/index.js';
import { DEFAULT_REDIS_TIMEOUTS, RedisConnection, redisClientOptions, type RedisTimeouts } from './shared-state.js';

export interface JobResultEvent {
  requestId: string;
  callId: string;
  kind: string;
  status: 'succeeded' | 'failed';
  result?: unknown;
  error?: { code: string; message: string };
}

export interface JobEventBus {
  publish(event: JobResultEvent): Promise<void>;
  /** Listens for one call's results; returns the unsubscribe function. */
  subscribe(callId: string, listener: (event: JobResultEvent) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export class LocalJobEventBus implements JobEventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  async publish(event: JobResultEvent): Promise<void> {
    this.emitter.emit(event.callId, event);
  }

  async subscribe(callId: string, listener: (event: JobResultEvent) => void): Promise<() => Promise<void>> {
    this.emitter.on(callId, listener);
    return async () => { this.emitter.off(callId, listener); };
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

const CHANNEL_PREFIX = 'carevox:emr-result:';

/**
 * With Redis down nothing here waits on it: a publish that cannot reach Redis is delivered to this node's own
 * listeners (the call asking is most often on the node whose worker ran the job; a call elsewhere falls back
 * to reading the job record), and a subscription that cannot be made now is made when Redis is back.
 */
export class RedisJobEventBus implements JobEventBus {
  private readonly publisher: RedisConnection;
  private readonly subscriber: RedisConnection;
  private readonly local = new EventEmitter();

  constructor(url: string, private readonly keyring: Keyring, private readonly logger?: Logger, timeouts: RedisTimeouts = DEFAULT_REDIS_TIMEOUTS) {
    this.publisher = new RedisConnection(new Redis(url, redisClientOptions(timeouts)), timeouts, logger);
    this.subscriber = new RedisConnection(new Redis(url, redisClientOptions(timeouts)), timeouts, logger);
    this.local.setMaxListeners(0);
    this.subscriber.client.on('message', (channel: string, message: string) => {
      const callId = channel.slice(CHANNEL_PREFIX.length);
      try {
        const [keyId, data] = message.split('.', 2) as [string, string];
        this.local.emit(callId, JSON.parse(this.keyring.open({ keyId, data })) as JobResultEvent);
      } catch (err) {
        this.logger?.warn({ err: (err as Error).message }, 'dropped an unreadable EMR result event');
      }
    });
    // ioredis resubscribes only what had succeeded; listeners added during an outage are subscribed here.
    this.subscriber.client.on('ready', () => {
      const channels = this.local.eventNames().map((callId) => CHANNEL_PREFIX + String(callId));
      if (channels.length) void this.subscriber.run((r) => r.subscribe(...channels)).catch(() => undefined);
    });
  }

  async publish(event: JobResultEvent): Promise<void> {
    const sealed = this.keyring.seal(JSON.stringify(event));
    try {
      await this.publisher.run((r) => r.publish(CHANNEL_PREFIX + event.callId, `${sealed.keyId}.${sealed.data}`));
    } catch (err) {
      this.logger?.warn({ err: (err as Error).message }, 'EMR result not published through redis: delivered on this node only');
      this.local.emit(event.callId, event);
    }
  }

  async subscribe(callId: string, listener: (event: JobResultEvent) => void): Promise<() => Promise<void>> {
    this.local.on(callId, listener);
    if (this.local.listenerCount(callId) === 1) {
      await this.subscriber.run((r) => r.subscribe(CHANNEL_PREFIX + callId)).catch(() => undefined);
    }
    return async () => {
      this.local.off(callId, listener);
      if (this.local.listenerCount(callId) === 0) await this.subscriber.run((r) => r.unsubscribe(CHANNEL_PREFIX + callId)).catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    this.local.removeAllListeners();
    await Promise.allSettled([this.publisher.close(), this.subscriber.close()]);
  }
}
