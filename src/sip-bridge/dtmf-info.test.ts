import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { digitFromInfo } from './dtmf-info.js';

test('dtmf-relay and dtmf bodies give their digit', () => {
  assert.is(digitFromInfo('application/dtmf-relay', 'Signal=5\r\nDuration=160\r\n'), '5');
  assert.is(digitFromInfo('Application/DTMF-Relay; charset=x', 'signal= #\r\nduration=100'), '#');
  assert.is(digitFromInfo('application/dtmf-relay', 'Signal=11\r\n'), '#');
  assert.is(digitFromInfo('application/dtmf', '*'), '*');
  assert.is(digitFromInfo('application/dtmf', 'a'), 'A');
});

test('other INFO bodies and garbage give no digit', () => {
  assert.is(digitFromInfo('application/media_control+xml', '<media_control/>'), null);
  assert.is(digitFromInfo(undefined, ''), null);
  assert.is(digitFromInfo('application/dtmf-relay', 'Duration=160'), null);
  assert.is(digitFromInfo('application/dtmf-relay', 'Signal=55'), null);
});

test.run();
