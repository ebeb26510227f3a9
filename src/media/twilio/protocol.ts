/**
 * The Twilio Media Streams wire format (bidirectional `<Connect><Stream>`), kept apart from the transport:
 * parsing of Twilio's JSON text frames into typed events, serializers for what we send back, and builders
 * of Twilio's own messages for test doubles and benchmarks. See shared/notes/twilio-media-streams.md.
 *
 * Written by hand: Twilio publishes no parser for this protocol (twilio-node only covers REST and TwiML).
 *
 * Inbound is parsed strictly where a mistake would corrupt the call (event name, counters, payload) and
 * leniently where Twilio may add things (unknown extra fields are ignored). Counters arrive as JSON strings
 * ("4"); a plain JSON integer is accepted too so that a future change on Twilio's side does not drop calls.
 */

export type TwilioProtocolErrorCode =
  | 'binary-frame'
  | 'invalid-json'
  | 'unknown-event'
  | 'missing-field'
  | 'invalid-field';

/** A frame that is not a valid Twilio Media Streams message. `field` is the dotted path of the culprit. */
export class TwilioProtocolError extends Error {
  constructor(readonly code: TwilioProtocolErrorCode, message: string, readonly field?: string) {
    super(message);
    this.name = 'TwilioProtocolError';
  }
}

export interface TwilioMediaFormat {
  encoding: string;
  sampleRate: number;
  channels: number;
}

export interface TwilioConnectedEvent {
  event: 'connected';
  protocol: string;
  version: string;
}

export interface TwilioStartEvent {
  event: 'start';
  sequenceNumber: number;
  streamSid: string;
  accountSid: string;
  callSid: string;
  tracks: string[];
  /** The `<Parameter>`s of the TwiML; may carry secrets (call token) and patient context: never log. */
  customParameters: Record<string, string>;
  mediaFormat: TwilioMediaFormat;
}

export interface TwilioMediaEvent {
  event: 'media';
  sequenceNumber: number;
  streamSid: string;
  track: string;
  /** Twilio's chunk counter, 1 for the first media message of the stream. */
  chunk: number;
  /** Milliseconds since the stream started, by Twilio's clock: use it rather than arrival time. */
  timestampMs: number;
  /** Raw mu-law bytes (8 kHz), usually 160 = 20 ms. May be a view into a shared pool: honour byteOffset. */
  payload: Uint8Array;
}

export interface TwilioDtmfEvent {
  event: 'dtmf';
  sequenceNumber: number;
  streamSid: string;
  track: string;
  digit: string;
}

/** Twilio's echo of a mark we sent: the audio before it has played (or was cleared). */
export interface TwilioMarkEvent {
  event: 'mark';
  sequenceNumber: number;
  streamSid: string;
  name: string;
}

export interface TwilioStopEvent {
  event: 'stop';
  sequenceNumber: number;
  streamSid: string;
  accountSid: string;
  callSid: string;
}

export type TwilioInbound =
  | TwilioConnectedEvent
  | TwilioStartEvent
  | TwilioMediaEvent
  | TwilioDtmfEvent
  | TwilioMarkEvent
  | TwilioStopEvent;

export type TwilioInboundEventName = TwilioInbound['event'];

/** The only format this server handles: what Twilio sends for `<Connect><Stream>`. */
export const TWILIO_MEDIA_FORMAT: Readonly<TwilioMediaFormat> = Object.freeze({
  encoding: 'audio/x-mulaw',
  sampleRate: 8000,
  channels: 1,
});

// ---------------------------------------------------------------------------------------------------------
// Parsing

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function missing(path: string): TwilioProtocolError {
  return new TwilioProtocolError('missing-field', `missing field "${path}"`, path);
}

function invalid(path: string, expected: string): TwilioProtocolError {
  return new TwilioProtocolError('invalid-field', `field "${path}" must be ${expected}`, path);
}

function objectField(parent: JsonObject, key: string, path: string): JsonObject {
  const value = parent[key];
  if (value === undefined) throw missing(path);
  if (!isObject(value)) throw invalid(path, 'an object');
  return value;
}

function stringField(parent: JsonObject, key: string, path: string): string {
  const value = parent[key];
  if (value === undefined) throw missing(path);
  if (typeof value !== 'string') throw invalid(path, 'a string');
  return value;
}

