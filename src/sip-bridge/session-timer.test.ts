import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { negotiateSessionTimer } from './session-timer.js';

test('a caller without session timers gets none', () => {
  assert.is(negotiateSessionTimer({ supported: ['replaces'] }, 1800), null);
});

test('the interval asked for is kept when shorter than ours, and the caller refreshes', () => {
  const answer = negotiateSessionTimer({ sessionExpires: '900;refresher=uac', supported: ['timer', '100rel'] }, 1800)!;
  assert.is(answer.intervalSeconds, 900);
  assert.equal(answer.headers, { 'Session-Expires': '900;refresher=uac', Require: 'timer' });
});

test('a longer interval is shortened to ours; Min-SE is a floor', () => {
  assert.is(negotiateSessionTimer({ sessionExpires: '7200', supported: ['timer'] }, 1800)!.intervalSeconds, 1800);
  assert.is(negotiateSessionTimer({ sessionExpires: '120', minSe: '600', supported: ['timer'] }, 1800)!.intervalSeconds, 600);
  assert.is(negotiateSessionTimer({ sessionExpires: '30', supported: ['timer'] }, 1800)!.intervalSeconds, 90);
});

test('Supported: timer alone gets our interval; Session-Expires without Supported gets no Require', () => {
  assert.is(negotiateSessionTimer({ supported: ['timer'] }, 1800)!.intervalSeconds, 1800);
  assert.equal(negotiateSessionTimer({ sessionExpires: '600', supported: [] }, 1800)!.headers, { 'Session-Expires': '600;refresher=uac' });
});

test.run();
