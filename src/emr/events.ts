/**
 * Results of EMR jobs, delivered to the live call that asked for them. In-process by default; through Redis
 * pub/sub when REDIS_URL is set, so the node holding the call hears about work another node's worker finished.
 * Results carry appointment details, so on Redis they travel sealed with the store's keyring.
 */
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import type { Keyring } from '../store/index.js';

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

export class RedisJobEventBus implements JobEventBus {
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly local = new EventEmitter();

  constructor(url: string, private readonly keyring: Keyring, private readonly logger?: Logger) {
    this.publisher = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2 });
    this.subscriber = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2 });
    this.local.setMaxListeners(0);
    this.subscriber.on('message', (channel: string, message: string) => {
      const callId = channel.slice(CHANNEL_PREFIX.length);
      try {
        const [keyId, data] = message.split('.', 2) as [string, string];
        this.local.emit(callId, JSON.parse(this.keyring.open({ keyId, data })) as JobResultEvent);
      } catch (err) {
        this.logger?.warn({ err: (err as Error).message }, 'dropped an unreadable EMR result event');
      }
    });
    for (const client of [this.publisher, this.subscriber]) {
      client.on('error', (err: Error) => this.logger?.warn({ err: err.message }, 'redis connection problem'));
    }
  }

  async publish(event: JobResultEvent): Promise<void> {
    const sealed = this.keyring.seal(JSON.stringify(event));
    await this.publisher.publish(CHANNEL_PREFIX + event.callId, `${sealed.keyId}.${sealed.data}`);
  }

  async subscribe(callId: string, listener: (event: JobResultEvent) => void): Promise<() => Promise<void>> {
    this.local.on(callId, listener);
    if (this.local.listenerCount(callId) === 1) await this.subscriber.subscribe(CHANNEL_PREFIX + callId);
    return async () => {
      this.local.off(callId, listener);
      if (this.local.listenerCount(callId) === 0) await this.subscriber.unsubscribe(CHANNEL_PREFIX + callId).catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    this.local.removeAllListeners();
    await Promise.allSettled([this.publisher.quit(), this.subscriber.quit()]);
  }
}