function nonEmptyStringField(parent: JsonObject, key: string, path: string): string {
  const value = stringField(parent, key, path);
  if (value.length === 0) throw invalid(path, 'a non-empty string');
  return value;
}

const DECIMAL_COUNTER = /^(0|[1-9][0-9]{0,15})$/;

/** Twilio's counters: a decimal string ("42"); a non-negative JSON integer is tolerated. */
function counterField(parent: JsonObject, key: string, path: string): number {
  const value = parent[key];
  if (value === undefined) throw missing(path);
  if (typeof value === 'string') {
    if (DECIMAL_COUNTER.test(value)) {
      const parsed = Number(value);
      if (Number.isSafeInteger(parsed)) return parsed;
    }
  } else if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) {
    return value;
  }
  throw invalid(path, 'a non-negative integer (as a decimal string)');
}

function numberField(parent: JsonObject, key: string, path: string): number {
  const value = parent[key];
  if (value === undefined) throw missing(path);
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(path, 'a number');
  return value;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function payloadField(parent: JsonObject, key: string, path: string): Uint8Array {
  const value = stringField(parent, key, path);
  if (value.length === 0) throw invalid(path, 'non-empty base64 audio');
  // Buffer.from(…, 'base64') silently skips bad characters, so the alphabet and padding are checked first.
  if (!BASE64.test(value)) throw invalid(path, 'base64');
  return Buffer.from(value, 'base64');
}

function stringRecordField(parent: JsonObject, key: string, path: string): Record<string, string> {
  const value = parent[key];
  if (value === undefined) return {}; // Twilio omits nothing here in practice, but no parameters is valid
  if (!isObject(value)) throw invalid(path, 'an object of strings');
  const record: Record<string, string> = {};
  for (const [name, parameter] of Object.entries(value)) {
    if (typeof parameter !== 'string') throw invalid(`${path}.${name}`, 'a string');
    record[name] = parameter;
  }
  return record;
}

function stringArrayField(parent: JsonObject, key: string, path: string): string[] {
  const value = parent[key];
  if (value === undefined) throw missing(path);
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw invalid(path, 'an array of strings');
  }
  return value as string[];
}

