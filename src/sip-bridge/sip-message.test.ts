/**
 * Parsing against messages in the spirit of RFC 4475's torture tests (written out here, shortened: the
 * RFC's own text is not on this machine): what a UAS must parse, and what it must reject without crashing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  buildResponse, header, headers, parseCSeq, parseNameAddr, parseSipMessage, serializeSipMessage, SipParseError, splitList, tagOf, topVia, uriHostPort,
  type SipRequest,
} from './sip-message.js';

const crlf = (lines: string[]) => Buffer.from(lines.join('\r\n'));

test('wsinv-like: compact forms, folded lines, odd spacing and case, multiple Vias in one header', () => {
  const message = parseSipMessage(crlf([
    'INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0',
    'TO :',
    ' sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n',
    'from   : "J Rosenberg \\\\\\"" <sip:jdrosen@example.com>',
    '  ;',
    '  tag = 98asjd8',
    'MaX-fOrWaRdS: 0068',
    'Call-ID: wsinv.ndaksdj@192.0.2.1',
    'Content-Length   : 5',
    'cseq: 0009',
    '  INVITE',
    'Via  : SIP  /   2.0',
    ' /UDP',
    '    192.0.2.2;rport;branch=390skdjuw, SIP/2.0/TCP 192.168.255.111;branch=z9hG4bK1',
    's :',
    'NewFangledHeader:   newfangled value',
    ' continued newfangled value',
    'v: SIP/2.0/TCP spindle.example.com;branch=z9hG4bK9ikj8',
    'm: "Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =',
    '      newvalue ;',
    '  secondparam ; q = 0.33',
    '',
    'v=0\r\n',
  ]));
  assert.is(message.kind, 'request');
  const request = message as SipRequest;
  assert.is(request.method, 'INVITE');
  assert.is(header(request, 'call-id'), 'wsinv.ndaksdj@192.0.2.1');
  assert.equal(parseCSeq(request), { seq: 9, method: 'INVITE' });
  assert.is(headers(request, 'via').length, 3);
  assert.is(topVia(request)!.host, '192.0.2.2');
  assert.is(topVia(request)!.params.get('branch'), '390skdjuw');
  assert.is(tagOf(header(request, 'to')), '1918181833n');
  assert.is(tagOf(header(request, 'from')), '98asjd8');
  assert.is(header(request, 'newfangledheader'), 'newfangled value continued newfangled value');
  assert.is(request.body.toString(), 'v=0\r\n');
  assert.is(parseNameAddr(header(request, 'contact')!)!.uri, 'sip:jdrosen@example.com');
});

test('intmeth-like: an unknown method made of token characters is a request like any other', () => {
  const request = parseSipMessage(crlf([
    '!interesting-Method0123456789_*+`.%indeed\'~ sip:1_unusual.URI~(to-be!sure)&isn\'t+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn\'t-it)@example.com SIP/2.0',
    'Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`\'~',
    'To: "BEL:\\\u0007 NUL:\\\u0000 DEL:\\\u007f" <sip:1_unusual.URI~(to-be!sure)&isn\'t+it$/crazy?,/;;*@example.com>',
    'From: token1~` token2\'+_ token3*%!.- <sip:mundane@example.com>;fromParam\'\'~+*_!.-%="работающий";tag=_token~1\'+`*%!-.',
    'Call-ID: intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{',
    'CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed\'~',
    'Max-Forwards: 255',
    'Content-Length: 0',
    '', '',
  ])) as SipRequest;
  assert.is(request.method, '!INTERESTING-METHOD0123456789_*+`.%INDEED\'~');
  assert.is(parseCSeq(request)!.seq, 139122385);
});

test('messages a UAS must reject: each throws SipParseError, answerable ones with the request to answer 400', () => {
  const base = ['Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1', 'To: <sip:a@b>', 'From: <sip:c@d>;tag=1', 'Call-ID: x@y', 'Max-Forwards: 70'];
  const cases: Array<{ name: string; lines: string[]; respondable: boolean; code: string }> = [
    // clerr: Content-Length larger than the body.
    { name: 'clerr', lines: ['INVITE sip:a@b SIP/2.0', ...base, 'CSeq: 1 INVITE', 'Content-Length: 9999', '', 'v=0'], respondable: true, code: 'bad-content-length' },
    // ncl: a negative Content-Length.
    { name: 'ncl', lines: ['INVITE sip:a@b SIP/2.0', ...base, 'CSeq: 1 INVITE', 'Content-Length: -999', '', ''], respondable: true, code: 'bad-content-length' },
    // cseqmismatch / bad CSeq.
    { name: 'cseqmethod', lines: ['OPTIONS sip:a@b SIP/2.0', ...base, 'CSeq: 1 INVITE', '', ''], respondable: true, code: 'bad-cseq' },
    { name: 'scalar02-like', lines: ['OPTIONS sip:a@b SIP/2.0', ...base, 'CSeq: 36893488147419103232 OPTIONS', '', ''], respondable: true, code: 'bad-cseq' },
    // insuf: required headers missing.
    { name: 'insuf', lines: ['INVITE sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1', 'CSeq: 1 INVITE', '', ''], respondable: false, code: 'missing-header' },
    // badvers: not SIP/2.0.
    { name: 'badvers', lines: ['OPTIONS sip:a@b SIP/7.0', ...base, 'CSeq: 1 OPTIONS', '', ''], respondable: false, code: 'bad-start-line' },
    // lwsstart / garbage start line.
    { name: 'garbage', lines: ['\u0000\u0001 nonsense', '', ''], respondable: false, code: 'bad-start-line' },
    // badvia.
    { name: 'badvia', lines: ['OPTIONS sip:a@b SIP/2.0', 'Via: nonsense', 'To: <sip:a@b>', 'From: <sip:c@d>;tag=1', 'Call-ID: x@y', 'CSeq: 1 OPTIONS', '', ''], respondable: true, code: 'bad-via' },
  ];
  for (const c of cases) {
    try {
      parseSipMessage(crlf(c.lines));
      assert.unreachable(`${c.name} parsed`);
    } catch (err) {
      assert.instance(err, SipParseError, c.name);
      const e = err as SipParseError;
      assert.is(e.code, c.code, c.name);
      assert.is(e.respondable, c.respondable, c.name);
      if (c.respondable) assert.is(buildResponse(e.partial!, 400, 'Bad Request').status, 400);
    }
  }
  assert.throws(() => parseSipMessage(Buffer.alloc(70_000, 0x41)), (e: unknown) => e instanceof SipParseError && e.code === 'too-large');
});

test('a response copies the Vias in order, adds our To tag once, and serializes with its Content-Length', () => {
  const request = parseSipMessage(crlf([
    'INVITE sip:carevox@10.0.0.1 SIP/2.0', 'Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKa', 'Via: SIP/2.0/UDP 10.0.0.3;branch=z9hG4bKb',
    'To: <sip:carevox@10.0.0.1>', 'From: "A" <sip:201@pbx>;tag=f1', 'Call-ID: c1', 'CSeq: 7 INVITE', 'Content-Length: 0', '', '',
  ])) as SipRequest;
  const response = buildResponse(request, 200, 'OK', { toTag: 't9', body: 'v=0\r\n' });
  const text = serializeSipMessage(response).toString();
  assert.match(text, /^SIP\/2\.0 200 OK\r\nVia: SIP\/2\.0\/UDP 10\.0\.0\.2:5060;branch=z9hG4bKa\r\nVia: SIP\/2\.0\/UDP 10\.0\.0\.3;branch=z9hG4bKb\r\n/);
  assert.match(text, /To: <sip:carevox@10\.0\.0\.1>;tag=t9\r\n/);
  assert.match(text, /CSeq: 7 INVITE\r\n/);
  assert.match(text, /Content-Type: application\/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n$/);
  const again = parseSipMessage(Buffer.from(text));
  assert.is(again.kind, 'response');
  const routed = parseSipMessage(Buffer.from(serializeSipMessage({ ...request, headers: [...request.headers, ['record-route', '<sip:10.0.0.9;lr>']] }))) as SipRequest;
  assert.equal(headers(buildResponse(routed, 200, 'OK'), 'record-route'), ['<sip:10.0.0.9;lr>'], 'a 2xx to INVITE echoes Record-Route');
  assert.equal(headers(buildResponse(routed, 486, 'Busy Here'), 'record-route'), [], 'a failure does not');
});

test('list splitting respects quotes and angle brackets; URIs give host, port and transport', () => {
  assert.equal(splitList('"a, b" <sip:x@y;p=1,2>, <sip:z@w>'), ['"a, b" <sip:x@y;p=1,2>', '<sip:z@w>']);
  assert.equal(uriHostPort('sip:carevox@[2001:db8::1]:5080;transport=tcp'), { host: '2001:db8::1', port: 5080, transport: 'tcp' });
  assert.equal(uriHostPort('<sip:pbx.example.com;lr>'.slice(1, -1)), { host: 'pbx.example.com', port: undefined, transport: undefined });
});

test.run();
