import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connectStreamTwiml, dialTwiml, dialVerb, sayTwiml, sayVerb, TwimlError, type TwimlErrorCode } from './twiml.js';

const DECL = '<?xml version="1.0" encoding="UTF-8"?>';

function expectTwimlError(fn: () => unknown, code: TwimlErrorCode): void {
  try {
    fn();
  } catch (error) {
    assert.instance(error, TwimlError);
    assert.is((error as TwimlError).code, code, (error as Error).message);
    return;
  }
  assert.unreachable(`expected TwimlError ${code}`);
}

test('connectStreamTwiml: exact document with parameters in order', () => {
  assert.is(
    connectStreamTwiml({ streamUrl: 'wss://voice.example.org/twilio/media', parameters: { token: 'abc.DEF-123_x', clinic: 'north' } }),
    `${DECL}<Response><Connect><Stream url="wss://voice.example.org/twilio/media">`
      + '<Parameter name="token" value="abc.DEF-123_x"/><Parameter name="clinic" value="north"/>'
      + '</Stream></Connect></Response>',
  );
  assert.is(
    connectStreamTwiml({ streamUrl: 'wss://v.example.org:8443/m', parameters: {} }),
    `${DECL}<Response><Connect><Stream url="wss://v.example.org:8443/m"></Stream></Connect></Response>`,
  );
});

test('connectStreamTwiml: statusCallback and verbs after the stream', () => {
  assert.is(
    connectStreamTwiml({
      streamUrl: 'wss://v.example.org/m',
      parameters: { token: 't' },
      statusCallback: 'https://v.example.org/status?a=1&b=2',
      afterStream: sayVerb('Goodbye.') + dialVerb('+15551234567'),
    }),
    `${DECL}<Response><Connect><Stream url="wss://v.example.org/m" statusCallback="https://v.example.org/status?a=1&amp;b=2">`
      + '<Parameter name="token" value="t"/></Stream></Connect><Say>Goodbye.</Say><Dial>+15551234567</Dial></Response>',
  );
});

test('connectStreamTwiml escapes parameter names and values', () => {
  const xml = connectStreamTwiml({
    streamUrl: 'wss://v.example.org/m',
    parameters: { 'a"b': `<x> & 'y' "z"`, line: 'one\ntwo\tthree\r', ctl: 'bell\u0007end' },
  });
  assert.ok(xml.includes(`<Parameter name="a&quot;b" value="&lt;x&gt; &amp; &apos;y&apos; &quot;z&quot;"/>`), xml);
  assert.ok(xml.includes('<Parameter name="line" value="one&#10;two&#9;three&#13;"/>'), xml);
  assert.ok(xml.includes('<Parameter name="ctl" value="bellend"/>'), xml);
  assert.not.ok(/&(?!amp;|lt;|gt;|quot;|apos;|#\d+;)/.test(xml), 'every & starts an entity');
});

test('connectStreamTwiml rejects what Twilio would reject', () => {
  const connect = (streamUrl: string, parameters: Record<string, string> = {}) => () => connectStreamTwiml({ streamUrl, parameters });
  expectTwimlError(connect('ws://v.example.org/m'), 'invalid-stream-url');
  expectTwimlError(connect('https://v.example.org/m'), 'invalid-stream-url');
  expectTwimlError(connect('wss://v.example.org/m?token=abc'), 'invalid-stream-url'); // Twilio 31920
  expectTwimlError(connect('wss://v.example.org/m?'), 'invalid-stream-url');
  expectTwimlError(connect('wss://v.example.org/m#frag'), 'invalid-stream-url');
  expectTwimlError(connect('wss://user:pw@v.example.org/m'), 'invalid-stream-url');
  expectTwimlError(connect('/relative'), 'invalid-stream-url');
  expectTwimlError(connect('wss://v.example.org/m', { '': 'x' }), 'invalid-parameter');
  // name + value must stay under 500 characters: 499 passes, 500 does not.
  connectStreamTwiml({ streamUrl: 'wss://v.example.org/m', parameters: { token: 'x'.repeat(494) } });
  expectTwimlError(connect('wss://v.example.org/m', { token: 'x'.repeat(495) }), 'parameter-too-long');
});

test('dialTwiml and sayTwiml: exact output and escaping', () => {
  assert.is(dialTwiml('+18005551212'), `${DECL}<Response><Dial>+18005551212</Dial></Response>`);
  assert.is(
    dialTwiml('+18005551212', { callerId: '+15550001111', timeoutSeconds: 20 }),
    `${DECL}<Response><Dial callerId="+15550001111" timeout="20">+18005551212</Dial></Response>`,
  );
  expectTwimlError(() => dialTwiml('+1 800 555'), 'invalid-number');
  expectTwimlError(() => dialTwiml('</Dial><Hangup/>'), 'invalid-number');
  expectTwimlError(() => dialTwiml('+18005551212', { callerId: 'clinic' }), 'invalid-number');
  expectTwimlError(() => dialTwiml('+18005551212', { timeoutSeconds: 0 }), 'invalid-parameter');

  assert.is(sayTwiml('Sorry, we are having trouble.'), `${DECL}<Response><Say>Sorry, we are having trouble.</Say></Response>`);
  assert.is(
    sayTwiml(`Tom & Jerry's <clinic> "now"`, { voice: 'Polly.Joanna', language: 'en-US' }),
    `${DECL}<Response><Say voice="Polly.Joanna" language="en-US">Tom &amp; Jerry's &lt;clinic&gt; "now"</Say></Response>`,
  );
  assert.is(sayVerb('a\u0000b\uD800c'), '<Say>abc</Say>');
});

test.run();
