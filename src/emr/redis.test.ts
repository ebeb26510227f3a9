import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Keyring } from '../store/index.js';
import { RedisJobEventBus, type JobResultEvent } from './events.js';
import { CallRegistry, MemorySharedState, RedisSharedState, SharedStateUnavailableError } from './shared-state.js';
import { startOwnRedis } from '../../test/support/redis-server.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const keyring = new Keyring('k1', randomBytes(32));
const run = randomBytes(4).toString('hex');

const t = suite('redis shared state and result events');

t('two nodes: a result published by one node reaches the call on the other, sealed on the wire', async () => {
  const nodeA = new RedisJobEventBus(REDIS_URL, keyring);
  const nodeB = new RedisJobEventBus(REDIS_URL, keyring);
  const spy = new Redis(REDIS_URL);
  const callId = `call-${run}`;
  try {
    const wire: string[] = [];
    await spy.subscribe(`carevox:emr-result:${callId}`);
    spy.on('message', (_channel: string, message: string) => wire.push(message));
    const received: JobResultEvent[] = [];
    const unsubscribe = await nodeA.subscribe(callId, (e) => received.push(e));
    const event: JobResultEvent = { requestId: 'r1', callId, kind: 'book', status: 'succeeded', result: { id: '7', date: '2030-03-04', patient: 'Jane Doe' } };
    await nodeB.publish(event);
    for (let i = 0; i < 200 && (received.length === 0 || wire.length === 0); i++) await delay(20);
    assert.equal(received, [event]);
    assert.is(wire.length, 1);
    assert.not.ok(wire[0]!.includes('Jane'), 'patient data is sealed on the wire');
    await unsubscribe();
    await nodeB.publish({ ...event, requestId: 'r2' });
    await delay(100);
    assert.is(received.length, 1, 'no delivery after unsubscribe');
  } finally {
    await Promise.all([nodeA.close(), nodeB.close(), spy.quit()]);
  }
});

t('shared state: set/get/expire/delete through Redis, call registry across nodes', async () => {
  const prefix = `carevox-test-${run}:`;
  const a = new RedisSharedState(REDIS_URL, { prefix });
  const b = new RedisSharedState(REDIS_URL, { prefix });
  try {
    await a.set('k', 'v', 10_000);
    assert.is(await b.get('k'), 'v');
    await a.set('short', 'v', 30);
    await delay(80);
    assert.is(await b.get('short'), undefined);
    await b.delete('k');
    assert.is(await a.get('k'), undefined);
    await new CallRegistry(a).register('call-1', 'node-a');
    assert.is((await new CallRegistry(b).lookup('call-1'))?.nodeId, 'node-a');
    await new CallRegistry(b).unregister('call-1');
    assert.is(await new CallRegistry(a).lookup('call-1'), undefined);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

t('setIfAbsent: exactly one of several nodes wins a key, until it expires', async () => {
  const prefix = `carevox-test-${run}:`;
  const nodes = [new RedisSharedState(REDIS_URL, { prefix }), new RedisSharedState(REDIS_URL, { prefix }), new RedisSharedState(REDIS_URL, { prefix })];
  try {
    const wins = await Promise.all(nodes.flatMap((n) => [n.setIfAbsent('once', 'x', 10_000), n.setIfAbsent('once', 'y', 10_000)]));
    assert.is(wins.filter(Boolean).length, 1);
    assert.ok(await nodes[0]!.setIfAbsent('brief', 'x', 30));
    assert.not.ok(await nodes[1]!.setIfAbsent('brief', 'x', 30));
    for (let i = 0; i < 200 && (await nodes[2]!.get('brief')) !== undefined; i++) await delay(10);
    assert.ok(await nodes[2]!.setIfAbsent('brief', 'x', 30), 'free again once expired');
    const memory = new MemorySharedState();
    const memoryWins = await Promise.all([memory.setIfAbsent('k', 'a', 1000), memory.setIfAbsent('k', 'b', 1000)]);
    assert.equal(memoryWins, [true, false], 'concurrent callers: one wins');
    assert.is(await memory.get('k'), 'a');
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

t('Redis hung, then gone: shared-state commands fail fast with a typed error, health says degraded, close returns', async () => {
  const redis = await startOwnRedis();
  const state = new RedisSharedState(redis.url, { timeouts: { commandTimeoutMs: 200, connectTimeoutMs: 200 } });
  try {
    await state.set('k', 'v', 10_000);
    assert.equal(await state.health(), { backend: 'redis', status: 'ok' });
    for (const outage of ['hung', 'gone'] as const) {
      if (outage === 'hung') redis.freeze(); else { redis.thaw(); await redis.kill(); }
      for (const attempt of [() => state.get('k'), () => state.set('k', 'w', 1000), () => state.setIfAbsent('n', 'w', 1000), () => state.delete('k')]) {
        await attempt().then(
          () => assert.unreachable(`${outage}: a command succeeded`),
          (err: unknown) => assert.instance(err, SharedStateUnavailableError, `${outage}: ${(err as Error).message}`),
        );
      }
      assert.is((await state.health()).status, 'degraded', outage);
    }
  } finally {
    redis.thaw();
    await state.close();
    await redis.kill();
  }
});

t('Redis hung, then gone: EMR results still reach a call on this node, and subscribing does not hang', async () => {
  const redis = await startOwnRedis();
  const bus = new RedisJobEventBus(redis.url, keyring, undefined, { commandTimeoutMs: 200, connectTimeoutMs: 200 });
  try {
    for (const outage of ['hung', 'gone'] as const) {
      if (outage === 'hung') redis.freeze(); else { redis.thaw(); await redis.kill(); }
      const callId = `call-${outage}-${run}`;
      const received: JobResultEvent[] = [];
      const unsubscribe = await bus.subscribe(callId, (e) => received.push(e));
      const event: JobResultEvent = { requestId: `r-${outage}`, callId, kind: 'book', status: 'succeeded' };
      await bus.publish(event);
      assert.equal(received, [event], outage);
      await unsubscribe();
    }
  } finally {
    redis.thaw();
    await bus.close();
    await redis.kill();
  }
});

t('memory shared state honours expiry', async () => {
  let now = 1000;
  const state = new MemorySharedState(() => now);
  await state.set('k', 'v', 50);
  assert.is(await state.get('k'), 'v');
  now += 60;
  assert.is(await state.get('k'), undefined);
});

t.run();
