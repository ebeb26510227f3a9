import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { callerNumberFrom, numberFromIdentity } from './caller-id.js';

test('numbers from the shapes PBXs and trunks send', () => {
  assert.is(numberFromIdentity('"Jane" <sip:+15551234567@trunk.example.com;user=phone>;tag=1'), '+15551234567');
  assert.is(numberFromIdentity('<tel:+1-555-123-4567>'), '+15551234567');
  assert.is(numberFromIdentity('sip:5551234567@10.0.0.5;tag=abc'), '5551234567');
  assert.is(numberFromIdentity('<sip:%2B15551234567@pbx>'), '+15551234567');
  assert.is(numberFromIdentity('<sip:201@pbx.clinic.local>'), '201', 'an internal extension is still a number');
});

test('withheld, named or malformed identities give no number', () => {
  for (const value of ['"Anonymous" <sip:anonymous@anonymous.invalid>', '<sip:restricted@pbx>', '<sip:pbx.clinic.local>', 'garbage', '', undefined]) {
    assert.is(numberFromIdentity(value), undefined, String(value));
  }
});

test('P-Asserted-Identity wins over From; a tel identity in a list is found', () => {
  assert.is(callerNumberFrom({ pAssertedIdentity: ['<sip:+15550001111@trunk>'], from: '<sip:+15552223333@phone>' }), '+15550001111');
  assert.is(callerNumberFrom({ pAssertedIdentity: ['"X" <sip:anonymous@x.invalid>, <tel:+15550004444>'], from: '<sip:1@h>' }), '+15550004444');
  assert.is(callerNumberFrom({ pAssertedIdentity: [], from: '"Jo" <sip:5552223333@phone>;tag=9' }), '5552223333');
  assert.is(callerNumberFrom({ from: '<sip:anonymous@anonymous.invalid>' }), undefined);
});

test.run();
