/**
 * A SIP phone for tests and the bench, written independently of the code under test (its own minimal
 * message handling, its own RTP packing): it sends an INVITE with an SDP offer over UDP, ACKs the 200, streams
 * caller audio as RTP every 20 ms on a deadline clock (silence between utterances, like a live phone),
 * records every RTP packet it receives, sends DTMF as RFC 4733 events or SIP INFO, answers the server's BYE,
 * REFER, OPTIONS and re-INVITE, and hangs up with BYE.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { aLawDecode, aLawEncode, muLawDecode, muLawEncode } from '../../src/media/codec.js';
import { cryptoAttribute, parseCryptoAttribute, SrtpContext } from '../../src/sip-bridge/srtp.js';
import { until } from './until.js';

export type SipCallerCodec = 'PCMU' | 'PCMA';

export interface SipDialOptions {
  host?: string;
  port: number;
  from?: string;
  /** Codecs offered, in order. */
  codecs?: SipCallerCodec[];
  /** Offer no SDP in the INVITE (the server offers in its 200; our answer goes in the ACK). */
  lateOffer?: boolean;
  /** Extra INVITE headers (e.g. P-Asserted-Identity). */
  headers?: Record<string, string>;
  /** Reply to a REFER with this status (default 202, then a NOTIFY 200). */
  referStatus?: number;
  /** Offer RTP/SAVP with an SDES key (the SRTP itself is carevox's module: its own vectors test it). */
  srtp?: boolean;
  timeoutMs?: number;
}

export interface ReceivedRtp { at: number; seq: number; timestamp: number; payloadType: number; marker: boolean; audible: boolean; samples: Int16Array }
export interface SipResponse { status: number; reason: string; headers: Map<string, string[]>; body: string; raw: string }

const PT: Record<SipCallerCodec, number> = { PCMU: 0, PCMA: 8 };
const DTMF_PT = 101;

export class SipCaller {
  readonly received: ReceivedRtp[] = [];
  readonly requestsFromServer: string[] = [];
  /** Responses to our INVITE, in order (100, 180, 200 ...). */
  readonly inviteResponses: SipResponse[] = [];
  codec: SipCallerCodec = 'PCMU';
  isOpen = false;
  byeFromServer = false;
  referTarget: string | null = null;
  private readonly callId = `${randomBytes(8).toString('hex')}@sip-caller`;
  private readonly fromTag = randomBytes(4).toString('hex');
  private toTag = '';
  private remoteContact = '';
  private cseq = 1;
  private remoteRtp: { address: string; port: number } | null = null;
  private seq = Math.floor(Math.random() * 60000);
  private timestamp = Math.floor(Math.random() * 1e9);
  private readonly ssrc = randomBytes(4).readUInt32BE(0);
  private speech: Int16Array[] = [];
  private speechDone: Array<{ framesLeft: number; resolve: () => void }> = [];
  private timer: NodeJS.Timeout | null = null;
  private nextAt = 0;
  private readonly waiters = new Map<string, (r: SipResponse) => void>();
  private readonly localKey = cryptoAttribute(1);
  private srtpOut: SrtpContext | null = null;
  private srtpIn: SrtpContext | null = null;
  /** SRTP packets from the server that failed to authenticate. */
  srtpRejected = 0;

  private constructor(private readonly sip: Socket, private readonly rtp: Socket, private readonly options: SipDialOptions) {
    sip.on('message', (data, rinfo) => this.onSip(data.toString('utf8'), rinfo));
    rtp.on('message', (data) => this.onRtp(data));
  }

  get localSipPort(): number { return this.sip.address().port; }
  get localRtpPort(): number { return this.rtp.address().port; }
  private get host(): string { return this.options.host ?? '127.0.0.1'; }

  static async dial(options: SipDialOptions): Promise<SipCaller> {
    const caller = await SipCaller.create(options);
    await caller.invite();
    return caller;
  }

