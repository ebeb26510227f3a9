/**
 * Twilio request signatures (`X-Twilio-Signature`): base64(HMAC-SHA1(authToken, url + sorted key+value
 * pairs)), compared in constant time. Mirrors twilio-node's src/webhooks/webhooks.ts (URL normalisation,
 * repeated parameters, checking the URL with and without its default port).
 *
 * Written by hand rather than depending on the `twilio` package: this is a dozen lines on node:crypto,
 * while that package drags in an HTTP client and a JWT stack we would never use.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export class TwilioSignatureError extends Error {
  readonly code = 'invalid-url' as const;
  constructor(message: string) {
    super(message);
    this.name = 'TwilioSignatureError';
  }
}

/** Form parameters of the request; repeated keys (e.g. from @fastify/formbody) arrive as arrays. */
export type TwilioSignedParams = Readonly<Record<string, string | readonly string[]>>;

function signedData(url: string, params: TwilioSignedParams): string {
  let data = url;
  // Default sort (UTF-16 code units) and de-duplicated, sorted values: exactly what twilio-node does.
  for (const key of Object.keys(params).sort()) {
    const value = params[key];
    if (typeof value === 'string') {
      data += key + value;
    } else {
      for (const item of Array.from(new Set(value)).sort()) data += key + item;
    }
  }
  return data;
}

function parseUrl(fullUrl: string): URL {
  try {
    return new URL(fullUrl);
  } catch {
    throw new TwilioSignatureError('the signed URL is not an absolute URL');
  }
}

function signUrl(authToken: string, url: string, params: TwilioSignedParams): string {
  return createHmac('sha1', authToken).update(signedData(url, params), 'utf8').digest('base64');
}

/**
 * The signature Twilio puts on a request to `fullUrl` (scheme, host, path and query exactly as configured
 * in Twilio) with these POST form parameters (none for a GET or a WebSocket upgrade).
 */
export function computeTwilioSignature(authToken: string, fullUrl: string, params: TwilioSignedParams = {}): string {
  return signUrl(authToken, parseUrl(fullUrl).toString(), params);
}

const DEFAULT_PORTS: Record<string, string> = { 'https:': '443', 'wss:': '443', 'http:': '80', 'ws:': '80' };

/** The URL as Twilio may have signed it: with and without the scheme's default port. */
function urlVariants(url: URL): string[] {
  const withoutPort = new URL(url.toString());
  withoutPort.port = '';
  const variants = [withoutPort.toString()];
  const defaultPort = DEFAULT_PORTS[url.protocol];
  if (url.port !== '') {
    variants.push(url.toString());
  } else if (defaultPort !== undefined) {
    // WHATWG URL drops a default port on assignment, so the ":443" form is assembled by hand.
    const auth = url.username || url.password ? `${url.username}${url.password ? `:${url.password}` : ''}@` : '';
    variants.push(`${url.protocol}//${auth}${url.host}:${defaultPort}${url.pathname}${url.search}${url.hash}`);
  }
  return variants;
}

function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Whether `signatureHeader` is Twilio's signature for this request. False, never an exception, for a
 * missing or malformed header, an unparseable URL or an empty auth token.
 */
export function verifyTwilioSignature(
  authToken: string,
  signatureHeader: string | undefined | null,
  fullUrl: string,
  params: TwilioSignedParams = {},
): boolean {
  if (!authToken || !signatureHeader) return false;
  let url: URL;
  try {
    url = parseUrl(fullUrl);
  } catch {
    return false;
  }
  let valid = false;
  // Every variant is checked (no early exit) so timing does not reveal which one matched.
  for (const variant of urlVariants(url)) {
    if (constantTimeEqual(signatureHeader, signUrl(authToken, variant, params))) valid = true;
  }
  return valid;
}
