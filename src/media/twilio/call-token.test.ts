import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHmac } from 'node:crypto';
import { CallTokenError, CallTokenLedger, issueCallToken, verifyCallToken } from './call-token.js';
import { MemorySharedState, SharedStateUnavailableError, type SharedState } from '../../emr/shared-state.js';

const SECRET = 'a-test-secret-of-sufficient-length';
const CALL = 'CA0123456789abcdef0123456789abcdef';
const FROM = '+15551230000';
const CLAIMS = { callSid: CALL, from: FROM };
const NOW = Date.UTC(2026, 0, 15, 9, 30);

test('a fresh token verifies for its call and caller until it expires', () => {
  const token = issueCallToken(SECRET, { callSid: CALL, from: FROM, ttlSeconds: 60, now: NOW });
  assert.ok(token.length < 120, `compact: ${token.length} chars`);
  assert.match(token, /^[A-Za-z0-9_-]+\.[0-9a-z]+\.[A-Za-z0-9_-]{43}$/);
  assert.not.ok(token.includes(Buffer.from(FROM).toString('base64url')), 'the number is signed, not carried');
  const valid = { ok: true, expiresAt: NOW + 60_000 };
  assert.equal(verifyCallToken(SECRET, token, CLAIMS, NOW), valid);
  assert.equal(verifyCallToken(SECRET, token, CLAIMS, NOW + 59_999), valid);
  assert.equal(verifyCallToken(SECRET, token, CLAIMS, NOW + 60_000), { ok: false, reason: 'expired' });
  assert.equal(verifyCallToken(SECRET, token, CLAIMS, NOW + 3_600_000), { ok: false, reason: 'expired' });
  // Default clock: issued now, valid now.
  assert.ok(verifyCallToken(SECRET, issueCallToken(SECRET, { callSid: CALL, from: FROM, ttlSeconds: 30 }), CLAIMS).ok);
  // Buffer secrets work the same as strings with the same bytes.
  assert.equal(verifyCallToken(Buffer.from(SECRET), token, CLAIMS, NOW), valid);
  // A call with no caller ID signs the empty number.
  const anonymous = issueCallToken(SECRET, { callSid: CALL, from: '', ttlSeconds: 60, now: NOW });
  assert.equal(verifyCallToken(SECRET, anonymous, { callSid: CALL, from: '' }, NOW), valid);
});

test('the signature is an HMAC-SHA256 over call, expiry and caller number (independent computation)', () => {
  const token = issueCallToken(SECRET, { callSid: CALL, from: FROM, ttlSeconds: 60, now: NOW });
  const [callPart, expiryPart, macPart] = token.split('.');
  assert.is(Buffer.from(callPart, 'base64url').toString(), CALL);
  assert.is(parseInt(expiryPart, 36), NOW + 60_000);
  const fromPart = Buffer.from(FROM).toString('base64url');
  assert.is(macPart, createHmac('sha256', SECRET).update(`${callPart}.${expiryPart}.${fromPart}`).digest('base64url'));
});

test('a changed caller number is refused', () => {
  const token = issueCallToken(SECRET, { callSid: CALL, from: FROM, ttlSeconds: 60, now: NOW });
  for (const from of ['+15559999999', '', `${FROM} `, '+1555123000']) {
    assert.equal(verifyCallToken(SECRET, token, { callSid: CALL, from }, NOW), { ok: false, reason: 'bad-signature' }, from);
  }
});

test('a token for another call is refused', () => {
  const token = issueCallToken(SECRET, { callSid: CALL, from: FROM, ttlSeconds: 60, now: NOW });
  assert.equal(verifyCallToken(SECRET, token, { callSid: 'CA9999999999abcdef0123456789abcdef', from: FROM }, NOW), { ok: false, reason: 'wrong-call' });
  assert.equal(verifyCallToken(SECRET, token, { callSid: '', from: FROM }, NOW), { ok: false, reason: 'wrong-call' });
});