const DTMF_DIGIT = /^[0-9*#A-Da-d]$/;

function parseStart(message: JsonObject): TwilioStartEvent {
  const sequenceNumber = counterField(message, 'sequenceNumber', 'sequenceNumber');
  const start = objectField(message, 'start', 'start');
  // Twilio documents start.streamSid; its samples also repeat it at top level: optional, but must agree.
  const streamSid = nonEmptyStringField(start, 'streamSid', 'start.streamSid');
  if (message.streamSid !== undefined && message.streamSid !== streamSid) throw invalid('streamSid', 'equal to start.streamSid');
  const format = objectField(start, 'mediaFormat', 'start.mediaFormat');
  return {
    event: 'start',
    sequenceNumber,
    streamSid,
    accountSid: nonEmptyStringField(start, 'accountSid', 'start.accountSid'),
    callSid: nonEmptyStringField(start, 'callSid', 'start.callSid'),
    tracks: stringArrayField(start, 'tracks', 'start.tracks'),
    customParameters: stringRecordField(start, 'customParameters', 'start.customParameters'),
    mediaFormat: {
      encoding: stringField(format, 'encoding', 'start.mediaFormat.encoding'),
      sampleRate: numberField(format, 'sampleRate', 'start.mediaFormat.sampleRate'),
      channels: numberField(format, 'channels', 'start.mediaFormat.channels'),
    },
  };
}

function parseMedia(message: JsonObject): TwilioMediaEvent {
  const sequenceNumber = counterField(message, 'sequenceNumber', 'sequenceNumber');
  const streamSid = nonEmptyStringField(message, 'streamSid', 'streamSid');
  const media = objectField(message, 'media', 'media');
  return {
    event: 'media',
    sequenceNumber,
    streamSid,
    track: stringField(media, 'track', 'media.track'),
    chunk: counterField(media, 'chunk', 'media.chunk'),
    timestampMs: counterField(media, 'timestamp', 'media.timestamp'),
    payload: payloadField(media, 'payload', 'media.payload'),
  };
}

function parseDtmf(message: JsonObject): TwilioDtmfEvent {
  const sequenceNumber = counterField(message, 'sequenceNumber', 'sequenceNumber');
  const streamSid = nonEmptyStringField(message, 'streamSid', 'streamSid');
  const dtmf = objectField(message, 'dtmf', 'dtmf');
  const digit = stringField(dtmf, 'digit', 'dtmf.digit');
  if (!DTMF_DIGIT.test(digit)) throw invalid('dtmf.digit', 'one of 0-9 * # A-D');
  return { event: 'dtmf', sequenceNumber, streamSid, track: stringField(dtmf, 'track', 'dtmf.track'), digit: digit.toUpperCase() };
}

function parseMark(message: JsonObject): TwilioMarkEvent {
  const sequenceNumber = counterField(message, 'sequenceNumber', 'sequenceNumber');
  const streamSid = nonEmptyStringField(message, 'streamSid', 'streamSid');
  const mark = objectField(message, 'mark', 'mark');
  return { event: 'mark', sequenceNumber, streamSid, name: stringField(mark, 'name', 'mark.name') };
}

function parseStop(message: JsonObject): TwilioStopEvent {
  const sequenceNumber = counterField(message, 'sequenceNumber', 'sequenceNumber');
  const streamSid = nonEmptyStringField(message, 'streamSid', 'streamSid');
  const stop = objectField(message, 'stop', 'stop');
  return {
    event: 'stop',
    sequenceNumber,
    streamSid,
    accountSid: nonEmptyStringField(stop, 'accountSid', 'stop.accountSid'),
    callSid: nonEmptyStringField(stop, 'callSid', 'stop.callSid'),
  };
}

function parseConnected(message: JsonObject): TwilioConnectedEvent {
  return {
    event: 'connected',
    protocol: stringField(message, 'protocol', 'protocol'),
    version: stringField(message, 'version', 'version'),
  };
}

/** Text of a frame as `ws` hands it over (string, Buffer, ArrayBuffer or fragments). */
function frameText(raw: string | Buffer | ArrayBuffer | Buffer[]): string {
  if (typeof raw === 'string') return raw;
  if (Array.isArray(raw)) return Buffer.concat(raw).toString('utf8');
  if (raw instanceof ArrayBuffer) return Buffer.from(raw).toString('utf8');
  return raw.toString('utf8');
}

/**
 * Parses one WebSocket frame from Twilio. `isBinary` is the frame type as reported by the socket (ws gives
 * it to 'message' listeners); Twilio only sends text frames. Throws TwilioProtocolError on anything else.
 */
export function parseTwilioMessage(raw: string | Buffer | ArrayBuffer | Buffer[], isBinary: boolean): TwilioInbound {
  if (isBinary) throw new TwilioProtocolError('binary-frame', 'binary WebSocket frame: Twilio sends JSON text frames only');
  let message: unknown;
  try {
    message = JSON.parse(frameText(raw));
  } catch {
    throw new TwilioProtocolError('invalid-json', 'frame is not valid JSON');
  }
  if (!isObject(message)) throw new TwilioProtocolError('invalid-json', 'frame is not a JSON object');
  const event = message.event;
  if (event === undefined) throw missing('event');
  if (typeof event !== 'string') throw invalid('event', 'a string');
  switch (event) {
    case 'media': return parseMedia(message); // first: by far the most frequent
    case 'mark': return parseMark(message);
    case 'dtmf': return parseDtmf(message);
    case 'start': return parseStart(message);
    case 'stop': return parseStop(message);
    case 'connected': return parseConnected(message);
    default:
      throw new TwilioProtocolError('unknown-event', `unknown event "${event.slice(0, 40)}"`, 'event');
  }
}

/** null when the stream carries 8 kHz mono mu-law (all this server speaks), else why it cannot be used. */
export function validateMediaFormat(start: Pick<TwilioStartEvent, 'mediaFormat'>): string | null {
  const { encoding, sampleRate, channels } = start.mediaFormat;
  const problems: string[] = [];
  if (encoding !== TWILIO_MEDIA_FORMAT.encoding) problems.push(`encoding "${encoding}" (expected "${TWILIO_MEDIA_FORMAT.encoding}")`);
  if (sampleRate !== TWILIO_MEDIA_FORMAT.sampleRate) problems.push(`sample rate ${sampleRate} Hz (expected ${TWILIO_MEDIA_FORMAT.sampleRate})`);
  if (channels !== TWILIO_MEDIA_FORMAT.channels) problems.push(`${channels} channels (expected ${TWILIO_MEDIA_FORMAT.channels})`);
  return problems.length === 0 ? null : `unsupported media format: ${problems.join(', ')}`;
}

// ---------------------------------------------------------------------------------------------------------
// Serializers (server -> Twilio): exactly the documented fields, nothing more (extra fields are errors).

function base64(bytes: Uint8Array): string {
  // A Buffer view over the same memory: no copy.
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** `{"event":"media","streamSid":S,"media":{"payload":B64}}` carrying raw 8 kHz mu-law. */
export function serializeMedia(streamSid: string, mulaw: Uint8Array): string {
  return `{"event":"media","streamSid":${JSON.stringify(streamSid)},"media":{"payload":"${base64(mulaw)}"}}`;
}

/** `{"event":"mark","streamSid":S,"mark":{"name":N}}`: Twilio echoes it once the audio before it has played. */
export function serializeMark(streamSid: string, name: string): string {
  return `{"event":"mark","streamSid":${JSON.stringify(streamSid)},"mark":{"name":${JSON.stringify(name)}}}`;
}

/** `{"event":"clear","streamSid":S}`: empties Twilio's playback buffer; every pending mark is echoed. */
export function serializeClear(streamSid: string): string {
  return `{"event":"clear","streamSid":${JSON.stringify(streamSid)}}`;
}

// ---------------------------------------------------------------------------------------------------------
// Builders of Twilio's own messages (Twilio -> server), for the Twilio caller double and benchmarks.
// They produce the JSON text Twilio sends, counters as strings, field order as in Twilio's docs.

export interface BuildStartOptions {
  streamSid: string;
  callSid: string;
  accountSid: string;
  customParameters?: Record<string, string>;
  mediaFormat?: TwilioMediaFormat;
  tracks?: string[];
  sequenceNumber: number;
}

export interface BuildMediaOptions {
  streamSid: string;
  sequenceNumber: number;
  chunk: number;
  timestampMs: number;
  payload: Uint8Array;
  track?: string;
}

export interface BuildDtmfOptions {
  streamSid: string;
  sequenceNumber: number;
  digit: string;
}

export interface BuildMarkOptions {
  streamSid: string;
  sequenceNumber: number;
  name: string;
}

export interface BuildStopOptions {
  streamSid: string;
  sequenceNumber: number;
  accountSid: string;
  callSid: string;
}

export function buildConnected(): string {
  return JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' });
}

export function buildStart(options: BuildStartOptions): string {
  return JSON.stringify({
    event: 'start',
    sequenceNumber: String(options.sequenceNumber),
    start: {
      accountSid: options.accountSid,
      streamSid: options.streamSid,
      callSid: options.callSid,
      tracks: options.tracks ?? ['inbound'],
      customParameters: options.customParameters ?? {},
      mediaFormat: options.mediaFormat ?? { ...TWILIO_MEDIA_FORMAT },
    },
    streamSid: options.streamSid,
  });
}

export function buildMedia(options: BuildMediaOptions): string {
  return `{"event":"media","sequenceNumber":"${options.sequenceNumber}","media":{"track":${JSON.stringify(options.track ?? 'inbound')},`
    + `"chunk":"${options.chunk}","timestamp":"${options.timestampMs}","payload":"${base64(options.payload)}"},`
    + `"streamSid":${JSON.stringify(options.streamSid)}}`;
}

export function buildDtmf(options: BuildDtmfOptions): string {
  return JSON.stringify({
    event: 'dtmf',
    streamSid: options.streamSid,
    sequenceNumber: String(options.sequenceNumber),
    dtmf: { track: 'inbound_track', digit: options.digit },
  });
}

export function buildMark(options: BuildMarkOptions): string {
  return JSON.stringify({
    event: 'mark',
    sequenceNumber: String(options.sequenceNumber),
    streamSid: options.streamSid,
    mark: { name: options.name },
  });
}

export function buildStop(options: BuildStopOptions): string {
  return JSON.stringify({
    event: 'stop',
    sequenceNumber: String(options.sequenceNumber),
    stop: { accountSid: options.accountSid, callSid: options.callSid },
    streamSid: options.streamSid,
  });
}
