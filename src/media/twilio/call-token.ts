/**
 * Short-lived per-call tokens. The voice webhook (whose Twilio signature was checked) issues one for the
 * call's CallSid and passes it as a `<Parameter>` of `<Connect><Stream>`; the media WebSocket checks it at
 * the `start` message against `start.callSid`. That authenticates the stream even where Twilio does not sign
 * the WebSocket upgrade, and a token cannot be used for another call or after it expires. The caller's number
 * travels as its own `<Parameter>` and is covered by the signature, so it cannot be changed on the way.
 * A token opens one stream only: CallTokenLedger consumes it at `start`, across nodes.
 *
 * Format: `base64url(callSid) "." expiry-ms-base36 "." base64url(HMAC-SHA256(secret, signed))` where signed
 * is `base64url(callSid) "." expiry "." base64url(from)`; ~100 characters for a Twilio CallSid, well within
 * the 500-character `<Parameter>` limit (the number itself is not repeated in the token).
 * Written by hand: a JWT library would add a header and algorithm negotiation for no benefit here.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../../log.js';
import type { SharedState } from '../../emr/shared-state.js';

export class CallTokenError extends Error {
  constructor(readonly code: 'weak-secret' | 'invalid-argument', message: string) {
    super(message);
    this.name = 'CallTokenError';
  }
}

export type CallTokenVerdict =
  | { ok: true; expiresAt: number }
  | { ok: false; reason: 'malformed' | 'bad-signature' | 'expired' | 'wrong-call' };

/** What the token is checked against: the `start` message's callSid and the `from` parameter it carries. */
export interface CallTokenClaims {
  callSid: string;
  /** The webhook's From (empty when Twilio sent none). */
  from: string;
}

export interface IssueCallTokenOptions {
  callSid: string;
  /** The caller's number as the webhook received it (signed, not embedded). */
  from: string;
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

function signedInput(tokenPrefix: string, from: string): string {
  return `${tokenPrefix}.${Buffer.from(from, 'utf8').toString('base64url')}`;
}

function mac(secret: string | Uint8Array, signedPart: string): Buffer {
  return createHmac('sha256', secret).update(signedPart, 'utf8').digest();
}

export function issueCallToken(secret: string | Uint8Array, options: IssueCallTokenOptions): string {
  checkSecret(secret);
  const { callSid, from, ttlSeconds } = options;
  const now = options.now ?? Date.now();
  if (typeof callSid !== 'string' || callSid.length === 0) throw new CallTokenError('invalid-argument', 'callSid must be a non-empty string');
  if (typeof from !== 'string') throw new CallTokenError('invalid-argument', 'from must be a string');
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) throw new CallTokenError('invalid-argument', 'ttlSeconds must be positive');
  if (!Number.isFinite(now) || now < 0) throw new CallTokenError('invalid-argument', 'now must be epoch milliseconds');
  const expiresAt = Math.ceil(now + ttlSeconds * 1000);
  const signedPart = `${Buffer.from(callSid, 'utf8').toString('base64url')}.${expiresAt.toString(36)}`;
  return `${signedPart}.${mac(secret, signedInput(signedPart, from)).toString('base64url')}`;
}

/**
 * Checks a token for a call and caller number. The signature is checked before anything it covers is
 * believed, so a forged token (or a changed `from`) reads as 'bad-signature' whatever call or expiry it
 * claims. Throws only for a weak secret.
 */
export function verifyCallToken(
  secret: string | Uint8Array,
  token: unknown,
  claims: CallTokenClaims,
  now: number = Date.now(),
): CallTokenVerdict {
  const { callSid, from } = claims;
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
  if (typeof from !== 'string') return { ok: false, reason: 'malformed' };
  const expected = mac(secret, signedInput(`${encodedCallSid}.${encodedExpiry}`, from));
  if (!timingSafeEqual(presented, expected)) return { ok: false, reason: 'bad-signature' };
  if (Buffer.from(encodedCallSid, 'base64url').toString('utf8') !== callSid) return { ok: false, reason: 'wrong-call' };
  const expiresAt = parseInt(encodedExpiry, 36);
  if (now >= expiresAt) return { ok: false, reason: 'expired' };
  return { ok: true, expiresAt };
}

/** How long past its expiry a consumed token is still remembered (clock skew between nodes). */
const CONSUMED_MARGIN_MS = 60_000;

/**
 * One stream per token. `consume` marks a verified token as used, atomically across nodes (SET NX in the
 * shared state), for at least the token's remaining lifetime; a second stream with it is refused.
 *
 * Redis down at `start`: the call still goes ahead (refusing every call on the node because Redis is down
 * would end them all for a cache outage), and the token is remembered in a node-local set, so a replay on
 * this node is still refused. What is given up for the outage: a replay on another node within the token's
 * lifetime (two minutes by default) is not detected. Every consumption is also recorded locally, so a replay
 * on the same node is refused whatever Redis does.
 */
export class CallTokenLedger {
  private readonly local = new Map<string, number>();

  constructor(
    private readonly shared: SharedState,
    private readonly options: { logger?: Logger; now?: () => number } = {},
  ) {}

  async consume(token: string, expiresAt: number): Promise<'first-use' | 'replayed'> {
    const now = this.options.now?.() ?? Date.now();
    this.prune(now);
    const id = createHash('sha256').update(token, 'utf8').digest('base64url');
    if (this.local.has(id)) return 'replayed';
    const keepUntil = expiresAt + CONSUMED_MARGIN_MS;
    this.local.set(id, keepUntil);
    try {
      const first = await this.shared.setIfAbsent(`stream-token:${id}`, '1', Math.max(1, keepUntil - now));
      return first ? 'first-use' : 'replayed';
    } catch (err) {
      this.options.logger?.warn({ err: (err as Error).message },
        'shared state unavailable: stream token consumed on this node only (a replay on another node is not detected)');
      return 'first-use';
    }
  }

  private prune(now: number): void {
    // Insertion order is expiry order (one TTL for every token), so stop at the first one still kept.
    for (const [id, keepUntil] of this.local) {
      if (keepUntil > now) break;
      this.local.delete(id);
    }
  }
}
