/**
 * One call's RTP (RFC 3550) on a UDP port from the configured range. Inbound: packets of the negotiated codec
 * are put back in order by a small reorder buffer (at most 3 packets, 60 ms), lost packets and silence-
 * suppressed stretches become silence, a new SSRC starts a new stream, and RFC 4733 telephone-events become
 * digits (one per event, by RTP timestamp, never relying on the marker bit). Outbound: 20 ms frames paced by
 * FramePacer, silence when the bot says nothing so the stream stays continuous (PBXs hang up streams that
 * stop), sent to wherever the caller's packets come from (symmetric RTP: a private address in the SDP
 * otherwise means one-way audio). No RTP for the media timeout ends the call, except while on hold.
 */
import { createSocket, type Socket } from 'node:dgram';
import { aLawDecode, aLawEncode, muLawDecode, muLawEncode } from '../media/codec.js';
import { FramePacer, type PacerStats } from '../media/frame-pacer.js';
import { FRAME_SAMPLES } from '../media/playout.js';
import type { SrtpContext } from './srtp.js';

export type RtpCodecName = 'PCMU' | 'PCMA';

export interface RtpCodec { name: RtpCodecName; payloadType: number; encode(pcm: Int16Array): Uint8Array; decode(payload: Uint8Array): Int16Array }

export const RTP_CODECS: Record<RtpCodecName, RtpCodec> = {
  PCMU: { name: 'PCMU', payloadType: 0, encode: (pcm) => muLawEncode(pcm), decode: (p) => muLawDecode(p) },
  PCMA: { name: 'PCMA', payloadType: 8, encode: (pcm) => aLawEncode(pcm), decode: (p) => aLawDecode(p) },
};

const REORDER_PACKETS = 3;
/** A timestamp jump longer than this is a new talk spurt, not silence to fill in. */
const MAX_FILL_SAMPLES = 8000;
const DTMF_EVENTS = '0123456789*#ABCD';

export interface RtpPacket { payloadType: number; marker: boolean; seq: number; timestamp: number; ssrc: number; payload: Buffer }

export class RtpParseError extends Error {
  constructor(message: string) { super(message); this.name = 'RtpParseError'; }
}

export function parseRtp(data: Buffer): RtpPacket {
  if (data.length < 12) throw new RtpParseError('shorter than an RTP header');
  if (data[0]! >> 6 !== 2) throw new RtpParseError('not RTP version 2');
  const csrcCount = data[0]! & 0x0f;
  let offset = 12 + csrcCount * 4;
  if (data[0]! & 0x10) {
    if (data.length < offset + 4) throw new RtpParseError('truncated header extension');
    offset += 4 + data.readUInt16BE(offset + 2) * 4;
  }
  let end = data.length;
  if (data[0]! & 0x20) end -= data[data.length - 1]!;
  if (offset > end) throw new RtpParseError('header longer than the packet');
  return {
    payloadType: data[1]! & 0x7f, marker: (data[1]! & 0x80) !== 0,
    seq: data.readUInt16BE(2), timestamp: data.readUInt32BE(4), ssrc: data.readUInt32BE(8),
    payload: data.subarray(offset, end),
  };
}

export function serializeRtp(packet: Omit<RtpPacket, 'payload'> & { payload: Uint8Array }): Buffer {
  const out = Buffer.alloc(12 + packet.payload.length);
  out[0] = 0x80;
  out[1] = (packet.marker ? 0x80 : 0) | packet.payloadType;
  out.writeUInt16BE(packet.seq & 0xffff, 2);
  out.writeUInt32BE(packet.timestamp >>> 0, 4);
  out.writeUInt32BE(packet.ssrc >>> 0, 8);
  out.set(packet.payload, 12);
  return out;
}

/** Even ports from the range, one per call; RTCP would take the odd one above. */
export class RtpPortAllocator {
  private readonly inUse = new Set<number>();
  private next: number;

  constructor(private readonly min: number, private readonly max: number, private readonly host: string) {
    this.next = min + (min % 2);
  }

  async open(): Promise<{ socket: Socket; port: number; release(): void }> {
    const span = Math.floor((this.max - this.min) / 2) + 1;
    for (let tries = 0; tries < span; tries++) {
      const port = this.next;
      this.next = port + 2 > this.max ? this.min + (this.min % 2) : port + 2;
      if (this.inUse.has(port)) continue;
      const socket = createSocket(this.host.includes(':') ? 'udp6' : 'udp4');
      const bound = await new Promise<boolean>((resolve) => {
        socket.once('error', () => resolve(false));
        socket.bind(port, this.host, () => resolve(true));
      });
      if (!bound) { socket.close(); continue; }
      this.inUse.add(port);
      return { socket, port, release: () => { this.inUse.delete(port); socket.close(); } };
    }
    throw new Error(`no free RTP port in ${this.min}-${this.max}`);
  }

