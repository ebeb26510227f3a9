import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  buildConnected, buildDtmf, buildMark, buildMedia, buildStart, buildStop,
  parseTwilioMessage, serializeClear, serializeMark, serializeMedia, TwilioProtocolError, validateMediaFormat,
  type TwilioInbound, type TwilioProtocolErrorCode,
} from './protocol.js';

const STREAM = 'MZ18ad3ab5a668481ce02b83e7395059f0';
const CALL = 'CA0123456789abcdef0123456789abcdef';
const ACCOUNT = 'AC0123456789abcdef0123456789abcdef';

// Samples shaped exactly like the ones in Twilio's "Media Streams - WebSocket Messages" documentation.
const SAMPLES = {
  connected: { event: 'connected', protocol: 'Call', version: '1.0.0' },
  start: {
    event: 'start',
    sequenceNumber: '1',
    start: {
      accountSid: ACCOUNT,
      streamSid: STREAM,
      callSid: CALL,
      tracks: ['inbound'],
      mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      customParameters: { token: 'abc.def', clinic: 'north' },
    },
    streamSid: STREAM,
  },
  media: {
    event: 'media',
    sequenceNumber: '3',
    media: { track: 'inbound', chunk: '1', timestamp: '5', payload: 'no+JhoaJjpzSHxAKBgYJDhtEopGKh4aIjZm7JhILBwYIDRg1qZSLh4aIjJevLBUMBwYHCxUqtZeNiIaHioyXrw==' },
    streamSid: STREAM,
  },
  dtmf: { event: 'dtmf', streamSid: STREAM, sequenceNumber: '5', dtmf: { track: 'inbound_track', digit: '1' } },
  mark: { event: 'mark', sequenceNumber: '4', streamSid: STREAM, mark: { name: 'my label' } },
  stop: { event: 'stop', sequenceNumber: '5', stop: { accountSid: ACCOUNT, callSid: CALL }, streamSid: STREAM },
};

const parse = (message: unknown) => parseTwilioMessage(JSON.stringify(message), false);

test('parses every documented event into typed values', () => {
  assert.equal(parse(SAMPLES.connected), { event: 'connected', protocol: 'Call', version: '1.0.0' });
  assert.equal(parse(SAMPLES.start), {
    event: 'start', sequenceNumber: 1, streamSid: STREAM, accountSid: ACCOUNT, callSid: CALL, tracks: ['inbound'],
    customParameters: { token: 'abc.def', clinic: 'north' },
    mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
  });
  const media = parse(SAMPLES.media);
  assert.is(media.event, 'media');
  if (media.event !== 'media') return;
  assert.is(media.sequenceNumber, 3);
  assert.is(media.chunk, 1);
  assert.is(media.timestampMs, 5);
  assert.is(media.track, 'inbound');
  assert.is(media.streamSid, STREAM);
  assert.ok(media.payload instanceof Uint8Array);
  assert.equal(Array.from(media.payload), Array.from(Buffer.from(SAMPLES.media.media.payload, 'base64')));
  assert.equal(Array.from(media.payload.subarray(0, 3)), [0x9e, 0x8f, 0x89]);
  assert.equal(parse(SAMPLES.dtmf), { event: 'dtmf', sequenceNumber: 5, streamSid: STREAM, track: 'inbound_track', digit: '1' });
  assert.equal(parse(SAMPLES.mark), { event: 'mark', sequenceNumber: 4, streamSid: STREAM, name: 'my label' });
  assert.equal(parse(SAMPLES.stop), { event: 'stop', sequenceNumber: 5, streamSid: STREAM, accountSid: ACCOUNT, callSid: CALL });
});

