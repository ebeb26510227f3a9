/**
 * Short-lived per-call tokens. The voice webhook (whose Twilio signature was checked) issues one for the
 * call's CallSid and passes it as a `<Parameter>` of `<Connect><Stream>`; the media WebSocket checks it at
 * the `start` message against `start.callSid`. That authenticates the stream even where Twilio does not sign
 * the WebSocket upgrade, and a token cannot be replayed for another call or after it expires.
 *
 * Format: `base64url(callSid) "." expiry-ms-base36 "." base64url(HMAC-SHA256(secret, first two parts))`,
 * ~100 characters for a Twilio CallSid, well within the 500-character `<Parameter>` limit.
 * Written by hand: a JWT library would add a header and algorithm negotiation for no benefit here.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export class CallTokenError extends Error {
  constructor(readonly code: 'weak-secret' | 'invalid-argument', message: string) {
    super(message);
    this.name = 'CallTokenError';
  }
}

export type CallTokenVerdict =
  | { ok: true }
  | { ok: false; reason: 'malformed' | 'bad-signature' | 'expired' | 'wrong-call' };

export interface IssueCallTokenOptions {
  callSid: string;
  ttlSeconds: number;
  /** Issue time, epoch milliseconds; defaults to Date.now(). */
  now?: number;
}

/** HMAC key strength floor: shorter secrets are a configuration error, not something to run with. */
export const MIN_CALL_TOKEN_SECRET_BYTES = 16;
const MAC_BYTES = 32;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const BASE36 = /^[0-9a-z]{1,12}$/;

function checkSecret(secret: string | Uint8Array): void {
  const length = typeof secret === 'string' ? Buffer.byteLength(secret, 'utf8') : secret.byteLength;
  if (length < MIN_CALL_TOKEN_SECRET_BYTES) {
    throw new CallTokenError('weak-secret', `call token secret must be at least ${MIN_CALL_TOKEN_SECRET_BYTES} bytes`);
  }
}

function mac(secret: string | Uint8Array, signedPart: string): Buffer {
  return createHmac('sha256', secret).update(signedPart, 'utf8').digest();
}

export function issueCallToken(secret: string | Uint8Array, options: IssueCallTokenOptions): string {
  checkSecret(secret);
  const { callSid, ttlSeconds } = options;
  const now = options.now ?? Date.now();
  if (typeof callSid !== 'string' || callSid.length === 0) throw new CallTokenError('invalid-argument', 'callSid must be a non-empty string');
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) throw new CallTokenError('invalid-argument', 'ttlSeconds must be positive');
  if (!Number.isFinite(now) || now < 0) throw new CallTokenError('invalid-argument', 'now must be epoch milliseconds');
  const expiresAt = Math.ceil(now + ttlSeconds * 1000);
  const signedPart = `${Buffer.from(callSid, 'utf8').toString('base64url')}.${expiresAt.toString(36)}`;
  return `${signedPart}.${mac(secret, signedPart).toString('base64url')}`;
}

/**
 * Checks a token for `callSid`. The signature is checked before anything it covers is believed, so a forged
 * token reads as 'bad-signature' whatever call or expiry it claims. Throws only for a weak secret.
 */
export function verifyCallToken(
  secret: string | Uint8Array,
  token: unknown,
  callSid: string,
  now: number = Date.now(),
): CallTokenVerdict {
  checkSecret(secret);
  if (typeof token !== 'string' || token.length > 1024) return { ok: false, reason: 'malformed' };
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'malformed' };
  const [encodedCallSid, encodedExpiry, encodedMac] = parts;
  if (!BASE64URL.test(encodedCallSid) || !BASE36.test(encodedExpiry) || !BASE64URL.test(encodedMac)) {
    return { ok: false, reason: 'malformed' };
  }
  const presented = Buffer.from(encodedMac, 'base64url');
  if (presented.length !== MAC_BYTES) return { ok: false, reason: 'malformed' };
  // Canonical encodings only, so one token has exactly one spelling.
  if (presented.toString('base64url') !== encodedMac) return { ok: false, reason: 'malformed' };
  const expected = mac(secret, `${encodedCallSid}.${encodedExpiry}`);
  if (!timingSafeEqual(presented, expected)) return { ok: false, reason: 'bad-signature' };
  if (Buffer.from(encodedCallSid, 'base64url').toString('utf8') !== callSid) return { ok: false, reason: 'wrong-call' };
  if (now >= parseInt(encodedExpiry, 36)) return { ok: false, reason: 'expired' };
  return { ok: true };
}