  get active(): number { return this.inUse.size; }
}

export interface RtpHandlers {
  onAudio(samples: Int16Array, timestampMs: number): void;
  onDtmf(digit: string): void;
  onPlaybackReached(name: string): void;
  onMediaTimeout(): void;
}

export interface RtpSessionOptions {
  socket: Socket;
  port: number;
  release(): void;
  remote: { address: string; port: number };
  codec: RtpCodec;
  dtmfPayloadType: number | null;
  firstMediaTimeoutMs: number;
  mediaTimeoutMs: number;
}

export interface RtpStats extends PacerStats {
  packetsIn: number;
  packetsLost: number;
  reordered: number;
  duplicates: number;
  ssrcChanges: number;
  unknownPayloadTypes: number;
  malformed: number;
  /** SRTP packets that failed authentication or were replays (dropped). */
  srtpRejected: number;
  latchedTo: string | null;
}

export class RtpSession {
  private handlers: RtpHandlers | null = null;
  private remote: { address: string; port: number };
  private latched = false;
  private readonly pacer: FramePacer<Int16Array>;
  private readonly ssrc = (Math.random() * 0xffffffff) >>> 0;
  private seq = Math.floor(Math.random() * 0xffff);
  private timestamp = (Math.random() * 0xffffffff) >>> 0;
  private sending = true;
  private onHold = false;
  private lastPacketAt: number | null = null;
  private readonly startedAt = performance.now();
  private watch: NodeJS.Timeout | null = null;
  // Inbound stream state.
  private inboundSsrc: number | null = null;
  private expectedSeq = 0;
  private lastTimestamp = 0;
  private mediaMs = 0;
  private readonly held = new Map<number, RtpPacket>();
  private lastDtmf: { ssrc: number; timestamp: number } | null = null;
  private closed = false;
  private readonly counters = { packetsIn: 0, packetsLost: 0, reordered: 0, duplicates: 0, ssrcChanges: 0, unknownPayloadTypes: 0, malformed: 0, srtpRejected: 0 };
  private srtp: { inbound: SrtpContext; outbound: SrtpContext } | null = null;
  private codec: RtpCodec;
  private dtmfPayloadType: number | null;

  constructor(private readonly options: RtpSessionOptions) {
    this.remote = options.remote;
    this.codec = options.codec;
    this.dtmfPayloadType = options.dtmfPayloadType;
    const silence = new Int16Array(FRAME_SAMPLES);
    this.pacer = new FramePacer<Int16Array>({
      send: (samples) => this.sendFrame(samples),
      idleFrame: () => silence,
      onMarkReached: (name) => this.handlers?.onPlaybackReached(name),
    });
    options.socket.on('message', (data, rinfo) => this.received(data, rinfo));
  }

  get localPort(): number { return this.options.port; }

  start(handlers: RtpHandlers): void {
    this.handlers = handlers;
    this.pacer.start();
    this.watch = setInterval(() => this.checkTimeout(), 500);
  }

  /** SRTP contexts for both directions (SDES keys from the SDP), or null for plain RTP. */
  setSrtp(contexts: { inbound: SrtpContext; outbound: SrtpContext } | null): void { this.srtp = contexts; }

  sendAudio(samples: Int16Array): void { this.pacer.enqueue(samples); }
  clear(): void { this.pacer.clear(); }
  mark(name: string): void { this.pacer.mark(name); }

  /** A re-INVITE: new address, codec or direction. Hold stops the media timeout; `sendonly` from us stops nothing. */
  update(params: { remote: { address: string; port: number }; codec: RtpCodec; dtmfPayloadType: number | null; send: boolean; onHold: boolean }): void {
    if (!this.latched || params.remote.address !== this.remote.address) this.remote = params.remote;
    this.codec = params.codec;
    this.dtmfPayloadType = params.dtmfPayloadType;
    this.sending = params.send;
    this.onHold = params.onHold;
    this.lastPacketAt = performance.now(); // the timeout counts from the change
  }

  close(): RtpStats {
    if (!this.closed) {
      this.closed = true;
      this.pacer.stop();
      if (this.watch) clearInterval(this.watch);
      this.options.release();
    }
    return { ...this.pacer.summary(), ...this.counters, latchedTo: this.latched ? `${this.remote.address}:${this.remote.port}` : null };
  }

  private sendFrame(samples: Int16Array): void {
    if (this.closed) return;
    const plain = serializeRtp({ payloadType: this.codec.payloadType, marker: false, seq: this.seq, timestamp: this.timestamp, ssrc: this.ssrc, payload: this.codec.encode(samples) });
    const packet = this.srtp ? this.srtp.outbound.protect(plain) : plain;
    this.seq = (this.seq + 1) & 0xffff;
    this.timestamp = (this.timestamp + FRAME_SAMPLES) >>> 0;
    if (this.sending) this.options.socket.send(packet, this.remote.port, this.remote.address);
  }