test('accepts Buffer, ArrayBuffer and fragmented frames, and tolerates fields Twilio may add', () => {
  const text = JSON.stringify(SAMPLES.mark);
  const expected = parse(SAMPLES.mark);
  assert.equal(parseTwilioMessage(Buffer.from(text), false), expected);
  const bytes = new TextEncoder().encode(text);
  assert.equal(parseTwilioMessage(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, false), expected);
  assert.equal(parseTwilioMessage([Buffer.from(text.slice(0, 10)), Buffer.from(text.slice(10))], false), expected);
  assert.equal(parse({ ...SAMPLES.mark, extra: 1, mark: { name: 'my label', more: true } }), expected);
  // Counters as JSON integers are tolerated; DTMF letters normalised to upper case.
  const numeric = parse({ ...SAMPLES.media, sequenceNumber: 3, media: { ...SAMPLES.media.media, chunk: 1, timestamp: 5 } });
  assert.equal({ ...numeric, payload: null }, { ...parse(SAMPLES.media), payload: null });
  assert.is((parse({ ...SAMPLES.dtmf, dtmf: { track: 'inbound_track', digit: 'b' } }) as { digit: string }).digit, 'B');
  assert.is((parse({ ...SAMPLES.dtmf, dtmf: { track: 'inbound_track', digit: '#' } }) as { digit: string }).digit, '#');
  // The top-level streamSid of start is optional (Twilio documents only start.streamSid).
  const { streamSid: _top, ...startWithoutTopSid } = SAMPLES.start;
  assert.equal(parse(startWithoutTopSid), parse(SAMPLES.start));
  // customParameters absent is an empty set, not an error.
  const { customParameters: _dropped, ...startWithout } = SAMPLES.start.start;
  assert.equal((parse({ ...SAMPLES.start, start: startWithout }) as { customParameters: object }).customParameters, {});
});

function expectError(raw: string | Buffer, isBinary: boolean, code: TwilioProtocolErrorCode, field?: string): void {
  try {
    parseTwilioMessage(raw, isBinary);
  } catch (error) {
    assert.instance(error, TwilioProtocolError);
    const protocolError = error as TwilioProtocolError;
    assert.is(protocolError.code, code, `${raw.toString().slice(0, 80)}: ${protocolError.message}`);
    if (field !== undefined) {
      assert.is(protocolError.field, field);
      assert.ok(protocolError.message.includes(field), `message names the field: ${protocolError.message}`);
    }
    return;
  }
  assert.unreachable(`accepted malformed frame ${raw.toString().slice(0, 80)}`);
}

const withField = (sample: Record<string, unknown>, path: string, value: unknown): string => {
  const copy = JSON.parse(JSON.stringify(sample)) as Record<string, unknown>;
  const keys = path.split('.');
  let target = copy;
  for (const key of keys.slice(0, -1)) target = target[key] as Record<string, unknown>;
  if (value === undefined) delete target[keys[keys.length - 1]];
  else target[keys[keys.length - 1]] = value;
  return JSON.stringify(copy);
};

test('rejects frames that are not JSON objects', () => {
  expectError(JSON.stringify(SAMPLES.media), true, 'binary-frame');
  expectError(Buffer.from([0x00, 0x01]), true, 'binary-frame');
  expectError('{"event":"media",', false, 'invalid-json');
  expectError('', false, 'invalid-json');
  expectError('[1,2]', false, 'invalid-json');
  expectError('"media"', false, 'invalid-json');
  expectError('null', false, 'invalid-json');
  expectError('{}', false, 'missing-field', 'event');
  expectError('{"event":7}', false, 'invalid-field', 'event');
  expectError('{"event":"play"}', false, 'unknown-event', 'event');
  expectError('{"event":"clear","streamSid":"MZ1"}', false, 'unknown-event'); // outbound-only event
});

test('rejects every missing required field, naming it', () => {
  const required: Array<[keyof typeof SAMPLES, string[]]> = [
    ['connected', ['protocol', 'version']],
    ['start', ['sequenceNumber', 'start', 'start.accountSid', 'start.streamSid', 'start.callSid', 'start.tracks',
      'start.mediaFormat', 'start.mediaFormat.encoding', 'start.mediaFormat.sampleRate', 'start.mediaFormat.channels']],
    ['media', ['sequenceNumber', 'streamSid', 'media', 'media.track', 'media.chunk', 'media.timestamp', 'media.payload']],
    ['dtmf', ['sequenceNumber', 'streamSid', 'dtmf', 'dtmf.track', 'dtmf.digit']],
    ['mark', ['sequenceNumber', 'streamSid', 'mark', 'mark.name']],
    ['stop', ['sequenceNumber', 'streamSid', 'stop', 'stop.accountSid', 'stop.callSid']],
  ];
  for (const [event, paths] of required) {
    for (const path of paths) expectError(withField(SAMPLES[event], path, undefined), false, 'missing-field', path);
  }
});

