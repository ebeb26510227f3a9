/**
 * The few TwiML documents this server answers Twilio's voice webhook with: connect the call to our media
 * stream, or, when that cannot be done, transfer to a person or say a short apology.
 *
 * Written by hand rather than with twilio-node's VoiceResponse: three fixed documents do not justify the
 * `twilio` package and its HTTP/JWT dependencies; the escaping rules below are the whole difficulty.
 */

export type TwimlErrorCode = 'invalid-stream-url' | 'invalid-parameter' | 'parameter-too-long' | 'invalid-number';

export class TwimlError extends Error {
  constructor(readonly code: TwimlErrorCode, message: string) {
    super(message);
    this.name = 'TwimlError';
  }
}

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';
/** Twilio's limit on one `<Parameter>`: name and value together must stay under 500 characters. */
export const MAX_STREAM_PARAMETER_LENGTH = 500;

// Characters XML 1.0 cannot carry at all (C0 controls other than tab/LF/CR, lone surrogates, U+FFFE/F).
const XML_FORBIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function escapeText(text: string): string {
  return text.replace(XML_FORBIDDEN, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Attribute values also escape quotes, and encode whitespace that XML would otherwise normalise away. */
function escapeAttribute(value: string): string {
  return escapeText(value)
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\t/g, '&#9;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;');
}

function document(body: string): string {
  return `${XML_DECLARATION}<Response>${body}</Response>`;
}

function validateStreamUrl(streamUrl: string): void {
  let url: URL;
  try {
    url = new URL(streamUrl);
  } catch {
    throw new TwimlError('invalid-stream-url', 'stream url is not an absolute URL');
  }
  if (url.protocol !== 'wss:') throw new TwimlError('invalid-stream-url', `stream url must use wss:// (got ${url.protocol}//)`);
  // Twilio error 31920: the <Stream> url may not carry a query string; data goes in <Parameter>s.
  if (streamUrl.includes('?') || url.search !== '') {
    throw new TwimlError('invalid-stream-url', 'stream url must not carry a query string (Twilio 31920); use parameters');
  }
  if (url.hash !== '' || streamUrl.includes('#')) throw new TwimlError('invalid-stream-url', 'stream url must not carry a fragment');
  if (url.username !== '' || url.password !== '') throw new TwimlError('invalid-stream-url', 'stream url must not carry credentials');
}

export interface ConnectStreamOptions {
  /** The media WebSocket, `wss://host/path`, no query string. */
  streamUrl: string;
  /** Delivered to the stream's `start.customParameters`; each name+value under 500 characters. */
  parameters: Record<string, string>;
  /** Optional `statusCallback` URL of the `<Stream>` (Twilio posts stream start/stop/error to it). */
  statusCallback?: string;
  /**
   * TwiML verbs to run when the stream ends (Twilio continues after `</Connect>`), e.g. `sayVerb(...)` or
   * `dialVerb(...)`. Inserted as is: pass only fragments built by this module, never caller input.
   */
  afterStream?: string;
}

/** `<Connect><Stream>` the call to our media WebSocket (bidirectional audio). */
export function connectStreamTwiml(options: ConnectStreamOptions): string {
  validateStreamUrl(options.streamUrl);
  let parameters = '';
  for (const [name, value] of Object.entries(options.parameters)) {
    if (name.length === 0) throw new TwimlError('invalid-parameter', 'stream parameter names must not be empty');
    if (typeof value !== 'string') throw new TwimlError('invalid-parameter', `stream parameter "${name}" must be a string`);
    if (name.length + value.length >= MAX_STREAM_PARAMETER_LENGTH) {
      throw new TwimlError('parameter-too-long',
        `stream parameter "${name.slice(0, 40)}": name and value together must be under ${MAX_STREAM_PARAMETER_LENGTH} characters`);
    }
    parameters += `<Parameter name="${escapeAttribute(name)}" value="${escapeAttribute(value)}"/>`;
  }
  let streamAttributes = `url="${escapeAttribute(options.streamUrl)}"`;
  if (options.statusCallback !== undefined) {
    streamAttributes += ` statusCallback="${escapeAttribute(options.statusCallback)}"`;
  }
  return document(`<Connect><Stream ${streamAttributes}>${parameters}</Stream></Connect>${options.afterStream ?? ''}`);
}

const PHONE_NUMBER = /^\+?[0-9]{2,15}$/;

function validateNumber(what: string, number: string): void {
  if (!PHONE_NUMBER.test(number)) throw new TwimlError('invalid-number', `${what} must be a phone number in E.164 form (+ and digits)`);
}

export interface DialOptions {
  /** The number shown to the person called; must be a number verified in or bought from Twilio. */
  callerId?: string;
  /** Seconds to ring before giving up (Twilio default 30). */
  timeoutSeconds?: number;
}

/** A `<Dial>` verb fragment (for `afterStream` or `dialTwiml`). */
export function dialVerb(number: string, options: DialOptions = {}): string {
  validateNumber('the number to dial', number);
  let attributes = '';
  if (options.callerId !== undefined) {
    validateNumber('callerId', options.callerId);
    attributes += ` callerId="${escapeAttribute(options.callerId)}"`;
  }
  if (options.timeoutSeconds !== undefined) {
    if (!Number.isInteger(options.timeoutSeconds) || options.timeoutSeconds < 5 || options.timeoutSeconds > 600) {
      throw new TwimlError('invalid-parameter', 'dial timeout must be an integer between 5 and 600 seconds');
    }
    attributes += ` timeout="${options.timeoutSeconds}"`;
  }
  return `<Dial${attributes}>${escapeText(number)}</Dial>`;
}

/** Transfer the call to a person (fallback when the media server cannot take it). */
export function dialTwiml(number: string, options: DialOptions = {}): string {
  return document(dialVerb(number, options));
}

export interface SayOptions {
  /** Twilio voice name, e.g. "Polly.Joanna"; Twilio's default when absent. */
  voice?: string;
  /** BCP-47 language, e.g. "en-US". */
  language?: string;
}

/** A `<Say>` verb fragment; the text is escaped (characters XML cannot carry are dropped). */
export function sayVerb(text: string, options: SayOptions = {}): string {
  let attributes = '';
  if (options.voice !== undefined) attributes += ` voice="${escapeAttribute(options.voice)}"`;
  if (options.language !== undefined) attributes += ` language="${escapeAttribute(options.language)}"`;
  return `<Say${attributes}>${escapeText(text)}</Say>`;
}

/** Say something and hang up (error fallback). */
export function sayTwiml(text: string, options: SayOptions = {}): string {
  return document(sayVerb(text, options));
}