  private checkTimeout(): void {
    if (this.closed || this.onHold) return;
    const since = this.lastPacketAt ?? this.startedAt;
    const limit = this.lastPacketAt === null ? this.options.firstMediaTimeoutMs : this.options.mediaTimeoutMs;
    if (performance.now() - since > limit) {
      this.onHold = true; // report once
      this.handlers?.onMediaTimeout();
    }
  }

  private received(data: Buffer, from: { address: string; port: number }): void {
    if (this.closed) return;
    if (data.length >= 2 && data[1]! >= 200 && data[1]! <= 204) return; // (S)RTCP multiplexed on the port
    let packet: RtpPacket;
    try {
      if (this.srtp) {
        try {
          data = this.srtp.inbound.unprotect(data);
        } catch {
          this.counters.srtpRejected++;
          return;
        }
      }
      packet = parseRtp(data);
    } catch {
      this.counters.malformed++;
      return;
    }
    this.lastPacketAt = performance.now();
    this.counters.packetsIn++;
    // Symmetric RTP: answer where the caller's media really comes from.
    if (!this.latched || packet.ssrc !== this.inboundSsrc) {
      this.latched = true;
      this.remote = { address: from.address, port: from.port };
    }
    if (packet.payloadType === this.dtmfPayloadType) return this.receivedDtmf(packet);
    if (packet.payloadType !== this.codec.payloadType) {
      this.counters.unknownPayloadTypes++;
      return;
    }
    if (this.inboundSsrc !== packet.ssrc) {
      if (this.inboundSsrc !== null) this.counters.ssrcChanges++;
      this.inboundSsrc = packet.ssrc;
      this.held.clear();
      this.expectedSeq = packet.seq;
      this.lastTimestamp = packet.timestamp - FRAME_SAMPLES;
    }
    const ahead = (packet.seq - this.expectedSeq + 0x10000) & 0xffff;
    if (ahead >= 0x8000) {
      this.counters.duplicates++; // behind what was played: late or repeated
      return;
    }
    if (ahead > 0) {
      if (this.held.has(packet.seq)) { this.counters.duplicates++; return; }
      this.held.set(packet.seq, packet);
      if (this.held.size < REORDER_PACKETS) return;
      // Waited long enough for the missing one: it is lost.
      while (!this.held.has(this.expectedSeq)) {
        this.counters.packetsLost++;
        this.deliverSilence(FRAME_SAMPLES);
        this.lastTimestamp = (this.lastTimestamp + FRAME_SAMPLES) >>> 0;
        this.expectedSeq = (this.expectedSeq + 1) & 0xffff;
      }
    } else {
      if (this.held.size > 0) this.counters.reordered++;
      this.held.set(packet.seq, packet);
    }
    for (let next = this.held.get(this.expectedSeq); next; next = this.held.get(this.expectedSeq)) {
      this.held.delete(this.expectedSeq);
      this.deliver(next);
      this.expectedSeq = (this.expectedSeq + 1) & 0xffff;
    }
  }

  private deliver(packet: RtpPacket): void {
    // A timestamp jump beyond one frame is silence the sender suppressed: give the pipeline that silence.
    const gap = ((packet.timestamp - this.lastTimestamp) >>> 0) - FRAME_SAMPLES;
    if (gap > 0 && gap <= MAX_FILL_SAMPLES) this.deliverSilence(gap);
    this.lastTimestamp = packet.timestamp;
    const samples = this.codec.decode(packet.payload);
    this.handlers?.onAudio(samples, this.mediaMs);
    this.mediaMs += samples.length / 8;
  }

  private deliverSilence(samples: number): void {
    for (let left = samples; left > 0; left -= FRAME_SAMPLES) {
      const length = Math.min(FRAME_SAMPLES, left);
      this.handlers?.onAudio(new Int16Array(length), this.mediaMs);
      this.mediaMs += length / 8;
    }
  }

  /** RFC 4733: one digit per event (same timestamp), whether or not its marker bit or its first packet arrived. */
  private receivedDtmf(packet: RtpPacket): void {
    if (packet.payload.length < 4) { this.counters.malformed++; return; }
    const event = packet.payload[0]!;
    if (event >= DTMF_EVENTS.length) return; // other telephone events (flash, tones)
    if (this.lastDtmf && this.lastDtmf.ssrc === packet.ssrc && this.lastDtmf.timestamp === packet.timestamp) return;
    this.lastDtmf = { ssrc: packet.ssrc, timestamp: packet.timestamp };
    this.handlers?.onDtmf(DTMF_EVENTS[event]!);
  }
}