  /** A caller with its sockets open and no INVITE sent yet (for tests that shape the INVITE themselves). */
  static async create(options: SipDialOptions): Promise<SipCaller> {
    const sip = createSocket('udp4');
    const rtp = createSocket('udp4');
    await Promise.all([sip, rtp].map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()))));
    return new SipCaller(sip, rtp, options);
  }

  /** Sends the INVITE and waits for the final response; on 200 ACKs it and starts RTP. */
  async invite(): Promise<SipResponse> {
    const codecs = this.options.codecs ?? ['PCMU', 'PCMA'];
    const body = this.options.lateOffer ? '' : this.sdp(codecs);
    const extra = Object.entries(this.options.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    const branch = this.branch();
    const request = this.request('INVITE', `sip:carevox@${this.host}:${this.options.port}`, branch, this.cseq, body, extra);
    const final = await this.transact(branch, request, (r) => { this.inviteResponses.push(r); return r.status >= 200; });
    if (final.status !== 200) {
      this.sendRaw(this.ack(branch, final, ''));
      return final;
    }
    this.toTag = /tag=([^;>\s]+)/.exec(final.headers.get('to')?.[0] ?? '')?.[1] ?? '';
    this.remoteContact = /<([^>]+)>/.exec(final.headers.get('contact')?.[0] ?? '')?.[1] ?? `sip:${this.host}:${this.options.port}`;
    const answer = parseSdp(final.body);
    this.remoteRtp = answer.rtp;
    this.codec = (Object.entries(PT).find(([, pt]) => pt === answer.payloadTypes[0])?.[0] as SipCallerCodec | undefined) ?? 'PCMU';
    if (this.options.srtp) {
      const remote = parseCryptoAttribute(/^a=crypto:(.*)$/m.exec(final.body)?.[1] ?? '');
      if (!remote) throw new Error('the answer has no usable a=crypto');
      this.srtpIn = new SrtpContext(remote.masterKey, remote.masterSalt);
      this.srtpOut = new SrtpContext(this.localKey.masterKey, this.localKey.masterSalt);
    }
    this.sendRaw(this.ack(this.branch(), final, this.options.lateOffer ? this.sdp([this.codec]) : ''));
    this.isOpen = true;
    this.nextAt = performance.now();
    this.tick();
    return final;
  }

  /** Queues an utterance, sent in real time after what is already queued; resolves when its last frame is sent. */
  say(samples: Int16Array): Promise<{ startedAt: number }> {
    const startedAt = performance.now() + this.speech.length * 20;
    for (let offset = 0; offset < samples.length; offset += 160) {
      const frame = new Int16Array(160);
      frame.set(samples.subarray(offset, Math.min(offset + 160, samples.length)));
      this.speech.push(frame);
    }
    return new Promise<{ startedAt: number }>((resolve) => {
      this.speechDone.push({ framesLeft: this.speech.length, resolve: () => resolve({ startedAt }) });
    });
  }

  get speaking(): boolean { return this.speech.length > 0; }

  /** RFC 4733: a start packet (marker), two updates and three end packets, all with the event's timestamp; no marker when `noMarker`. */
  pressDigit(digit: string, options: { noMarker?: boolean; via?: 'rtp' | 'info' } = {}): Promise<SipResponse | void> {
    if (options.via === 'info') {
      const branch = this.branch();
      const body = `Signal=${digit}\r\nDuration=160\r\n`;
      return this.transact(branch, this.inDialog('INFO', branch, body, 'Content-Type: application/dtmf-relay\r\n'), (r) => r.status >= 200);
    }
    const event = '0123456789*#ABCD'.indexOf(digit);
    const ts = this.timestamp;
    const packets = [80, 400, 800, 1120, 1120, 1120].map((duration, i) => {
      const payload = Buffer.from([event, (i >= 3 ? 0x80 : 0) | 10, duration >> 8, duration & 0xff]);
      return this.rtpPacket(DTMF_PT, !options.noMarker && i === 0, ts, payload);
    });
    this.timestamp += 1120;
    packets.forEach((p, i) => setTimeout(() => this.sendRtp(p), i * 20));
    return Promise.resolve();
  }

  /** Sends a request in the dialog (e.g. a re-INVITE putting the call on hold) and waits for its final response. */
  async sendInDialog(method: string, body = '', extraHeaders = ''): Promise<SipResponse> {
    const branch = this.branch();
    return this.transact(branch, this.inDialog(method, branch, body, extraHeaders), (r) => r.status >= 200);
  }

  /** An SDP offer from this phone, with `direction` (hold: sendonly). */
  offer(direction: 'sendrecv' | 'sendonly' | 'inactive' = 'sendrecv'): string {
    return this.sdp([this.codec], direction);
  }

  async hangUp(): Promise<void> {
    this.stopClock();
    if (this.isOpen && !this.byeFromServer) {
      this.isOpen = false;
      await this.sendInDialog('BYE').catch(() => undefined);
    }
    this.isOpen = false;
    this.sip.close();
    this.rtp.close();
  }

  sendRaw(text: string | Buffer, port = this.options.port): void {
    this.sip.send(typeof text === 'string' ? Buffer.from(text) : text, port, this.host);
  }

  /** Packets from `from` on that carry sound. */
  audiblePackets(from = 0): number {
    let n = 0;
    for (let i = from; i < this.received.length; i++) if (this.received[i]!.audible) n++;
    return n;
  }

  async waitFor(what: string, predicate: () => boolean, timeoutMs = 30_000): Promise<void> {
    await until(what, predicate, timeoutMs);
  }

  async waitForBotQuiet(quietMs = 400, timeoutMs = 60_000): Promise<void> {
    await this.waitFor('the bot to go quiet', () => {
      let last: ReceivedRtp | undefined;
      for (let i = this.received.length - 1; i >= 0; i--) if (this.received[i]!.audible) { last = this.received[i]; break; }
      return last !== undefined && performance.now() - last.at > quietMs;
    }, timeoutMs);
  }

  private tick(): void {
    if (!this.isOpen) return;
    const frame = this.speech.shift() ?? new Int16Array(160);
    const payload = this.codec === 'PCMA' ? aLawEncode(frame) : muLawEncode(frame);
    this.sendRtp(this.rtpPacket(PT[this.codec], false, this.timestamp, Buffer.from(payload)));
    this.timestamp += 160;
    for (const waiter of this.speechDone) waiter.framesLeft--;
    while (this.speechDone[0] && this.speechDone[0].framesLeft <= 0) this.speechDone.shift()!.resolve();
    this.nextAt += 20;
    this.timer = setTimeout(() => this.tick(), Math.max(0, this.nextAt - performance.now()));
  }

  private stopClock(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private rtpPacket(payloadType: number, marker: boolean, timestamp: number, payload: Buffer): Buffer {
    const header = Buffer.alloc(12);
    header[0] = 0x80;
    header[1] = (marker ? 0x80 : 0) | payloadType;
    header.writeUInt16BE(this.seq, 2);
    this.seq = (this.seq + 1) & 0xffff;
    header.writeUInt32BE(timestamp >>> 0, 4);
    header.writeUInt32BE(this.ssrc, 8);
    return Buffer.concat([header, payload]);
  }

  private sendRtp(packet: Buffer): void {
    if (this.remoteRtp && this.isOpen) this.rtp.send(this.srtpOut ? this.srtpOut.protect(packet) : packet, this.remoteRtp.port, this.remoteRtp.address);
  }

  private onRtp(data: Buffer): void {
    if (this.srtpIn) {
      try { data = this.srtpIn.unprotect(data); } catch { this.srtpRejected++; return; }
    }
    if (data.length < 12 || data[0]! >> 6 !== 2) return;
    const payloadType = data[1]! & 0x7f;
    if (payloadType >= 72 && payloadType <= 76) return; // RTCP
    const cc = data[0]! & 0x0f;
    const payload = data.subarray(12 + cc * 4);
    const samples = payloadType === 8 ? aLawDecode(payload) : payloadType === 0 ? muLawDecode(payload) : new Int16Array(0);
    let sum = 0;
    for (const s of samples) sum += s * s;
    const audible = samples.length > 0 && Math.sqrt(sum / samples.length) > 100;
    this.received.push({
      at: performance.now(), seq: data.readUInt16BE(2), timestamp: data.readUInt32BE(4), payloadType,
      marker: (data[1]! & 0x80) !== 0, audible, samples,
    });
  }

  private onSip(text: string, rinfo: { address: string; port: number }): void {
    if (text.startsWith('SIP/2.0 ')) {
      const response = parseResponse(text);
      const branch = /branch=([^;\s,]+)/.exec(response.headers.get('via')?.[0] ?? '')?.[1] ?? '';
      this.waiters.get(branch)?.(response);
      return;
    }
    this.requestsFromServer.push(text);
    const method = text.slice(0, text.indexOf(' '));
    if (method === 'ACK') return;
    const headers = parseResponse(`SIP/2.0 0 x\r\n${text.slice(text.indexOf('\r\n') + 2)}`).headers;
    const copy = ['via', 'from', 'to', 'call-id', 'cseq'].flatMap((h) => (headers.get(h) ?? []).map((v) => `${h}: ${v}\r\n`)).join('');
    let status = 200;
    let body = '';
    if (method === 'BYE') { this.byeFromServer = true; this.isOpen = false; this.stopClock(); }
    if (method === 'REFER') {
      this.referTarget = /<([^>]+)>|(\S+)/.exec(headers.get('refer-to')?.[0] ?? '')?.slice(1).find(Boolean) ?? null;
      status = this.options.referStatus ?? 202;
    }
    if (method === 'INVITE' || method === 'UPDATE') body = this.sdp([this.codec]);
    const reason = status === 202 ? 'Accepted' : status === 200 ? 'OK' : 'Declined';
    const contact = `Contact: <sip:caller@127.0.0.1:${this.localSipPort}>\r\n`;
    const type = body ? 'Content-Type: application/sdp\r\n' : '';
    this.sip.send(Buffer.from(`SIP/2.0 ${status} ${reason}\r\n${copy}${contact}${type}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`), rinfo.port, rinfo.address);
    if (method === 'REFER' && status === 202) {
      const branch = this.branch();
      const frag = 'SIP/2.0 200 OK\r\n';
      setTimeout(() => this.sendRaw(this.inDialog('NOTIFY', branch, frag, 'Event: refer\r\nSubscription-State: terminated;reason=noresource\r\nContent-Type: message/sipfrag;version=2.0\r\n')), 50);
    }
  }

  private transact(branch: string, request: string, isFinal: (r: SipResponse) => boolean): Promise<SipResponse> {
    return new Promise((resolve, reject) => {
      let interval = 500;
      let retransmit: NodeJS.Timeout;
      const resend = () => { this.sendRaw(request); retransmit = setTimeout(resend, interval = Math.min(interval * 2, 4000)); };
      const timeout = setTimeout(() => { clearTimeout(retransmit); this.waiters.delete(branch); reject(new Error(`no final response to ${request.split(' ')[0]}`)); }, this.options.timeoutMs ?? 32_000);
      this.waiters.set(branch, (response) => {
        clearTimeout(retransmit); // any response stops retransmission of the request (INVITE: the 1xx does)
        if (!isFinal(response)) return;
        clearTimeout(timeout);
        this.waiters.delete(branch);
        resolve(response);
      });
      resend();
    });
  }

  private request(method: string, uri: string, branch: string, cseq: number, body: string, extra = '', to = `<sip:carevox@${this.host}>`): string {
    const from = this.options.from ?? '+15551230000';
    return `${method} ${uri} SIP/2.0\r\n`
      + `Via: SIP/2.0/UDP 127.0.0.1:${this.localSipPort};branch=${branch};rport\r\n`
      + `Max-Forwards: 70\r\n`
      + `From: "Test Caller" <sip:${from}@127.0.0.1>;tag=${this.fromTag}\r\n`
      + `To: ${to}\r\n`
      + `Call-ID: ${this.callId}\r\n`
      + `CSeq: ${cseq} ${method}\r\n`
      + `Contact: <sip:caller@127.0.0.1:${this.localSipPort}>\r\n`
      + `User-Agent: carevox-test-caller\r\n`
      + extra
      + (body ? 'Content-Type: application/sdp\r\n' : '')
      + `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  }

  private inDialog(method: string, branch: string, body = '', extra = ''): string {
    const to = `<sip:carevox@${this.host}>;tag=${this.toTag}`;
    const type = body && !/content-type/i.test(extra) ? 'Content-Type: application/sdp\r\n' : '';
    return this.request(method, this.remoteContact, branch, ++this.cseq, body, extra + type, to).replace('Content-Type: application/sdp\r\nContent-Type', 'Content-Type');
  }

  private ack(branch: string, final: SipResponse, body: string): string {
    const to = final.headers.get('to')?.[0] ?? '';
    const uri = final.status === 200 ? (/<([^>]+)>/.exec(final.headers.get('contact')?.[0] ?? '')?.[1] ?? `sip:carevox@${this.host}`) : `sip:carevox@${this.host}:${this.options.port}`;
    return this.request('ACK', uri, branch, 1, body, '', to).replace('CSeq: 1 ACK', `CSeq: ${this.cseq} ACK`);
  }

  private sdp(codecs: SipCallerCodec[], direction = 'sendrecv'): string {
    const pts = [...codecs.map((c) => PT[c]), DTMF_PT];
    return ['v=0', `o=- ${this.ssrc} 1 IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
      `m=audio ${this.localRtpPort} ${this.options.srtp ? 'RTP/SAVP' : 'RTP/AVP'} ${pts.join(' ')}`,
      ...(this.options.srtp ? [`a=crypto:${this.localKey.value}`] : []),
      ...codecs.map((c) => `a=rtpmap:${PT[c]} ${c}/8000`),
      `a=rtpmap:${DTMF_PT} telephone-event/8000`, `a=fmtp:${DTMF_PT} 0-16`, 'a=ptime:20', `a=${direction}`, ''].join('\r\n');
  }

  private branch(): string {
    return `z9hG4bK${randomBytes(6).toString('hex')}`;
  }
}

