/**
 * OAuth2 tokens for OpenEMR. Access tokens come from a stored refresh token (set up once with `carevox emr login`,
 * authorization code + PKCE) or, where the clinic allows it, the password grant. OpenEMR revokes a refresh token
 * each time it is used, so the new one is persisted (compare-and-swap) before the access token is handed out, and
 * only one refresh runs at a time in this process. Tokens are never logged.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import { StaleTokenError, type TokenRepository } from '../store/index.js';
import { checkBaseUrl, httpRequest, parseJson } from './http.js';
import { EmrError } from './types.js';

export interface OAuthOptions {
  baseUrl: string;
  site: string;
  clientId: string;
  clientSecret?: string;
  scopes: string;
  /** Password grant credentials; without them only a stored refresh token (from `emr login`) is used. */
  credentials?: { username: string; password: string };
  tokens: TokenRepository;
  /** Row name in the token table. */
  tokenName?: string;
  timeoutMs: number;
  allowInsecureHttp?: boolean;
  logger?: Logger;
  fetch?: typeof fetch;
  now?: () => number;
}

export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  /** Epoch ms. */
  expiresAt: number;
  scope: string;
}

/** A revoked or expired refresh token, a refused client or bad credentials: a person must log in again. */
export class OAuthGrantError extends EmrError {
  constructor(readonly oauthError: string, message: string) {
    super('forbidden', message);
    this.name = 'OAuthGrantError';
  }
}

export interface PkcePair { verifier: string; challenge: string }

export function createPkcePair(): PkcePair {
  const verifier = randomBytes(48).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

const EXPIRY_MARGIN_MS = 60_000;

export class OAuthTokenManager {
  private current: TokenSet | undefined;
  private inflight: Promise<TokenSet> | undefined;
  private readonly tokenUrl: string;
  private readonly tokenName: string;
  private readonly now: () => number;

  constructor(private readonly options: OAuthOptions) {
    const base = checkBaseUrl(options.baseUrl, options.allowInsecureHttp ?? false);
    this.tokenUrl = new URL(`/oauth2/${options.site}/token`, base).toString();
    this.tokenName = options.tokenName ?? 'openemr';
    this.now = options.now ?? Date.now;
  }

  authorizeUrl(redirectUri: string, state: string, challenge: string): string {
    const url = new URL(`/oauth2/${this.options.site}/authorize`, this.options.baseUrl);
    url.search = new URLSearchParams({
      response_type: 'code', client_id: this.options.clientId, redirect_uri: redirectUri, scope: this.options.scopes,
      state, code_challenge: challenge, code_challenge_method: 'S256',
    }).toString();
    return url.toString();
  }

  /** Completes `emr login`: exchanges the code and stores the tokens, replacing whatever was stored. */
  async exchangeCode(code: string, verifier: string, redirectUri: string): Promise<void> {
    const tokens = await this.grant({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: redirectUri });
    await this.options.tokens.save(this.tokenName, JSON.stringify(tokens));
    this.current = tokens;
    this.options.logger?.info({ hasRefreshToken: Boolean(tokens.refreshToken) }, 'OpenEMR login stored');
  }

  async accessToken(): Promise<string> {
    if (this.current && this.current.expiresAt - EXPIRY_MARGIN_MS > this.now()) return this.current.accessToken;
    this.inflight ??= this.obtain().finally(() => { this.inflight = undefined; });
    return (await this.inflight).accessToken;
  }

  /** The API refused `accessToken` (401): forget it so the next call refreshes. */
  invalidate(accessToken: string): void {
    if (this.current?.accessToken === accessToken) this.current = { ...this.current, expiresAt: 0 };
  }

  private async obtain(): Promise<TokenSet> {
    const stored = await this.options.tokens.load(this.tokenName);
    const storedSet = stored ? JSON.parse(stored.value) as TokenSet : undefined;
    // Another node may already have refreshed: its access token is as good as ours.
    if (storedSet && storedSet.accessToken !== this.current?.accessToken && storedSet.expiresAt - EXPIRY_MARGIN_MS > this.now()) {
      return (this.current = storedSet);
    }
    let next: TokenSet | undefined;
    if (storedSet?.refreshToken) {
      try {
        next = await this.grant({ grant_type: 'refresh_token', refresh_token: storedSet.refreshToken });
        if (!next.refreshToken) next.refreshToken = storedSet.refreshToken;
      } catch (err) {
        if (!(err instanceof OAuthGrantError)) throw err;
        const again = await this.options.tokens.load(this.tokenName);
        if (again && stored && again.version !== stored.version) {
          // Lost a race with another node's refresh: use what it stored.
          const theirs = JSON.parse(again.value) as TokenSet;
          return (this.current = theirs);
        }
        if (!this.options.credentials) {
          this.options.logger?.error({ oauthError: err.oauthError }, 'OpenEMR refresh token rejected; run `carevox emr login`');
          throw err;
        }
        this.options.logger?.warn({ oauthError: err.oauthError }, 'OpenEMR refresh token rejected; falling back to the password grant');
      }
    }
    if (!next) {
      if (!this.options.credentials) throw new OAuthGrantError('login_required', 'no OpenEMR login stored: run `carevox emr login`');
      next = await this.grant({
        grant_type: 'password', user_role: 'users', username: this.options.credentials.username,
        password: this.options.credentials.password, scope: this.options.scopes,
      });
    }
    try {
      await this.options.tokens.save(this.tokenName, JSON.stringify(next), stored?.version);
    } catch (err) {
      if (!(err instanceof StaleTokenError)) throw err;
      const theirs = await this.options.tokens.load(this.tokenName);
      if (theirs) return (this.current = JSON.parse(theirs.value) as TokenSet);
    }
    return (this.current = next);
  }

  private async grant(params: Record<string, string>): Promise<TokenSet> {
    const form = new URLSearchParams({ ...params, client_id: this.options.clientId });
    if (this.options.clientSecret) form.set('client_secret', this.options.clientSecret);
    const res = await httpRequest(this.tokenUrl, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: form,
    }, { timeoutMs: this.options.timeoutMs, fetch: this.options.fetch });
    if (res.status >= 500) throw new EmrError('unavailable', `OpenEMR token endpoint answered ${res.status}`);
    if (res.status === 400 || res.status === 401) {
      let error = 'invalid_grant';
      try {
        const body = JSON.parse(res.text) as { error?: unknown };
        if (typeof body.error === 'string') error = body.error;
      } catch { /* empty or non-JSON error body */ }
      throw new OAuthGrantError(error, `OpenEMR refused the ${params.grant_type} grant (${error})`);
    }
    if (res.status !== 200) throw new EmrError('invalid-response', `OpenEMR token endpoint answered ${res.status}`);
    const body = parseJson(res.text, 'the token response') as Record<string, unknown>;
    if (typeof body?.access_token !== 'string' || typeof body.expires_in !== 'number') {
      throw new EmrError('invalid-response', 'OpenEMR token response lacks access_token/expires_in');
    }
    return {
      accessToken: body.access_token,
      refreshToken: typeof body.refresh_token === 'string' ? body.refresh_token : undefined,
      expiresAt: this.now() + body.expires_in * 1000,
      scope: typeof body.scope === 'string' ? body.scope : this.options.scopes,
    };
  }
}
