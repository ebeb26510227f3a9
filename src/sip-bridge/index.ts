/**
 * Calls from the clinic's own phone system: the SIP user agent (RTP media) and the Asterisk AudioSocket
 * server, started together after the HTTP server listens. Both start their calls through `startCall`, like
 * Twilio. `close()` hands each live call of theirs to the front desk before the listeners go.
 */
import { describeError } from '../log.js';
import type { CallServices } from '../media/start-call.js';
import { SourceAllowList } from './allow-list.js';
import { startAudioSocketServer, type AudioSocketServer } from './audiosocket/server.js';
import { DigestChallenger, parseAuthUsers } from './digest.js';
import { RtpPortAllocator, type RtpCodecName } from './rtp-session.js';
import { SipTransportLayer } from './sip-transport.js';
import { SipUserAgent } from './sip-ua.js';

export interface PhoneSystemBridges {
  /** What /health reports: each listener and its port. */
  health(): Record<string, unknown>;
  readonly audioSocketPort: number | null;
  /** The SIP listener's ports (UDP and TCP share one), null when SIP is off. */
  readonly sipPorts: { udp: number; tcp: number; tls: number | null } | null;
  close(): Promise<void>;
}

export class BridgeStartError extends Error {
  constructor(readonly listener: 'sip' | 'audiosocket', message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BridgeStartError';
  }
}

export async function startPhoneSystemBridges(services: CallServices): Promise<PhoneSystemBridges> {
  const { config } = services;
  const allowList = new SourceAllowList(config.sip.allow);
  let audioSocket: AudioSocketServer | null = null;
  if (config.audiosocket.port !== undefined) {
    const host = config.audiosocket.host ?? config.server.host;
    try {
      audioSocket = await startAudioSocketServer(services, {
        host, port: config.audiosocket.port, allowList, mediaTimeoutMs: config.sip.mediaTimeoutSeconds * 1000,
      });
    } catch (err) {
      throw new BridgeStartError('audiosocket', `cannot listen for AudioSocket on ${host}:${config.audiosocket.port}: ${describeError(err).message}`, { cause: err });
    }
  }
  let sip: { transport: SipTransportLayer; ua: SipUserAgent; rtpPorts: RtpPortAllocator } | null = null;
  if (config.sip.enabled) {
    const host = config.sip.host ?? config.server.host;
    const allowed = config.sip.codecs.split(',') as RtpCodecName[];
    const users = parseAuthUsers(config.sip.authUsers);
    const rtpPorts = new RtpPortAllocator(config.sip.rtpPortMin, config.sip.rtpPortMax, host);
    let transport: SipTransportLayer | null = null;
    const ua: SipUserAgent = new SipUserAgent({
      services, transport: () => transport!, allowList,
      digest: users.size ? new DigestChallenger(config.sip.authRealm, users) : null,
      media: {
        allowed, ports: rtpPorts, srtp: config.sip.srtp,
        firstMediaTimeoutMs: config.sip.firstMediaTimeoutSeconds * 1000, mediaTimeoutMs: config.sip.mediaTimeoutSeconds * 1000,
      },
      publicAddress: config.sip.publicAddress ?? (host === '0.0.0.0' || host === '::' ? undefined : host),
      sipPort: 0,
      transferTarget: config.sip.transferMode === 'refer' ? config.sip.transferTarget : undefined,
      answerDelayMs: config.sip.answerDelayMs,
      sessionExpiresSeconds: config.sip.sessionExpiresSeconds,
      logger: services.logger.child({ transport: 'sip' }),
    });
    const tls = config.sip.tlsCertFile && config.sip.tlsKeyFile
      ? { port: config.sip.tlsPort, certFile: config.sip.tlsCertFile, keyFile: config.sip.tlsKeyFile } : undefined;
    try {
      transport = await SipTransportLayer.listen({
        host, port: config.sip.port, tls,
        onMessage: (message, peer) => ua.received(message, peer),
        onRejected: (code) => services.metrics.sipMessageRejected(code),
      });
    } catch (err) {
      await audioSocket?.close();
      throw new BridgeStartError('sip', `cannot listen for SIP on ${host}:${config.sip.port}: ${describeError(err).message}`, { cause: err });
    }
    ua.setSipPort(transport.ports().udp);
    sip = { transport, ua, rtpPorts };
    services.logger.info({ host, ...transport.ports(), rtp: `${config.sip.rtpPortMin}-${config.sip.rtpPortMax}` }, 'SIP listening');
  }
  const started = sip;
  return {
    audioSocketPort: audioSocket?.port ?? null,
    sipPorts: started?.transport.ports() ?? null,
    health: () => ({
      ...(started ? { sip: { state: 'listening', ...started.transport.ports(), calls: started.ua.activeCalls, rtpPortsInUse: started.rtpPorts.active } } : {}),
      ...(audioSocket ? { audiosocket: { state: 'listening', port: audioSocket.port, connections: audioSocket.activeConnections } } : {}),
    }),
    close: async () => {
      // Live SIP calls are handed to the front desk (REFER, or BYE for the dialplan) while we can still signal.
      if (started) await Promise.all(started.ua.calls().map((call) => call.callSession?.handOver()));
      await audioSocket?.close();
      started?.ua.close();
      await started?.transport.close();
    },
  };
}
