/**
 * SIP messages (RFC 3261 §7, §20, §25): parsing, the few header shapes a UAS needs, and serializing.
 * Hand-written: no maintained npm SIP stack works server-side over UDP/TCP (see ../shared notes). Headers keep
 * their order and repetitions; compact forms are expanded; folded lines are joined. A message too broken to
 * answer throws `SipParseError` with `respondable: false` (drop it); one whose dialog headers are intact but
 * something else is wrong throws with `respondable: true` and the partial request (answer 400).
 */
import { randomBytes } from 'node:crypto';

export const MAX_SIP_MESSAGE_BYTES = 65_535;

export interface SipHeaders {
  /** Lower-case full names -> values in order (a comma-separated list header gives one value per element). */
  readonly list: Array<[string, string]>;
}

interface SipBase { headers: Array<[string, string]>; body: Buffer }
export interface SipRequest extends SipBase { kind: 'request'; method: string; uri: string }
export interface SipResponse extends SipBase { kind: 'response'; status: number; reason: string }
export type SipMessage = SipRequest | SipResponse;

export type SipParseErrorCode = 'too-large' | 'bad-start-line' | 'bad-header' | 'missing-header' | 'bad-cseq' | 'bad-content-length' | 'bad-via';

export class SipParseError extends Error {
  constructor(readonly code: SipParseErrorCode, message: string, readonly respondable: boolean, readonly partial?: SipRequest) {
    super(message);
    this.name = 'SipParseError';
  }
}

const COMPACT: Record<string, string> = {
  i: 'call-id', m: 'contact', e: 'content-encoding', l: 'content-length', c: 'content-type', f: 'from',
  s: 'subject', k: 'supported', t: 'to', v: 'via', o: 'event', u: 'allow-events', r: 'refer-to', b: 'referred-by', x: 'session-expires',
};
/** Headers whose values are comma-separated lists (split so each element is one value). */
const LIST_HEADERS = new Set(['via', 'contact', 'route', 'record-route', 'supported', 'require', 'allow', 'proxy-require', 'unsupported', 'accept']);
const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/;

