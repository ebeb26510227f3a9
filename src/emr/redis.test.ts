import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Keyring } from '../store/index.js';
import { RedisJobEventBus, type JobResultEvent } from './events.js';
import { CallRegistry, MemorySharedState, RedisSharedState } from './shared-state.js';

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
  const a = new RedisSharedState(REDIS_URL, prefix);
  const b = new RedisSharedState(REDIS_URL, prefix);
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

t('memory shared state honours expiry', async () => {
  let now = 1000;
  const state = new MemorySharedState(() => now);
  await state.set('k', 'v', 50);
  assert.is(await state.get('k'), 'v');
  now += 60;
  assert.is(await state.get('k'), undefined);
});

t.run();
