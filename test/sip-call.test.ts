/**
 * Whole calls over SIP and RTP on loopback: the SIP test phone (test/support/sip-caller.ts, written apart
 * from the code under test) calls a real carevox server (real VAD, flite TTS, receptionist); only the ASR is
 * the transcript double keyed on the fixtures' own audio.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSocket } from 'node:dgram';
import { loadFixture } from './support/fixtures.js';
import { startTestServer, type TestServer } from './support/server.js';
import { parseResponse, parseSdp, SipCaller } from './support/sip-caller.js';
import { createTranscriptDouble } from './support/transcript-double.js';

const hours = loadFixture('what-are-your-hours');
const stop = loadFixture('no-wait-stop');

const call = suite<{ server: TestServer; port: number }>('sip call', { server: undefined as unknown as TestServer, port: 0 });

call.before(async (ctx) => {
  const asr = createTranscriptDouble([hours, stop].map((f) => ({ audio: f.samples, transcript: f.transcript! })));
  ctx.server = await startTestServer({ sip: { enabled: true } }, { engines: { asr } });
  ctx.port = ctx.server.bridges.sipPorts!.udp;
});
call.after(async (ctx) => { await ctx.server.close(); });

const recordOfLatest = async (server: TestServer) => {
  const sessions = server.server.registry.liveCallSids().filter((id) => id.startsWith('sip-'));
  return sessions;
};

call('answers with 100, 180, 200 and PCMU; greets over paced RTP; answers speech and RFC 4733 keys sent without marker bits; BYE ends it', async ({ server, port }) => {
  const caller = await SipCaller.dial({ port, from: '+15551239876' });
  assert.equal(caller.inviteResponses.map((r) => r.status), [100, 180, 200]);
  const answer = parseSdp(caller.inviteResponses[2]!.body);
  assert.equal(answer.payloadTypes, [0, 101], 'PCMU (the first offered) and telephone-event');
  const [callId] = await recordOfLatest(server);
  assert.ok(callId, 'the call is live on the node');
  await caller.waitFor('greeting audio', () => caller.audiblePackets() > 25, 20_000);
  await caller.waitForBotQuiet();
  assert.ok(caller.received.every((p) => p.payloadType === 0 && p.samples.length === 160), 'every packet is 20 ms of PCMU');

  const beforeQuestion = caller.received.length;
  await caller.say(hours.samples);
  await caller.waitFor('a spoken reply', () => caller.audiblePackets(beforeQuestion) > 25, 15_000);
  await caller.waitForBotQuiet();

  const beforeKey = caller.received.length;
  await caller.pressDigit('7', { noMarker: true });
  await caller.waitFor('a keypad reply', () => caller.audiblePackets(beforeKey) > 25, 10_000);
  await caller.hangUp();
  const record = await server.recordOf(callId!);
  assert.is(record.outcome, 'caller-hung-up');
  assert.is(record.dtmf, 1, 'one digit from six RFC 4733 packets');
  assert.ok(record.turns.some((t) => t.speaker === 'caller' && t.text === hours.transcript), 'the spoken question was heard');
  assert.ok(record.botSentences.some((s) => /hour|open/i.test(s.text)), 'and answered');
  assert.not.ok(server.rawLogs().includes('5551239876'), 'the caller number is not logged');
});

call('speaking over the bot stops its audio at once; INFO digits reach the dialog; hold and resume by re-INVITE', async ({ server, port }) => {
  const caller = await SipCaller.dial({ port, codecs: ['PCMA'] });
  assert.is(caller.codec, 'PCMA');
  const [callId] = (await recordOfLatest(server)).slice(-1);
  await caller.waitFor('greeting audio', () => caller.audiblePackets() > 30, 20_000);
  await caller.say(stop.samples);
  await caller.waitForBotQuiet(300);

  const info = await caller.pressDigit('0', { via: 'info' });
  assert.is((info as { status: number }).status, 200);
  const hold = await caller.sendInDialog('INVITE', caller.offer('sendonly'));
  assert.is(hold.status, 200);
  assert.is(parseSdp(hold.body).direction, 'recvonly', 'hold answered recvonly');
  const resume = await caller.sendInDialog('INVITE', caller.offer('sendrecv'));
  assert.is(parseSdp(resume.body).direction, 'sendrecv');
  await caller.hangUp();
  const record = await server.recordOf(callId!);
  assert.ok(record.bargeIns >= 1, 'a barge-in was recorded');
  assert.ok(record.botSentences.some((s) => s.truncated), 'the sentence being heard was cut off');
  assert.ok(record.dtmf >= 1, 'the INFO digit reached the dialog');
});

call('an INVITE without SDP gets our offer in the 200 and its answer from the ACK', async ({ server, port }) => {
  const caller = await SipCaller.dial({ port, lateOffer: true });
  const offer = parseSdp(caller.inviteResponses.at(-1)!.body);
  assert.ok(offer.payloadTypes.includes(0) && offer.payloadTypes.includes(8), 'we offer PCMU and PCMA');
  await caller.waitFor('greeting audio', () => caller.audiblePackets() > 10, 20_000);
  await caller.hangUp();
  void server;
});

call('no common codec is refused 488; a malformed request 400; garbage is dropped; the next call still works', async ({ port }) => {
  const raw = createSocket('udp4');
  await new Promise<void>((r) => raw.bind(0, '127.0.0.1', () => r()));
  const replies: string[] = [];
  raw.on('message', (d) => replies.push(d.toString()));
  const local = raw.address().port;
  const sdp = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n';
  const base = (method: string, branch: string, extra = '', body = '') => `${method} sip:carevox@127.0.0.1:${port} SIP/2.0\r\n`
    + `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=${branch}\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:carevox@127.0.0.1>\r\n`
    + `Call-ID: ${branch}@test\r\nCSeq: 1 ${method}\r\nMax-Forwards: 70\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  raw.send(base('INVITE', 'z9hG4bK-g729', 'Content-Type: application/sdp\r\n', sdp), port, '127.0.0.1');
  raw.send(base('OPTIONS', 'z9hG4bK-bad', '').replace('CSeq: 1 OPTIONS', 'CSeq: one OPTIONS'), port, '127.0.0.1');
  raw.send(Buffer.from([0xde, 0xad, 0xbe, 0xef]), port, '127.0.0.1');
  raw.send(base('OPTIONS', 'z9hG4bK-ping', ''), port, '127.0.0.1');
  const deadline = performance.now() + 5000;
  while (performance.now() < deadline && !(replies.some((r) => r.startsWith('SIP/2.0 488')) && replies.some((r) => r.startsWith('SIP/2.0 400')) && replies.some((r) => r.startsWith('SIP/2.0 200')))) {
    await new Promise((r) => setTimeout(r, 20));
  }
  raw.close();
  assert.ok(replies.some((r) => r.startsWith('SIP/2.0 488')), `488 for G.729 only: ${replies.map((r) => r.split('\r\n')[0]).join(' | ')}`);
  assert.ok(replies.some((r) => r.startsWith('SIP/2.0 400')), 'a bad CSeq is answered 400');
  const pong = replies.map(parseResponse).find((r) => r.status === 200 && /OPTIONS/.test(r.headers.get('cseq')?.[0] ?? ''));
  assert.ok(pong, 'OPTIONS keep-alive answered 200');
  assert.match(pong!.headers.get('allow')?.[0] ?? '', /INVITE/);

  const next = await SipCaller.dial({ port });
  await next.waitFor('greeting audio', () => next.audiblePackets() > 5, 20_000);
  await next.hangUp();
});

call('a caller asking for a person is REFERred to the front desk; a refused REFER still ends the call for the PBX to route', async () => {
  const transferring = await startTestServer({ sip: { enabled: true, transferTarget: 'sip:frontdesk@127.0.0.1:5099' } });
  try {
    const port = transferring.bridges.sipPorts!.udp;
    for (const referStatus of [202, 603]) {
      const caller = await SipCaller.dial({ port, referStatus });
      await caller.waitFor('greeting audio', () => caller.audiblePackets() > 20, 20_000);
      await caller.pressDigit('0'); // the main menu's "a person"
      await caller.waitFor('the BYE after the transfer', () => caller.byeFromServer, 20_000);
      assert.is(caller.referTarget, 'sip:frontdesk@127.0.0.1:5099', `REFER sent (answered ${referStatus})`);
      const record = transferring.records().at(-1)!;
      assert.is(record.outcome, 'transfer');
      await caller.hangUp();
    }
    assert.ok(transferring.logs.some((l) => l.msg === 'transfer result' && l.accepted === true), 'the NOTIFY 200 was taken as success');
    assert.ok(transferring.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('REFER refused')), 'the 603 was noted');
  } finally {
    await transferring.close();
  }
});

call('SRTP (SDES): an RTP/SAVP offer is answered RTP/SAVP with our key; both directions are encrypted and the call works', async ({ server, port }) => {
  const caller = await SipCaller.dial({ port, srtp: true });
  const answer = caller.inviteResponses.at(-1)!.body;
  assert.match(answer, /m=audio \d+ RTP\/SAVP 0/);
  assert.match(answer, /a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:/);
  await caller.waitFor('greeting audio (decrypted)', () => caller.audiblePackets() > 20, 20_000);
  assert.is(caller.srtpRejected, 0, 'every packet from carevox authenticated');
  await caller.waitForBotQuiet();
  const beforeKey = caller.received.length;
  await caller.pressDigit('7');
  await caller.waitFor('a keypad reply', () => caller.audiblePackets(beforeKey) > 25, 10_000);
  await caller.hangUp();
  await new Promise((r) => setTimeout(r, 200));
  const record = server.records().at(-1)!;
  assert.is(record.dtmf, 1, 'the caller\'s encrypted RFC 4733 digit was decrypted');
});

call.run();