test('rejects wrong types and invalid values, naming the field', () => {
  const cases: Array<[keyof typeof SAMPLES, string, unknown]> = [
    ['media', 'sequenceNumber', 'abc'],
    ['media', 'sequenceNumber', '-1'],
    ['media', 'sequenceNumber', '1.5'],
    ['media', 'sequenceNumber', ' 1'],
    ['media', 'sequenceNumber', '007'],
    ['media', 'sequenceNumber', ''],
    ['media', 'sequenceNumber', true],
    ['media', 'sequenceNumber', null],
    ['media', 'sequenceNumber', -3],
    ['media', 'sequenceNumber', 2.5],
    ['media', 'sequenceNumber', '99999999999999999'],
    ['media', 'streamSid', 42],
    ['media', 'streamSid', ''],
    ['media', 'media', 'payload'],
    ['media', 'media', [1]],
    ['media', 'media.chunk', 'one'],
    ['media', 'media.timestamp', { ms: 5 }],
    ['media', 'media.track', 1],
    ['media', 'media.payload', ''],
    ['media', 'media.payload', 'not base64!'],
    ['media', 'media.payload', 'abc'], // bad length
    ['media', 'media.payload', 'ab=c'],
    ['media', 'media.payload', 'YWJj\nZGVm'],
    ['media', 'media.payload', 12],
    ['start', 'start.tracks', 'inbound'],
    ['start', 'start.tracks', [1]],
    ['start', 'start.customParameters', 'token=1'],
    ['start', 'start.customParameters.clinic', 3],
    ['start', 'start.mediaFormat.sampleRate', '8000'],
    ['start', 'start.mediaFormat.channels', null],
    ['start', 'start.mediaFormat.encoding', 7],
    ['start', 'streamSid', 'MZother'],
    ['start', 'streamSid', 7],
    ['start', 'start.streamSid', ''],
    ['start', 'start.callSid', ''],
    ['dtmf', 'dtmf.digit', '12'],
    ['dtmf', 'dtmf.digit', 'x'],
    ['dtmf', 'dtmf.digit', 1],
    ['mark', 'mark.name', 5],
    ['mark', 'mark', null],
    ['stop', 'stop.callSid', false],
    ['connected', 'version', 1],
  ];
  for (const [event, path, value] of cases) expectError(withField(SAMPLES[event], path, value), false, 'invalid-field', path);
});

test('validateMediaFormat accepts only 8 kHz mono mu-law and explains the rest', () => {
  const start = parse(SAMPLES.start);
  if (start.event !== 'start') return assert.unreachable('not a start');
  assert.is(validateMediaFormat(start), null);
  const wrong = validateMediaFormat({ mediaFormat: { encoding: 'audio/x-alaw', sampleRate: 16000, channels: 2 } });
  assert.type(wrong, 'string');
  assert.ok(wrong!.includes('audio/x-alaw') && wrong!.includes('16000') && wrong!.includes('2 channels'), wrong!);
  assert.ok(validateMediaFormat({ mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 2 } })!.includes('channels'));
});

function assertExactJson(text: string, expected: Record<string, unknown>): void {
  const parsed = JSON.parse(text) as Record<string, unknown>;
  assert.equal(parsed, expected);
  // Key sets, recursively: Twilio rejects extra fields, so nothing may be added at any level.
  const keys = (value: unknown): unknown =>
    typeof value === 'object' && value !== null
      ? Object.fromEntries(Object.keys(value).sort().map((k) => [k, keys((value as Record<string, unknown>)[k])]))
      : null;
  assert.equal(keys(parsed), keys(expected));
}

