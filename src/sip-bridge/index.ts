/**
 * Calls from the clinic's own phone system: the SIP user agent (RTP media) and the Asterisk AudioSocket
 * server, started together after the HTTP server listens. Both start their calls through `startCall`, like
 * Twilio. `close()` hands each live call of theirs to the front desk before the listeners go.
 */
import { describeError } from '../log.js';
import type { CallServices } from '../media/start-call.js';
import { SourceAllowList } from './allow-list.js';
import { startAudioSocketServer, type AudioSocketServer } from './audiosocket/server.js';

export interface PhoneSystemBridges {
  /** What /health reports: each listener and its port. */
  health(): Record<string, unknown>;
  readonly audioSocketPort: number | null;
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
  return {
    audioSocketPort: audioSocket?.port ?? null,
    health: () => ({
      ...(audioSocket ? { audiosocket: { state: 'listening', port: audioSocket.port, connections: audioSocket.activeConnections } } : {}),
    }),
    close: async () => {
      await audioSocket?.close();
    },
  };
}
