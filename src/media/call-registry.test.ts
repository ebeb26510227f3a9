import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inspect } from 'node:util';
import { CallRegistry } from './call-registry.js';
import { MemorySharedState, SharedStateUnavailableError, type SharedState } from '../emr/shared-state.js';
import type { CallRecord } from './call-session.js';

const record = (callId: string, outcome: CallRecord['outcome']): CallRecord => ({
  callId, outcome, bargeIns: 0, dtmf: 2, malformedFrames: 0,
  turns: [{ speaker: 'caller', text: 'my date of birth is March 3rd 1961' }],
  botSentences: [{ turnId: 1, text: 'Thank you Jane Doe.', heardText: 'Thank you Jane Doe.', truncated: false }],
});

test('a finished call leaves only its outcome behind, here and in the shared state', async () => {
  const shared = new MemorySharedState();
  const registry = new CallRegistry(shared);
  registry.ended(record('CA1', 'transfer'));
  const retained = inspect(registry, { depth: 10, showHidden: true });
  assert.not.match(retained, /birth|Jane/, 'no transcript or bot text kept in memory');
  assert.is(registry.outcomeOf('CA1'), 'transfer');
  assert.is(await shared.get('call-outcome:CA1'), 'transfer');
});

test('takeOutcome: this node first, then the shared state, read once; unknown when neither can say', async () => {
  const shared = new MemorySharedState();
  const registry = new CallRegistry(shared);
  registry.ended(record('CA1', 'transfer'));
  assert.equal(await registry.takeOutcome('CA1'), { outcome: 'transfer', source: 'this-node' });
  assert.equal(await registry.takeOutcome('CA1'), { outcome: undefined, source: 'unknown' }, 'read once');
  await shared.set('call-outcome:CA2', 'completed', 60_000); // ended on another node
  assert.equal(await registry.takeOutcome('CA2'), { outcome: 'completed', source: 'shared-state' });
  await shared.set('call-outcome:CA3', 'not-an-outcome', 60_000);
  assert.equal(await registry.takeOutcome('CA3'), { outcome: undefined, source: 'unknown' });
});

test('takeOutcome with the shared state down: this node still answers; otherwise unknown with the reason', async () => {
  const down: SharedState = Object.assign(new MemorySharedState(), {
    get: async () => { throw new SharedStateUnavailableError('timeout', 'redis command failed: Command timed out'); },
    set: async () => { throw new SharedStateUnavailableError('not-connected', 'redis is not connected'); },
    delete: async () => { throw new SharedStateUnavailableError('not-connected', 'redis is not connected'); },
  });
  const registry = new CallRegistry(down);
  registry.ended(record('CA1', 'transfer'));
  assert.equal(await registry.takeOutcome('CA1'), { outcome: 'transfer', source: 'this-node' });
  assert.equal(await registry.takeOutcome('CA9'), { outcome: undefined, source: 'unknown', sharedStateProblem: 'redis command failed: Command timed out' });
});

test('waitUntilTaken resolves once the after-stream webhook read each outcome', async () => {
  const registry = new CallRegistry(new MemorySharedState());
  registry.ended(record('CA1', 'handed-over-on-shutdown'));
  registry.ended(record('CA2', 'handed-over-on-shutdown'));
  let done = false;
  const waiting = registry.waitUntilTaken(['CA1', 'CA2'], 60_000).then(() => { done = true; });
  await registry.takeOutcome('CA1');
  await Promise.resolve();
  assert.not.ok(done, 'one still unread');
  await registry.takeOutcome('CA2');
  await waiting;
  assert.ok(done);
});

test.run();
