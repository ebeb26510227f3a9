import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DigestChallenger, digestResponse, parseDigestParams } from './digest.js';

test('RFC 2617 3.5 and RFC 7616 3.9.1 test vectors', () => {
  assert.is(digestResponse({
    algorithm: 'MD5', username: 'Mufasa', realm: 'testrealm@host.com', password: 'Circle Of Life', method: 'GET',
    uri: '/dir/index.html', nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093', qop: 'auth', nc: '00000001', cnonce: '0a4f113b',
  }), '6629fae49393a05397450978507c4ef1');
  const rfc7616 = {
    username: 'Mufasa', realm: 'http-auth@example.org', password: 'Circle of Life', method: 'GET', uri: '/dir/index.html',
    nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v', qop: 'auth', nc: '00000001', cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  };
  assert.is(digestResponse({ ...rfc7616, algorithm: 'MD5' }), '8ca523f5e9506fed4657c9700eebdbec');
  assert.is(digestResponse({ ...rfc7616, algorithm: 'SHA-256' }), '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
});

test('quoted strings with escapes and unquoted tokens are parsed', () => {
  const params = parseDigestParams('Digest username="a\\"b", realm="r", nc=00000001, qop=auth, uri="sip:x@y"')!;
  assert.is(params.get('username'), 'a"b');
  assert.is(params.get('nc'), '00000001');
  assert.is(params.get('uri'), 'sip:x@y');
  assert.is(parseDigestParams('Basic abc'), null);
});

function answer(challenge: string, password: string, algorithm: 'MD5' | 'SHA-256' = 'MD5'): string {
  const nonce = parseDigestParams(challenge)!.get('nonce')!;
  const response = digestResponse({ algorithm, username: 'trunk', realm: 'carevox', password, method: 'INVITE', uri: 'sip:carevox@10.0.0.1', nonce, qop: 'auth', nc: '00000001', cnonce: 'abc' });
  return `Digest username="trunk", realm="carevox", nonce="${nonce}", uri="sip:carevox@10.0.0.1", response="${response}", algorithm=${algorithm}, qop=auth, nc=00000001, cnonce="abc"`;
}

test('a SIP round trip: challenge, right and wrong answers, SHA-256, a nonce from elsewhere, an expired nonce', () => {
  let now = 1_000_000;
  const challenger = new DigestChallenger('carevox', new Map([['trunk', 'pw']]), { now: () => now, nonceTtlMs: 60_000 });
  const [md5, sha] = challenger.challenges();
  assert.match(md5!, /algorithm=MD5/);
  assert.equal(challenger.verify(answer(md5!, 'pw'), 'INVITE'), { ok: true, user: 'trunk' });
  assert.equal(challenger.verify(answer(sha!, 'pw', 'SHA-256'), 'INVITE'), { ok: true, user: 'trunk' });
  assert.equal(challenger.verify(answer(md5!, 'nope'), 'INVITE'), { ok: false, reason: 'wrong-response' });
  assert.equal(challenger.verify(answer(md5!, 'pw'), 'BYE'), { ok: false, reason: 'wrong-response' }, 'the method is signed');
  const other = new DigestChallenger('carevox', new Map([['trunk', 'pw']]), { now: () => now });
  assert.equal(challenger.verify(answer(other.challenges()[0]!, 'pw'), 'INVITE'), { ok: false, reason: 'bad-nonce' });
  assert.equal(challenger.verify(undefined, 'INVITE'), { ok: false, reason: 'missing' });
  now += 120_000;
  assert.equal(challenger.verify(answer(md5!, 'pw'), 'INVITE'), { ok: false, reason: 'stale-nonce' });
  assert.match(challenger.challenges(true)[0]!, /stale=true/);
});

test.run();
