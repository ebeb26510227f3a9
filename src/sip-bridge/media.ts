/**
 * SDP offer/answer (RFC 3264, parsed and written with sdp-transform) and the RTP session it sets up. We answer
 * with the first codec in the caller's order that we also allow (the offerer's preference, RFC 3264 §6.1),
 * telephone-event at the codec's 8000 Hz clock when offered, ptime 20, and the direction that mirrors the
 * offer's (hold: sendonly -> recvonly, inactive -> inactive). No common codec is a `no-common-codec` problem
 * (the UA answers 488). An INVITE without SDP gets our offer in the 200 and its answer arrives in the ACK.
 */
import { parse, write, type MediaDescription, type SessionDescription } from 'sdp-transform';
import { RTP_CODECS, RtpSession, type RtpCodec, type RtpCodecName, type RtpHandlers, type RtpPortAllocator, type RtpStats } from './rtp-session.js';
import { cryptoAttribute, parseCryptoAttribute, SrtpContext } from './srtp.js';

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
export type MediaProblem = 'no-audio' | 'no-common-codec' | 'bad-sdp' | 'srtp-unsupported' | 'srtp-required' | 'no-usable-crypto';
/** SIP_SRTP: never, when the caller offers it (RTP/SAVP with SDES keys), or only that. */
export type SrtpPolicy = 'off' | 'optional' | 'required';

export interface MediaOffer { sdp?: string }
export interface MediaPlan { localSdp: string }

export interface Negotiated {
  codec: RtpCodec;
  dtmfPayloadType: number | null;
  remote: { address: string; port: number };
  /** The caller's direction (what it will do). */
  direction: Direction;
  /** SDES: the caller's key for what it sends us, and the tag of the crypto line it came on. */
  srtp: { tag: number; masterKey: Buffer; masterSalt: Buffer } | null;
}

const STATIC_PT: Record<number, RtpCodecName> = { 0: 'PCMU', 8: 'PCMA' };
const DEFAULT_DTMF_PT = 101;

/** Reads an SDP (offer or answer) against the codecs we allow. */
export function negotiate(sdp: string, allowed: RtpCodecName[], srtp: SrtpPolicy = 'off'): Negotiated | { problem: MediaProblem } {
  let session: SessionDescription;
  try {
    session = parse(sdp);
  } catch {
    return { problem: 'bad-sdp' };
  }
  const audio = session.media?.find((m) => m.type === 'audio' && m.port !== 0);
  if (!audio) return { problem: session.media?.length ? 'no-audio' : 'bad-sdp' };
  const secure = /^RTP\/SAVP$/i.test(audio.protocol);
  if (/SAVPF|UDP\/TLS/i.test(audio.protocol) || (secure && srtp === 'off')) return { problem: 'srtp-unsupported' };
  if (!secure && srtp === 'required') return { problem: 'srtp-required' };
  let keys: Negotiated['srtp'] = null;
  if (secure) {
    for (const line of audio.crypto ?? []) {
      keys = parseCryptoAttribute(`${line.id} ${line.suite} ${line.config}`);
      if (keys) break;
    }
    if (!keys) return { problem: 'no-usable-crypto' };
  }
  const payloads = String(audio.payloads ?? '').trim().split(/\s+/).map(Number).filter(Number.isFinite);
  const nameOf = (pt: number): string | undefined => {
    const rtp = audio.rtp?.find((r) => r.payload === pt);
    if (rtp) return `${rtp.codec.toUpperCase()}/${rtp.rate ?? 8000}`;
    return STATIC_PT[pt] ? `${STATIC_PT[pt]}/8000` : undefined;
  };
  let codec: RtpCodec | null = null;
  for (const pt of payloads) {
    const name = nameOf(pt);
    const match = allowed.find((c) => name === `${c}/8000`);
    if (match) { codec = { ...RTP_CODECS[match], payloadType: pt }; break; }
  }
  if (!codec) return { problem: 'no-common-codec' };
  const dtmf = payloads.find((pt) => nameOf(pt) === 'TELEPHONE-EVENT/8000') ?? null;
  const address = audio.connection?.ip ?? session.connection?.ip;
  if (!address) return { problem: 'bad-sdp' };
  return { codec, dtmfPayloadType: dtmf, remote: { address, port: audio.port }, direction: directionOf(audio, session, address), srtp: keys };
}