test('outbound serializers produce exactly what Twilio accepts', () => {
  const mulaw = Uint8Array.from([0xff, 0x7f, 0x00, 0x80, 0x12]);
  assertExactJson(serializeMedia(STREAM, mulaw), { event: 'media', streamSid: STREAM, media: { payload: '/38AgBI=' } });
  // A view into a larger buffer serialises only its own bytes.
  const big = new Uint8Array(10).fill(0xaa);
  big.set(mulaw, 3);
  assertExactJson(serializeMedia(STREAM, big.subarray(3, 8)), { event: 'media', streamSid: STREAM, media: { payload: '/38AgBI=' } });
  assert.is(serializeMedia(STREAM, mulaw), `{"event":"media","streamSid":"${STREAM}","media":{"payload":"/38AgBI="}}`);
  assertExactJson(serializeMark(STREAM, 'sentence-3'), { event: 'mark', streamSid: STREAM, mark: { name: 'sentence-3' } });
  assertExactJson(serializeMark(STREAM, 'quote " and \\ back'), { event: 'mark', streamSid: STREAM, mark: { name: 'quote " and \\ back' } });
  assertExactJson(serializeClear(STREAM), { event: 'clear', streamSid: STREAM });
  assert.is(serializeClear(STREAM), `{"event":"clear","streamSid":"${STREAM}"}`);
});

test('builders produce Twilio-shaped messages (string counters) that parse back to the same values', () => {
  assertExactJson(buildConnected(), SAMPLES.connected);
  assertExactJson(buildStart({
    streamSid: STREAM, callSid: CALL, accountSid: ACCOUNT, sequenceNumber: 1,
    customParameters: { token: 'abc.def', clinic: 'north' },
  }), SAMPLES.start);
  const payload = Uint8Array.from(Buffer.from(SAMPLES.media.media.payload, 'base64'));
  assertExactJson(buildMedia({ streamSid: STREAM, sequenceNumber: 3, chunk: 1, timestampMs: 5, payload }), SAMPLES.media);
  assertExactJson(buildDtmf({ streamSid: STREAM, sequenceNumber: 5, digit: '1' }), SAMPLES.dtmf);
  assertExactJson(buildMark({ streamSid: STREAM, sequenceNumber: 4, name: 'my label' }), SAMPLES.mark);
  assertExactJson(buildStop({ streamSid: STREAM, sequenceNumber: 5, accountSid: ACCOUNT, callSid: CALL }), SAMPLES.stop);

  const frame = new Uint8Array(160);
  for (let i = 0; i < frame.length; i++) frame[i] = (i * 37) & 0xff;
  const roundTrip: Array<[string, TwilioInbound]> = [
    [buildConnected(), { event: 'connected', protocol: 'Call', version: '1.0.0' }],
    [buildStart({ streamSid: STREAM, callSid: CALL, accountSid: ACCOUNT, sequenceNumber: 1, customParameters: { a: '<&>"' },
      mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } }),
    { event: 'start', sequenceNumber: 1, streamSid: STREAM, accountSid: ACCOUNT, callSid: CALL, tracks: ['inbound'],
      customParameters: { a: '<&>"' }, mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } }],
    [buildMedia({ streamSid: STREAM, sequenceNumber: 1234567, chunk: 1234566, timestampMs: 24691320, payload: frame }),
      { event: 'media', sequenceNumber: 1234567, streamSid: STREAM, track: 'inbound', chunk: 1234566, timestampMs: 24691320, payload: frame }],
    [buildDtmf({ streamSid: STREAM, sequenceNumber: 9, digit: '#' }),
      { event: 'dtmf', sequenceNumber: 9, streamSid: STREAM, track: 'inbound_track', digit: '#' }],
    [buildMark({ streamSid: STREAM, sequenceNumber: 10, name: 'turn-2/sentence-1' }),
      { event: 'mark', sequenceNumber: 10, streamSid: STREAM, name: 'turn-2/sentence-1' }],
    [buildStop({ streamSid: STREAM, sequenceNumber: 11, accountSid: ACCOUNT, callSid: CALL }),
      { event: 'stop', sequenceNumber: 11, streamSid: STREAM, accountSid: ACCOUNT, callSid: CALL }],
  ];
  for (const [text, expected] of roundTrip) {
    const parsed = parseTwilioMessage(text, false);
    if (parsed.event === 'media' && expected.event === 'media') {
      assert.equal(Array.from(parsed.payload), Array.from(expected.payload));
      assert.equal({ ...parsed, payload: null }, { ...expected, payload: null });
    } else {
      assert.equal(parsed, expected);
    }
  }
  // What the server sends is not something Twilio sends: serialized media does not parse as inbound media.
  expectError(serializeMedia(STREAM, frame), false, 'missing-field', 'sequenceNumber');
});

test.run();