/** Parses one message (a datagram, or one framed message of a stream). */
export function parseSipMessage(data: Buffer): SipMessage {
  if (data.length > MAX_SIP_MESSAGE_BYTES) throw new SipParseError('too-large', `message of ${data.length} bytes`, false);
  let headEnd = data.indexOf('\r\n\r\n');
  let sepLength = 4;
  if (headEnd < 0) {
    // Tolerate bare LF line ends (RFC 3261 7.5 says CRLF; some test tools send LF).
    headEnd = data.indexOf('\n\n');
    sepLength = 2;
  }
  const headText = (headEnd < 0 ? data : data.subarray(0, headEnd)).toString('utf8');
  const lines = headText.split(/\r?\n/);
  while (lines.length > 0 && lines[0] === '') lines.shift(); // leading CRLFs are keep-alives (7.5)
  const startLine = lines.shift() ?? '';
  // Unfold first (a continuation line starts with whitespace), then split list headers into their elements.
  const unfolded: string[] = [];
  for (const line of lines) {
    if (/^[ \t]/.test(line) && unfolded.length > 0) unfolded[unfolded.length - 1] += ` ${line.trim()}`;
    else unfolded.push(line);
  }
  const headers: Array<[string, string]> = [];
  let badHeader: string | null = null;
  for (const line of unfolded) {
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    if (!name || !TOKEN.test(name)) { badHeader ??= line.slice(0, 40); continue; }
    const lower = name.toLowerCase();
    const full = COMPACT[lower] ?? lower;
    const value = line.slice(colon + 1).trim();
    if (LIST_HEADERS.has(full)) for (const part of splitList(value)) headers.push([full, part]);
    else headers.push([full, value]);
  }
  const bodyStart = headEnd < 0 ? data.length : headEnd + sepLength;
  let body = data.subarray(bodyStart);

  const response = /^SIP\/2\.0\s+(\d{3})\s*(.*)$/i.exec(startLine);
  const request = /^([A-Za-z0-9\-.!%*_+`'~]+)\s+(\S+)\s+SIP\/2\.0$/i.exec(startLine);
  if (!response && !request) throw new SipParseError('bad-start-line', 'not a SIP request or status line', false);

  const message: SipMessage = response
    ? { kind: 'response', status: Number(response[1]), reason: response[2]!, headers, body }
    : { kind: 'request', method: request![1]!.toUpperCase(), uri: request![2]!, headers, body };
  const respondable = message.kind === 'request' && ['via', 'from', 'to', 'call-id', 'cseq'].every((h) => header(message, h) !== undefined);
  const fail = (code: SipParseErrorCode, text: string): never => {
    throw new SipParseError(code, text, respondable, respondable ? message as SipRequest : undefined);
  };
  for (const name of ['via', 'from', 'to', 'call-id', 'cseq']) {
    if (header(message, name) === undefined) throw new SipParseError('missing-header', `no ${name} header`, false);
  }
  if (badHeader !== null) fail('bad-header', 'a header line without a name');
  const cseq = parseCSeq(message);
  if (!cseq) fail('bad-cseq', 'CSeq is not "number METHOD"');
  if (message.kind === 'request' && cseq!.method !== message.method && message.method !== 'ACK' && message.method !== 'CANCEL') {
    fail('bad-cseq', 'CSeq method differs from the request method');
  }
  if (!topVia(message)) fail('bad-via', 'the top Via is unreadable');
  const lengthText = header(message, 'content-length');
  if (lengthText !== undefined) {
    if (!/^\d+$/.test(lengthText)) fail('bad-content-length', 'Content-Length is not a number');
    const length = Number(lengthText);
    if (length > body.length) fail('bad-content-length', `Content-Length ${length} exceeds the ${body.length} bytes received`);
    body = body.subarray(0, length); // a datagram's trailing bytes are ignored (18.3)
  }
  message.body = body;
  return message;
}

/** Splits a list header value on commas outside quotes and angle brackets. */
export function splitList(value: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\' && quoted) { i++; continue; }
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === '<') depth++;
    else if (!quoted && c === '>') depth = Math.max(0, depth - 1);
    else if (!quoted && depth === 0 && c === ',') { parts.push(value.slice(start, i).trim()); start = i + 1; }
  }
  parts.push(value.slice(start).trim());
  return parts.filter(Boolean);
}

export function header(message: SipBase, name: string): string | undefined {
  const lower = name.toLowerCase();
  return message.headers.find(([n]) => n === lower)?.[1];
}

export function headers(message: SipBase, name: string): string[] {
  const lower = name.toLowerCase();
  return message.headers.filter(([n]) => n === lower).map(([, v]) => v);
}

export function parseCSeq(message: SipBase): { seq: number; method: string } | null {
  const match = /^(\d{1,10})\s+([A-Za-z0-9\-.!%*_+`'~]+)$/.exec(header(message, 'cseq') ?? '');
  // RFC 3261 8.1.1.5: the sequence number is below 2**31.
  return match && Number(match[1]) < 2 ** 31 ? { seq: Number(match[1]), method: match[2]!.toUpperCase() } : null;
}

export interface Via { transport: string; host: string; port?: number; params: Map<string, string> }

export function parseVia(value: string): Via | null {
  const match = /^SIP\s*\/\s*2\.0\s*\/\s*([A-Za-z]+)\s+(\[[^\]]+\]|[^;:\s]+)(?::(\d+))?\s*(.*)$/i.exec(value);
  if (!match) return null;
  return { transport: match[1]!.toUpperCase(), host: match[2]!, port: match[3] ? Number(match[3]) : undefined, params: parseParams(match[4]!) };
}

export function topVia(message: SipBase): Via | null {
  const value = header(message, 'via');
  return value ? parseVia(value) : null;
}

/** `;a=b;c` -> Map (names lower-cased, quotes kept off). */
export function parseParams(text: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const part of text.split(';')) {
    const trimmed = part.trim();
    if (!trimmed) continue;
    const eq = trimmed.indexOf('=');
    const name = (eq < 0 ? trimmed : trimmed.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? '' : trimmed.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    params.set(name, value);
  }
  return params;
}

export interface NameAddr { display?: string; uri: string; params: Map<string, string> }

/** `"Name" <sip:x@y;uri-param>;tag=1` or `sip:x@y;tag=1` (RFC 3261 20.10: without <> the params are header params). */
export function parseNameAddr(value: string): NameAddr | null {
  const angle = /^\s*(?:"((?:[^"\\]|\\.)*)"|([^<]*?))\s*<([^>]*)>(.*)$/.exec(value);
  if (angle) {
    const display = (angle[1] ?? angle[2] ?? '').trim() || undefined;
    return { display, uri: angle[3]!.trim(), params: parseParams(angle[4]!) };
  }
  const bare = /^\s*([^;\s]+)(.*)$/.exec(value);
  if (!bare || !/^[a-z][a-z0-9+.-]*:/i.test(bare[1]!)) return null;
  return { uri: bare[1]!, params: parseParams(bare[2]!) };
}

