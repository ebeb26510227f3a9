/**
 * SIP's network layer (RFC 3261 §18): UDP and TCP on one port, TLS on another when a certificate is
 * configured. Streams are framed by Content-Length; CRLF keep-alives are answered (RFC 5626 §4.4.1). A request
 * gets `received`/`rport` on its top Via (RFC 3581), so its responses and our in-dialog requests go back to
 * where it came from, which is what works behind NAT. Nothing a peer sends can throw out of a socket handler:
 * unparseable input is dropped and counted, answerable input is answered 400.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer, connect, isIP, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, connect as tlsConnect, type TLSSocket } from 'node:tls';
import {
  buildResponse, MAX_SIP_MESSAGE_BYTES, parseSipMessage, serializeSipMessage, SipParseError, topVia, type SipMessage,
} from './sip-message.js';

export type SipProtocol = 'udp' | 'tcp' | 'tls';

/** Where a message came from, and where its answer goes. */
export interface SipPeer { protocol: SipProtocol; address: string; port: number }

export interface SipTransportOptions {
  host: string;
  port: number;
  tls?: { port: number; certFile: string; keyFile: string };
  onMessage(message: SipMessage, peer: SipPeer): void;
  /** A message dropped (unparseable) or answered 400; `code` is a fixed label for metrics. */
  onRejected(code: string, peer: SipPeer): void;
}

const peerKey = (p: SipPeer) => `${p.protocol}:${p.address}:${p.port}`;

export class SipTransportLayer {
  private readonly streams = new Map<string, Socket>();
  private closed = false;
  private constructor(
    private readonly options: SipTransportOptions,
    private readonly udp: UdpSocket,
    private readonly tcp: Server,
    private readonly tls: Server | null,
  ) {}

  static async listen(options: SipTransportOptions): Promise<SipTransportLayer> {
    const family = isIP(options.host) === 6 ? 'udp6' : 'udp4';
    const udp = createSocket({ type: family, reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(options.port, options.host, () => { udp.off('error', reject); resolve(); });
    });
    // TCP on the port UDP got (a free port when 0 was asked for).
    const port = udp.address().port;
    let layer: SipTransportLayer | null = null;
    const tcp = createServer((socket) => layer?.adoptStream(socket, 'tcp'));
    await listenOn(tcp, port, options.host).catch((err: unknown) => { udp.close(); throw err; });
    let tls: Server | null = null;
    if (options.tls) {
      const { certFile, keyFile } = options.tls;
      tls = createTlsServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (socket) => layer?.adoptStream(socket, 'tls'));
      tls.on('tlsClientError', () => options.onRejected('tls-handshake', { protocol: 'tls', address: '', port: 0 }));
      await listenOn(tls, options.tls.port, options.host).catch((err: unknown) => { udp.close(); tcp.close(); throw err; });
    }
    layer = new SipTransportLayer(options, udp, tcp, tls);
    udp.on('message', (data, rinfo) => layer!.received(data, { protocol: 'udp', address: rinfo.address, port: rinfo.port }));
    udp.on('error', () => undefined);
    return layer;
  }

  ports(): { udp: number; tcp: number; tls: number | null } {
    const tlsAddress = this.tls?.address();
    return {
      udp: this.udp.address().port,
      tcp: (this.tcp.address() as { port: number }).port,
      tls: tlsAddress && typeof tlsAddress === 'object' ? tlsAddress.port : null,
    };
  }

  /** Sends over the peer's transport: its stream if one is open (opening one for TCP/TLS requests if not). */
  send(message: SipMessage, peer: SipPeer): void {
    if (this.closed) return;
    const bytes = serializeSipMessage(message);
    if (peer.protocol === 'udp') {
      this.udp.send(bytes, peer.port, peer.address);
      return;
    }
    let stream = this.streams.get(peerKey(peer));
    if (!stream || stream.destroyed) {
      if (message.kind === 'response') return; // the connection is gone; the peer retransmits on a new one
      stream = peer.protocol === 'tls'
        ? tlsConnect({ host: peer.address, port: peer.port, rejectUnauthorized: false })
        : connect({ host: peer.address, port: peer.port });
      this.adoptStream(stream, peer.protocol, peer);
    }
    stream.write(bytes);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stream of this.streams.values()) stream.destroy();
    this.udp.close();
    await Promise.all([this.tcp, this.tls].filter((s): s is Server => s !== null).map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  private adoptStream(socket: Socket | TLSSocket, protocol: SipProtocol, known?: SipPeer): void {
    const peer: SipPeer = known ?? { protocol, address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    this.streams.set(peerKey(peer), socket);
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      for (;;) {
        // Keep-alive: a double CRLF ping is answered with one CRLF (pong); lone CRLFs between messages skipped.
        let skip = 0;
        while (skip + 1 < pending.length && pending[skip] === 0x0d && pending[skip + 1] === 0x0a) skip += 2;
        if (skip >= 4) socket.write('\r\n');
        if (skip) pending = pending.subarray(skip);
        const headEnd = pending.indexOf('\r\n\r\n');
        if (headEnd < 0) {
          if (pending.length > MAX_SIP_MESSAGE_BYTES) { this.options.onRejected('stream-overflow', peer); socket.destroy(); }
          return;
        }
        const head = pending.subarray(0, headEnd).toString('latin1');
        const lengthMatch = /^(?:content-length|l)[ \t]*:[ \t]*(\d+)/im.exec(head);
        const length = lengthMatch ? Number(lengthMatch[1]) : 0; // RFC 3261 18.3: required on streams; absent reads as 0
        if (length > MAX_SIP_MESSAGE_BYTES) { this.options.onRejected('stream-overflow', peer); socket.destroy(); return; }
        const total = headEnd + 4 + length;
        if (pending.length < total) return;
        const message = pending.subarray(0, total);
        pending = pending.subarray(total);
        this.received(Buffer.from(message), peer);
      }
    });
    socket.on('close', () => { if (this.streams.get(peerKey(peer)) === socket) this.streams.delete(peerKey(peer)); });
    socket.on('error', () => undefined);
  }

  private received(data: Buffer, peer: SipPeer): void {
    if (peer.protocol === 'udp' && data.every((b) => b === 0x0d || b === 0x0a || b === 0x00)) return; // UDP keep-alive
    let message: SipMessage;
    try {
      message = parseSipMessage(data);
    } catch (err) {
      if (!(err instanceof SipParseError)) throw err;
      this.options.onRejected(err.code, peer);
      if (err.respondable && err.partial && err.partial.method !== 'ACK') {
        this.send(buildResponse(err.partial, 400, `Bad Request (${err.message})`.slice(0, 100)), peer);
      }
      return;
    }
    if (message.kind === 'request') markReceived(message, peer);
    try {
      this.options.onMessage(message, peer);
    } catch {
      this.options.onRejected('handler-error', peer);
    }
  }
}

/** RFC 3261 18.2.1 and RFC 3581: note on the top Via where the request really came from. */
function markReceived(message: SipMessage, peer: SipPeer): void {
  const index = message.headers.findIndex(([n]) => n === 'via');
  const via = topVia(message);
  if (index < 0 || !via) return;
  let value = message.headers[index]![1];
  if (via.host.replace(/^\[|\]$/g, '') !== peer.address && !via.params.has('received')) value += `;received=${peer.address}`;
  if (via.params.has('rport') && !via.params.get('rport')) value = value.replace(/;rport(?=;|$)/, `;rport=${peer.port}`);
  message.headers[index] = ['via', value];
}

function listenOn(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
}