export function parseResponse(text: string): SipResponse {
  const [head, ...rest] = text.split('\r\n\r\n');
  const lines = head!.split('\r\n');
  const [, status, reason] = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(lines[0]!) ?? [];
  const headers = new Map<string, string[]>();
  const compact: Record<string, string> = { v: 'via', f: 'from', t: 'to', i: 'call-id', m: 'contact', l: 'content-length', c: 'content-type' };
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    let name = line.slice(0, colon).trim().toLowerCase();
    name = compact[name] ?? name;
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  return { status: Number(status), reason: reason ?? '', headers, body: rest.join('\r\n\r\n'), raw: text };
}

export function parseSdp(sdp: string): { rtp: { address: string; port: number } | null; payloadTypes: number[]; direction: string } {
  const address = /^c=IN IP4 (\S+)/m.exec(sdp)?.[1];
  const media = /^m=audio (\d+) \S+ ([\d ]+)/m.exec(sdp);
  const direction = /^a=(sendrecv|sendonly|recvonly|inactive)/m.exec(sdp)?.[1] ?? 'sendrecv';
  return {
    rtp: address && media ? { address, port: Number(media[1]) } : null,
    payloadTypes: media ? media[2]!.trim().split(/\s+/).map(Number) : [],
    direction,
  };
}