function directionOf(audio: MediaDescription, session: SessionDescription, address: string): Direction {
  // RFC 2543 hold: a connection address of 0.0.0.0.
  if (address === '0.0.0.0') return 'inactive';
  return (audio.direction ?? session.direction ?? 'sendrecv') as Direction;
}

const MIRROR: Record<Direction, Direction> = { sendrecv: 'sendrecv', sendonly: 'recvonly', recvonly: 'sendonly', inactive: 'inactive' };

/** Our SDP: one audio stream on `port` with the codecs given (an answer lists exactly the chosen ones). */
export function writeSdp(params: {
  address: string; port: number; sessionId: number; version: number;
  codecs: RtpCodec[]; dtmfPayloadType: number | null; direction: Direction;
  /** Our SDES crypto line (RTP/SAVP) when the stream is encrypted. */
  crypto?: { tag: number; value: string };
}): string {
  const ipVer = params.address.includes(':') ? 6 : 4;
  const payloads = [...params.codecs.map((c) => c.payloadType), ...(params.dtmfPayloadType === null ? [] : [params.dtmfPayloadType])];
  return write({
    version: 0,
    origin: { username: 'carevox', sessionId: params.sessionId, sessionVersion: params.version, netType: 'IN', ipVer, address: params.address },
    name: 'carevox',
    connection: { version: ipVer, ip: params.address },
    timing: { start: 0, stop: 0 },
    media: [{
      type: 'audio', port: params.port, protocol: params.crypto ? 'RTP/SAVP' : 'RTP/AVP', payloads: payloads.join(' '),
      rtp: [
        ...params.codecs.map((c) => ({ payload: c.payloadType, codec: c.name, rate: 8000 })),
        ...(params.dtmfPayloadType === null ? [] : [{ payload: params.dtmfPayloadType, codec: 'telephone-event', rate: 8000 }]),
      ],
      fmtp: params.dtmfPayloadType === null ? [] : [{ payload: params.dtmfPayloadType, config: '0-16' }],
      ptime: 20,
      direction: params.direction,
      ...(params.crypto ? { crypto: [{ id: params.crypto.tag, suite: 'AES_CM_128_HMAC_SHA1_80', config: params.crypto.value.split(' ').slice(2).join(' ') }] } : {}),
    }],
  });
}

export interface CallMediaOptions {
  allowed: RtpCodecName[];
  srtp: SrtpPolicy;
  localAddress: string;
  ports: RtpPortAllocator;
  firstMediaTimeoutMs: number;
  mediaTimeoutMs: number;
}

/** One call's media: the negotiated stream, its RTP session, and the SDP versions we have sent. */
export class CallMedia {
  private version = 1;
  private readonly sessionId = Math.floor(Math.random() * 1e9);
  private negotiated: Negotiated | null;
  /** Our SDES key for what we send, made once per call (a re-offer keeps it). */
  private readonly localKey = cryptoAttribute(1);
  /** The caller's key in use, so a re-offer with the same key keeps the receive context (its replay window). */
  private remoteKey: string | null = null;
  private constructor(
    private readonly options: CallMediaOptions,
    private readonly rtp: RtpSession,
    negotiated: Negotiated | null,
    readonly plan: MediaPlan,
  ) {
    this.negotiated = negotiated;
  }