export function tagOf(value: string | undefined): string | undefined {
  return value ? parseNameAddr(value)?.params.get('tag') || undefined : undefined;
}

/** host and port of a sip:/sips: URI (for sending to a Contact or Route). */
export function uriHostPort(uri: string): { host: string; port?: number; transport?: string } | null {
  const match = /^sips?:(?:[^@]*@)?(\[[^\]]+\]|[^;:?>]+)(?::(\d+))?([^?>]*)/i.exec(uri.trim());
  if (!match) return null;
  const params = parseParams(match[3] ?? '');
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port: match[2] ? Number(match[2]) : undefined, transport: params.get('transport') };
}

export function serializeSipMessage(message: SipMessage): Buffer {
  const start = message.kind === 'request' ? `${message.method} ${message.uri} SIP/2.0` : `SIP/2.0 ${message.status} ${message.reason}`;
  const lines = [start];
  for (const [name, value] of message.headers) if (name !== 'content-length') lines.push(`${canonicalName(name)}: ${value}`);
  lines.push(`Content-Length: ${message.body.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), message.body]);
}

const CANONICAL: Record<string, string> = {
  'call-id': 'Call-ID', cseq: 'CSeq', 'www-authenticate': 'WWW-Authenticate', 'p-asserted-identity': 'P-Asserted-Identity', 'min-se': 'Min-SE',
};
function canonicalName(name: string): string {
  return CANONICAL[name] ?? name.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
}

/** A response to `request` (8.2.6): its Via list, From, To (with our tag when given), Call-ID and CSeq (and Record-Route, 12.1.1). */
export function buildResponse(request: SipRequest, status: number, reason: string, options: { toTag?: string; headers?: Record<string, string | string[]>; body?: string | Buffer; contentType?: string } = {}): SipResponse {
  const out: Array<[string, string]> = [];
  // A response that creates a dialog echoes the Record-Route (12.1.1): proxies in between stay in its path.
  const names = request.method === 'INVITE' && status > 100 && status < 300
    ? ['via', 'record-route', 'from', 'to', 'call-id', 'cseq'] : ['via', 'from', 'to', 'call-id', 'cseq'];
  for (const name of names) {
    for (const value of headers(request, name)) {
      out.push([name, name === 'to' && options.toTag && !tagOf(value) ? `${value};tag=${options.toTag}` : value]);
    }
  }
  appendHeaders(out, options.headers);
  const body = typeof options.body === 'string' ? Buffer.from(options.body) : options.body ?? Buffer.alloc(0);
  if (body.length > 0) out.push(['content-type', options.contentType ?? 'application/sdp']);
  return { kind: 'response', status, reason, headers: out, body };
}

export function buildRequest(method: string, uri: string, headerValues: Array<[string, string]>, body?: string | Buffer, contentType?: string): SipRequest {
  const out = headerValues.map(([n, v]) => [n.toLowerCase(), v] as [string, string]);
  const bytes = typeof body === 'string' ? Buffer.from(body) : body ?? Buffer.alloc(0);
  if (bytes.length > 0) out.push(['content-type', contentType ?? 'application/sdp']);
  return { kind: 'request', method, uri, headers: out, body: bytes };
}

function appendHeaders(out: Array<[string, string]>, extra: Record<string, string | string[]> | undefined): void {
  for (const [name, value] of Object.entries(extra ?? {})) {
    for (const v of Array.isArray(value) ? value : [value]) out.push([name.toLowerCase(), v]);
  }
}

export const newTag = () => randomBytes(6).toString('hex');
export const newBranch = () => `z9hG4bK${randomBytes(8).toString('hex')}`;
