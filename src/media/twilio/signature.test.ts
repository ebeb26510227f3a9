import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHmac } from 'node:crypto';
import { computeTwilioSignature, TwilioSignatureError, verifyTwilioSignature } from './signature.js';

const TOKEN = '12345';
const URL_ = 'https://mycompany.com/myapp.php?foo=1&bar=2';
// Twilio's security docs have printed this worked example with two sets of phone numbers over the years;
// both (url, params) -> signature pairs are Twilio's, as reproduced by twilio-node and other SDKs' tests.
const DOC_PARAMS_OLD = { CallSid: 'CA1234567890ABCDE', Caller: '+12349013030', Digits: '1234', From: '+12349013030', To: '+18005551212' };
const DOC_SIGNATURE_OLD = '0/KCTR6DLpKmkAf8muzZqo1nDgQ=';
const DOC_PARAMS_NEW = { CallSid: 'CA1234567890ABCDE', Caller: '+14158675310', Digits: '1234', From: '+14158675310', To: '+18005551212' };
const DOC_SIGNATURE_NEW = 'GvWf1cFY/Q7PnoempGyD5oXAezc=';

test("reproduces Twilio's documented signatures", () => {
  assert.is(computeTwilioSignature(TOKEN, URL_, DOC_PARAMS_OLD), DOC_SIGNATURE_OLD);
  assert.is(computeTwilioSignature(TOKEN, URL_, DOC_PARAMS_NEW), DOC_SIGNATURE_NEW);
  assert.ok(verifyTwilioSignature(TOKEN, DOC_SIGNATURE_OLD, URL_, DOC_PARAMS_OLD));
  assert.ok(verifyTwilioSignature(TOKEN, DOC_SIGNATURE_NEW, URL_, DOC_PARAMS_NEW));
  // Parameter order does not matter: keys are sorted.
  const shuffled = { To: '+18005551212', Digits: '1234', From: '+14158675310', CallSid: 'CA1234567890ABCDE', Caller: '+14158675310' };
  assert.is(computeTwilioSignature(TOKEN, URL_, shuffled), DOC_SIGNATURE_NEW);
});

test('the signed string is url followed by sorted key+value pairs (independent HMAC)', () => {
  const data = `${URL_}CallSid${DOC_PARAMS_NEW.CallSid}Caller${DOC_PARAMS_NEW.Caller}Digits1234From${DOC_PARAMS_NEW.From}To+18005551212`;
  assert.is(createHmac('sha1', TOKEN).update(data).digest('base64'), computeTwilioSignature(TOKEN, URL_, DOC_PARAMS_NEW));
  // No parameters (GET, WebSocket upgrade): just the URL.
  const ws = 'wss://voice.example.org/twilio/media';
  assert.is(computeTwilioSignature('secret', ws), createHmac('sha1', 'secret').update(ws).digest('base64'));
  // Repeated keys: de-duplicated values, sorted, each as key+value (twilio-node's toFormUrlEncodedParam).
  const repeated = computeTwilioSignature('secret', ws, { b: ['2', '1', '2'], a: 'x' });
  assert.is(repeated, createHmac('sha1', 'secret').update(`${ws}axb1b2`).digest('base64'));
});

test('rejects tampering with parameters, URL, token or signature', () => {
  const ok = (signature: string | undefined | null, url = URL_, params: Record<string, string> = DOC_PARAMS_NEW, token = TOKEN) =>
    verifyTwilioSignature(token, signature, url, params);
  assert.ok(ok(DOC_SIGNATURE_NEW));
  assert.not.ok(ok(DOC_SIGNATURE_NEW, URL_, { ...DOC_PARAMS_NEW, Digits: '9999' }));
  assert.not.ok(ok(DOC_SIGNATURE_NEW, URL_, { ...DOC_PARAMS_NEW, Extra: '' }));
  const { To: _to, ...withoutTo } = DOC_PARAMS_NEW;
  assert.not.ok(ok(DOC_SIGNATURE_NEW, URL_, withoutTo));
  assert.not.ok(ok(DOC_SIGNATURE_NEW, 'https://mycompany.com/myapp.php?foo=1&bar=3'));
  assert.not.ok(ok(DOC_SIGNATURE_NEW, 'http://mycompany.com/myapp.php?foo=1&bar=2'));
  assert.not.ok(ok(DOC_SIGNATURE_NEW, 'https://evil.example/myapp.php?foo=1&bar=2'));
  assert.not.ok(ok(DOC_SIGNATURE_NEW, URL_, DOC_PARAMS_NEW, '12346'));
  assert.not.ok(ok(DOC_SIGNATURE_NEW, URL_, DOC_PARAMS_NEW, ''));
  assert.not.ok(ok('HvWf1cFY/Q7PnoempGyD5oXAezc=')); // one character changed
  assert.not.ok(ok('GvWf1cFY/Q7PnoempGyD5oXAezc')); // length mismatch
  assert.not.ok(ok(`${DOC_SIGNATURE_NEW}=`));
  assert.not.ok(ok(''));
  assert.not.ok(ok(undefined));
  assert.not.ok(ok(null));
  assert.not.ok(ok('é'.repeat(14)));
  assert.not.ok(ok(DOC_SIGNATURE_NEW, 'not a url'));
});

test('accepts the URL signed with or without its default port, like twilio-node', () => {
  const plain = 'https://voice.example.org/twilio/voice';
  const withPort = 'https://voice.example.org:443/twilio/voice';
  const signedWithPort = createHmac('sha1', 'tok').update(`${withPort}CallSidCA1`).digest('base64');
  const signedPlain = createHmac('sha1', 'tok').update(`${plain}CallSidCA1`).digest('base64');
  assert.ok(verifyTwilioSignature('tok', signedWithPort, plain, { CallSid: 'CA1' }));
  assert.ok(verifyTwilioSignature('tok', signedPlain, withPort, { CallSid: 'CA1' }));
  assert.ok(verifyTwilioSignature('tok', signedPlain, plain, { CallSid: 'CA1' }));
  // An explicit port is tried as given and stripped (twilio-node does both), but never invented.
  const custom = 'https://voice.example.org:8443/twilio/voice';
  const signedCustom = createHmac('sha1', 'tok').update(`${custom}CallSidCA1`).digest('base64');
  assert.ok(verifyTwilioSignature('tok', signedCustom, custom, { CallSid: 'CA1' }));
  assert.not.ok(verifyTwilioSignature('tok', signedCustom, plain, { CallSid: 'CA1' }));
  assert.not.ok(verifyTwilioSignature('tok', signedWithPort, 'https://voice.example.org:8443/twilio/voice', { CallSid: 'CA2' }));
  // wss:// defaults to 443 as well.
  const wssSignedWithPort = createHmac('sha1', 'tok').update('wss://v.example.org:443/media').digest('base64');
  assert.ok(verifyTwilioSignature('tok', wssSignedWithPort, 'wss://v.example.org/media'));
});

test('computing over an unparseable URL is a typed error', () => {
  assert.throws(() => computeTwilioSignature(TOKEN, '/relative/path', {}), (e: unknown) => e instanceof TwilioSignatureError);
});

test.run();