test('tampering with any part, or another secret, breaks the signature', () => {
  const token = issueCallToken(SECRET, { callSid: CALL, from: FROM, ttlSeconds: 60, now: NOW });
  const [callPart, expiryPart, macPart] = token.split('.');
  const other = 'CA9999999999abcdef0123456789abcdef';
  const otherCall = Buffer.from(other).toString('base64url');
  const later = (NOW + 86_400_000).toString(36);
  const flipped = macPart.slice(0, 10) + (macPart[10] === 'A' ? 'B' : 'A') + macPart.slice(11);
  const bad = { ok: false, reason: 'bad-signature' };
  assert.equal(verifyCallToken(SECRET, `${otherCall}.${expiryPart}.${macPart}`, { callSid: other, from: FROM }, NOW), bad);
  assert.equal(verifyCallToken(SECRET, `${callPart}.${later}.${macPart}`, CLAIMS, NOW + 120_000), bad);
  assert.equal(verifyCallToken(SECRET, `${callPart}.${expiryPart}.${flipped}`, CLAIMS, NOW), bad);
  assert.equal(verifyCallToken('another-secret-of-sufficient-len', token, CLAIMS, NOW), bad);
  // A forged token claiming another call reads as a bad signature, not as 'wrong-call'.
  assert.equal(verifyCallToken(SECRET, `${otherCall}.${expiryPart}.${macPart}`, CLAIMS, NOW), bad);
});

test('malformed tokens are reported as such', () => {
  const token = issueCallToken(SECRET, { callSid: CALL, from: FROM, ttlSeconds: 60, now: NOW });
  const [callPart, expiryPart, macPart] = token.split('.');
  const malformed = { ok: false, reason: 'malformed' };
  for (const candidate of [
    '', 'abc', `${callPart}.${expiryPart}`, `${token}.x`, `${callPart}..${macPart}`, `.${expiryPart}.${macPart}`,
    `${callPart}.${expiryPart.toUpperCase()}.${macPart}`, `${callPart}.-1.${macPart}`, `${callPart}.${expiryPart}.${macPart.slice(0, 40)}`,
    `${callPart}.${expiryPart}.${macPart}AAAA`, `${callPart}+.${expiryPart}.${macPart}`, `${callPart}.${expiryPart}.${macPart.slice(0, 42)}=`,
    'x'.repeat(2000), 42, null, undefined, { token },
  ]) {
    assert.equal(verifyCallToken(SECRET, candidate, CLAIMS, NOW), malformed, `candidate ${String(candidate).slice(0, 60)}`);
  }
});

test('weak secrets and bad arguments are typed errors', () => {
  const isCode = (code: string) => (e: unknown) => e instanceof CallTokenError && e.code === code;
  assert.throws(() => issueCallToken('short', { callSid: CALL, from: FROM, ttlSeconds: 60 }), isCode('weak-secret'));
  assert.throws(() => verifyCallToken('', 'a.b.c', CLAIMS), isCode('weak-secret'));
  assert.throws(() => issueCallToken(SECRET, { callSid: '', from: FROM, ttlSeconds: 60 }), isCode('invalid-argument'));
  assert.throws(() => issueCallToken(SECRET, { callSid: CALL, from: FROM, ttlSeconds: 0 }), isCode('invalid-argument'));
  assert.throws(() => issueCallToken(SECRET, { callSid: CALL, from: FROM, ttlSeconds: Number.NaN }), isCode('invalid-argument'));
});

test('ledger: a token is consumed once, across ledgers sharing one state, until it has expired', async () => {
  let now = NOW;
  const shared = new MemorySharedState(() => now);
  const nodeA = new CallTokenLedger(shared, { now: () => now });
  const nodeB = new CallTokenLedger(shared, { now: () => now });
  const token = issueCallToken(SECRET, { callSid: CALL, from: FROM, ttlSeconds: 60, now: NOW });
  const expiresAt = NOW + 60_000;
  assert.is(await nodeA.consume(token, expiresAt), 'first-use');
  assert.is(await nodeA.consume(token, expiresAt), 'replayed', 'same node');
  assert.is(await nodeB.consume(token, expiresAt), 'replayed', 'another node');
  now = expiresAt + 1; // the token itself is refused from here on; the ledger still remembers it
  assert.is(await nodeB.consume(token, expiresAt), 'replayed', 'remembered past expiry');
  const other = issueCallToken(SECRET, { callSid: CALL, from: FROM, ttlSeconds: 60, now });
  assert.is(await nodeB.consume(other, now + 60_000), 'first-use');
});

test('ledger: with the shared state down the token is consumed on this node (the call goes ahead)', async () => {
  const down: SharedState = Object.assign(new MemorySharedState(), {
    setIfAbsent: async () => { throw new SharedStateUnavailableError('not-connected', 'redis is not connected'); },
  });
  const ledger = new CallTokenLedger(down);
  const token = issueCallToken(SECRET, { callSid: CALL, from: FROM, ttlSeconds: 60 });
  assert.is(await ledger.consume(token, Date.now() + 60_000), 'first-use');
  assert.is(await ledger.consume(token, Date.now() + 60_000), 'replayed');
});

test.run();
