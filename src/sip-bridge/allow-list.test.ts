import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AllowListError, SourceAllowList } from './allow-list.js';

test('addresses and CIDRs of both families are allowed; anything else is not', () => {
  const list = new SourceAllowList('127.0.0.0/8, 192.0.2.7 ,::1, 2001:db8::/32');
  for (const ok of ['127.0.0.1', '127.255.0.9', '192.0.2.7', '::1', '2001:db8::5', '::ffff:127.0.0.1']) assert.ok(list.allows(ok), ok);
  for (const no of ['192.0.2.8', '10.0.0.1', '::2', '2001:db9::1', 'not-an-ip', '']) assert.not.ok(list.allows(no), no);
});

test('an empty list allows nobody', () => {
  assert.not.ok(new SourceAllowList('').allows('127.0.0.1'));
});

test('a bad entry is named in the error', () => {
  for (const bad of ['10.0.0.0/33', 'pbx.clinic.local', '10.0.0.0/8/1', '::1/129', '10.0.0.0/x']) {
    assert.throws(() => new SourceAllowList(`127.0.0.1,${bad}`), (err: unknown) => err instanceof AllowListError && err.entry === bad, bad);
  }
});

test.run();
