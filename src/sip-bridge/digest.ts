/**
 * Digest authentication for trunks that authenticate (RFC 2617 / RFC 7616, with SHA-256 as RFC 8760 allows
 * for SIP), server side: a 407 challenge and the check of the Proxy-Authorization (or Authorization) that
 * answers it. Nonces are stateless (issue time + HMAC), so any node verifies any other's and nothing is stored;
 * an expired nonce is answered with a fresh challenge marked stale.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export type DigestAlgorithm = 'MD5' | 'SHA-256';
export type DigestVerdict =
  | { ok: true; user: string }
  | { ok: false; reason: 'missing' | 'bad-format' | 'unknown-user' | 'wrong-response' | 'stale-nonce' | 'realm-mismatch' | 'bad-nonce' };

const hash = (algorithm: DigestAlgorithm, text: string) => createHash(algorithm === 'MD5' ? 'md5' : 'sha256').update(text).digest('hex');

/** `Digest a="b", c=d` -> params (quoted strings unescaped). */
export function parseDigestParams(value: string): Map<string, string> | null {
  const match = /^\s*Digest\s+(.*)$/is.exec(value);
  if (!match) return null;
  const params = new Map<string, string>();
  const re = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*(?:,|$)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(match[1]!)) !== null) params.set(m[1]!.toLowerCase(), m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!);
  return params;
}

/** The response value for given parameters (RFC 7616 §3.4.1; no qop: RFC 2069's form). */
export function digestResponse(p: {
  algorithm: DigestAlgorithm; username: string; realm: string; password: string; method: string; uri: string;
  nonce: string; qop?: string; nc?: string; cnonce?: string;
}): string {
  const ha1 = hash(p.algorithm, `${p.username}:${p.realm}:${p.password}`);
  const ha2 = hash(p.algorithm, `${p.method}:${p.uri}`);
  return p.qop ? hash(p.algorithm, `${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`) : hash(p.algorithm, `${ha1}:${p.nonce}:${ha2}`);
}

export class DigestChallenger {
  private readonly secret: Buffer;

  constructor(
    private readonly realm: string,
    private readonly users: ReadonlyMap<string, string>,
    options: { secret?: Buffer; nonceTtlMs?: number; now?: () => number } = {},
  ) {
    this.secret = options.secret ?? randomBytes(32);
    this.nonceTtlMs = options.nonceTtlMs ?? 300_000;
    this.now = options.now ?? Date.now;
  }

  private readonly nonceTtlMs: number;
  private readonly now: () => number;

  /**
   * Header values for a 407 (or 401): one challenge per algorithm. MD5 comes first although RFC 8760 §2.4
   * prefers SHA-256 first: deployed trunks and tools (sipp among them) answer the first challenge only and
   * fail on SHA-256; a client that knows SHA-256 may still choose it, and both are verified.
   */
  challenges(stale = false): string[] {
    const nonce = this.nonce();
    return (['MD5', 'SHA-256'] as const).map((algorithm) =>
      `Digest realm="${this.realm}", nonce="${nonce}", algorithm=${algorithm}, qop="auth"${stale ? ', stale=true' : ''}`);
  }

  verify(value: string | undefined, method: string): DigestVerdict {
    if (!value) return { ok: false, reason: 'missing' };
    const params = parseDigestParams(value);
    const username = params?.get('username');
    const nonce = params?.get('nonce');
    const uri = params?.get('uri');
    const response = params?.get('response');
    if (!params || !username || !nonce || !uri || !response) return { ok: false, reason: 'bad-format' };
    if (params.get('realm') !== this.realm) return { ok: false, reason: 'realm-mismatch' };
    const nonceState = this.checkNonce(nonce);
    if (nonceState !== 'fresh') return { ok: false, reason: nonceState === 'stale' ? 'stale-nonce' : 'bad-nonce' };
    const password = this.users.get(username);
    if (password === undefined) return { ok: false, reason: 'unknown-user' };
    const algorithm = (params.get('algorithm') ?? 'MD5').toUpperCase() === 'SHA-256' ? 'SHA-256' : 'MD5';
    const qop = params.get('qop');
    const expected = digestResponse({
      algorithm, username, realm: this.realm, password, method, uri, nonce,
      qop: qop || undefined, nc: params.get('nc'), cnonce: params.get('cnonce'),
    });
    const a = Buffer.from(expected);
    const b = Buffer.from(response.toLowerCase());
    return a.length === b.length && timingSafeEqual(a, b) ? { ok: true, user: username } : { ok: false, reason: 'wrong-response' };
  }

  private nonce(): string {
    const issued = this.now().toString(36);
    return `${issued}.${createHmac('sha256', this.secret).update(issued).digest('base64url').slice(0, 22)}`;
  }

  private checkNonce(nonce: string): 'fresh' | 'stale' | 'bad' {
    const [issued, mac] = nonce.split('.');
    if (!issued || !mac) return 'bad';
    const expected = createHmac('sha256', this.secret).update(issued).digest('base64url').slice(0, 22);
    if (expected.length !== mac.length || !timingSafeEqual(Buffer.from(expected), Buffer.from(mac))) return 'bad';
    return this.now() - parseInt(issued, 36) > this.nonceTtlMs ? 'stale' : 'fresh';
  }
}

/** `user:password,user2:password2` (SIP_AUTH_USERS). */
export function parseAuthUsers(spec: string | undefined): Map<string, string> {
  const users = new Map<string, string>();
  for (const pair of (spec ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const colon = pair.indexOf(':');
    users.set(pair.slice(0, colon), pair.slice(colon + 1));
  }
  return users;
}