  /** Sets up media for an INVITE: an answer to its offer, or our offer when it had none. */
  static async forInvite(offer: MediaOffer, options: CallMediaOptions): Promise<CallMedia | { problem: MediaProblem }> {
    const negotiated = offer.sdp?.trim() ? negotiate(offer.sdp, options.allowed, options.srtp) : null;
    if (negotiated && 'problem' in negotiated) return negotiated;
    const { socket, port, release } = await options.ports.open();
    const codec = negotiated?.codec ?? RTP_CODECS[options.allowed[0]!];
    const rtp = new RtpSession({
      socket, port, release,
      remote: negotiated?.remote ?? { address: '0.0.0.0', port: 9 },
      codec, dtmfPayloadType: negotiated ? negotiated.dtmfPayloadType : DEFAULT_DTMF_PT,
      firstMediaTimeoutMs: options.firstMediaTimeoutMs, mediaTimeoutMs: options.mediaTimeoutMs,
    });
    const media = new CallMedia(options, rtp, negotiated, { localSdp: '' });
    if (negotiated) media.apply(negotiated);
    media.plan.localSdp = negotiated ? media.answer(negotiated) : media.currentOffer();
    return media;
  }

  start(handlers: RtpHandlers): void { this.rtp.start(handlers); }
  sendAudio(samples: Int16Array): void { this.rtp.sendAudio(samples); }
  clear(): void { this.rtp.clear(); }
  mark(name: string): void { this.rtp.mark(name); }

  /** The answer to our offer (late-offer INVITE, in the ACK). Returns a problem when it cannot be used. */
  acceptAnswer(sdp: string): MediaProblem | null {
    const negotiated = negotiate(sdp, this.options.allowed, this.options.srtp);
    if ('problem' in negotiated) return negotiated.problem;
    this.apply(negotiated);
    return null;
  }

  /** A new offer in the dialog (hold, resume, refresh). */
  renegotiate(sdp: string): { localSdp: string; direction: Direction } | { problem: MediaProblem } {
    const negotiated = negotiate(sdp, this.options.allowed, this.options.srtp);
    if ('problem' in negotiated) return negotiated;
    this.apply(negotiated);
    return { localSdp: this.answer(negotiated), direction: negotiated.direction };
  }

  /** Our offer: every codec we allow, telephone-event; RTP/SAVP with our key only when SRTP is required. */
  currentOffer(): string {
    return writeSdp({
      address: this.options.localAddress, port: this.rtp.localPort, sessionId: this.sessionId, version: this.version++,
      codecs: this.options.allowed.map((c) => RTP_CODECS[c]), dtmfPayloadType: DEFAULT_DTMF_PT, direction: 'sendrecv',
      crypto: this.options.srtp === 'required' ? { tag: 1, value: this.localKey.value } : undefined,
    });
  }

  close(): RtpStats { return this.rtp.close(); }

  private answer(negotiated: Negotiated): string {
    return writeSdp({
      address: this.options.localAddress, port: this.rtp.localPort, sessionId: this.sessionId, version: this.version++,
      codecs: [negotiated.codec], dtmfPayloadType: negotiated.dtmfPayloadType, direction: MIRROR[negotiated.direction],
      // Our key answers on the tag of the caller's crypto line we chose (RFC 4568 7.1.2).
      crypto: negotiated.srtp ? { tag: negotiated.srtp.tag, value: cryptoAttribute(negotiated.srtp.tag, this.localKey.masterKey, this.localKey.masterSalt).value } : undefined,
    });
  }

  private apply(negotiated: Negotiated): void {
    this.negotiated = negotiated;
    const remoteKey = negotiated.srtp ? Buffer.concat([negotiated.srtp.masterKey, negotiated.srtp.masterSalt]).toString('base64') : null;
    if (remoteKey !== this.remoteKey) {
      this.remoteKey = remoteKey;
      this.rtp.setSrtp(negotiated.srtp ? {
        inbound: new SrtpContext(negotiated.srtp.masterKey, negotiated.srtp.masterSalt),
        outbound: new SrtpContext(this.localKey.masterKey, this.localKey.masterSalt),
      } : null);
    }
    this.rtp.update({ remote: negotiated.remote, codec: negotiated.codec, dtmfPayloadType: negotiated.dtmfPayloadType, ...flow(negotiated.direction) });
  }
}

/** What the caller's direction means for us: do we send, and is the call on hold. */
function flow(direction: Direction): { send: boolean; onHold: boolean } {
  return { send: direction === 'sendrecv' || direction === 'recvonly', onHold: direction === 'sendonly' || direction === 'inactive' };
}
