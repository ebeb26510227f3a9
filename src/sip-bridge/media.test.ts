import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'sdp-transform';
import { negotiate, writeSdp } from './media.js';
import { RTP_CODECS } from './rtp-session.js';

const offer = (m: string, extra: string[] = [], c = 'c=IN IP4 198.51.100.7') => ['v=0', 'o=- 1 1 IN IP4 198.51.100.7', 's=-', c, 't=0 0', m, ...extra, ''].join('\r\n');

test("the caller's codec order wins among the codecs we allow; static payload types need no rtpmap", () => {
  const both = negotiate(offer('m=audio 4000 RTP/AVP 8 0 101', ['a=rtpmap:101 telephone-event/8000']), ['PCMU', 'PCMA']);
  assert.ok(!('problem' in both));
  if ('problem' in both) return;
  assert.is(both.codec.name, 'PCMA');
  assert.is(both.dtmfPayloadType, 101);
  assert.equal(both.remote, { address: '198.51.100.7', port: 4000 });
  const onlyU = negotiate(offer('m=audio 4000 RTP/AVP 8 0'), ['PCMU']);
  assert.is(!('problem' in onlyU) && onlyU.codec.name, 'PCMU');
});

test('telephone-event at the codec clock is chosen when Asterisk offers /8000 and /48000', () => {
  const result = negotiate(offer('m=audio 4000 RTP/AVP 0 96 101', ['a=rtpmap:96 telephone-event/48000', 'a=rtpmap:101 telephone-event/8000']), ['PCMU']);
  assert.is(!('problem' in result) && result.dtmfPayloadType, 101);
});

test('no common codec, no audio, SRTP-only and garbage are problems, not throws', () => {
  assert.equal(negotiate(offer('m=audio 4000 RTP/AVP 18', ['a=rtpmap:18 G729/8000']), ['PCMU', 'PCMA']), { problem: 'no-common-codec' });
  assert.equal(negotiate(offer('m=video 4000 RTP/AVP 96'), ['PCMU']), { problem: 'no-audio' });
  assert.equal(negotiate(offer('m=audio 4000 RTP/SAVP 0'), ['PCMU']), { problem: 'srtp-unsupported' });
  assert.equal(negotiate('garbage', ['PCMU']), { problem: 'bad-sdp' });
});

test('SRTP (SDES): an RTP/SAVP offer gives the caller\'s key; our answer is RTP/SAVP with our key on the same tag', () => {
  const key = 'WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz';
  const savp = offer('m=audio 4000 RTP/SAVP 0', [`a=crypto:3 AES_256_CM_HMAC_SHA1_80 inline:${'A'.repeat(60)}`, `a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:${key}`]);
  const result = negotiate(savp, ['PCMU'], 'optional');
  assert.ok(!('problem' in result));
  if ('problem' in result) return;
  assert.is(result.srtp!.tag, 7);
  assert.is(Buffer.concat([result.srtp!.masterKey, result.srtp!.masterSalt]).toString('base64'), key);
  const answer = parse(writeSdp({ address: '192.0.2.1', port: 20000, sessionId: 5, version: 2, codecs: [RTP_CODECS.PCMU], dtmfPayloadType: null, direction: 'sendrecv', crypto: { tag: 7, value: `7 AES_CM_128_HMAC_SHA1_80 inline:${key}` } }));
  assert.is(answer.media[0]!.protocol, 'RTP/SAVP');
  assert.equal(answer.media[0]!.crypto, [{ id: 7, suite: 'AES_CM_128_HMAC_SHA1_80', config: `inline:${key}` }]);
  assert.equal(negotiate(offer('m=audio 4000 RTP/AVP 0'), ['PCMU'], 'required'), { problem: 'srtp-required' });
  assert.equal(negotiate(offer('m=audio 4000 RTP/SAVP 0'), ['PCMU'], 'optional'), { problem: 'no-usable-crypto' });
  assert.is(!('problem' in negotiate(offer('m=audio 4000 RTP/AVP 0'), ['PCMU'], 'optional')), true, 'optional still takes plain RTP');
});

test('hold: sendonly, inactive and the old 0.0.0.0 form', () => {
  const dir = (sdp: string) => { const r = negotiate(sdp, ['PCMU']); return 'problem' in r ? r.problem : r.direction; };
  assert.is(dir(offer('m=audio 4000 RTP/AVP 0', ['a=sendonly'])), 'sendonly');
  assert.is(dir(offer('m=audio 4000 RTP/AVP 0', ['a=inactive'])), 'inactive');
  assert.is(dir(offer('m=audio 4000 RTP/AVP 0', [], 'c=IN IP4 0.0.0.0')), 'inactive');
  assert.is(dir(offer('m=audio 4000 RTP/AVP 0')), 'sendrecv');
});

test('our SDP: one audio stream, ptime 20, telephone-event, the direction given', () => {
  const sdp = parse(writeSdp({ address: '192.0.2.1', port: 20000, sessionId: 5, version: 2, codecs: [RTP_CODECS.PCMA], dtmfPayloadType: 101, direction: 'recvonly' }));
  const audio = sdp.media[0]!;
  assert.is(audio.port, 20000);
  assert.is(String(audio.payloads), '8 101');
  assert.is(audio.ptime, 20);
  assert.is(audio.direction, 'recvonly');
  assert.is(sdp.connection?.ip, '192.0.2.1');
});

test.run();
