/**
 * The Asterisk AudioSocket transport: one TCP connection = one call (`AudioSocket(uuid,host:port)` in the
 * dialplan, `Dial(AudioSocket/host:port/uuid/c(slin))`, or ARI externalMedia with encapsulation=audiosocket).
 * Asterisk sends the call's UUID first; the call starts then, with the UUID as its id. Its audio is already
 * 8 kHz PCM; ours goes back paced one 20 ms frame at a time (Asterisk plays what it gets as it gets it, so a
 * burst would reach the caller's phone as a burst). Sources must pass the SIP allow-list.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { describeError, type Logger } from '../../log.js';
import type { CallSession } from '../../media/call-session.js';
import { FramePacer } from '../../media/frame-pacer.js';
import { FRAME_SAMPLES } from '../../media/playout.js';
import { startCall, type CallServices } from '../../media/start-call.js';
import type { SourceAllowList } from '../allow-list.js';
import { AudioSocketReader, audioFrame, hangupFrame, type AudioSocketFrame } from './protocol.js';

/** Asterisk sends the UUID at once; a connection that says nothing for this long is closed. */
const UUID_TIMEOUT_MS = 5_000;
/** Audio buffered while the call's pipeline is being built (about 2 s). */
const MAX_EARLY_FRAMES = 100;
const MAX_LOGGED_PROBLEMS = 20;

export interface AudioSocketOptions {
  host: string;
  port: number;
  allowList: SourceAllowList;
  /** No audio from Asterisk for this long ends the call (a stuck channel). */
  mediaTimeoutMs: number;
}

export interface AudioSocketServer {
  readonly port: number;
  readonly activeConnections: number;
  close(): Promise<void>;
}

export async function startAudioSocketServer(services: CallServices, options: AudioSocketOptions): Promise<AudioSocketServer> {
  const log = services.logger.child({ transport: 'audiosocket' });
  const connections = new Set<Socket>();
  const live = new Set<CallSession>();
  const server: Server = createServer((socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
    handleConnection(socket, services, options, log, live);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => { server.off('error', reject); resolve(); });
  });
  server.on('error', (err) => log.error({ error: describeError(err) }, 'AudioSocket listener error'));
  const port = (server.address() as AddressInfo).port;
  log.info({ host: options.host, port }, 'AudioSocket listening');
  return {
    port,
    get activeConnections() { return connections.size; },
    close: async () => {
      // Hanging up hands each caller back to the dialplan (the front desk) before the sockets go.
      await Promise.all([...live].map((session) => session.handOver()));
      await new Promise<void>((resolve) => {
        for (const socket of connections) socket.destroy();
        server.close(() => resolve());
      });
    },
  };
}

function handleConnection(socket: Socket, services: CallServices, options: AudioSocketOptions, baseLog: Logger, live: Set<CallSession>): void {
  const { metrics } = services;
  let log = baseLog;
  const source = socket.remoteAddress ?? '';
  if (!options.allowList.allows(source)) {
    metrics.callRefused('audiosocket', 'source-not-allowed');
    log.warn({ source }, 'AudioSocket connection refused: source not in SIP_ALLOW');
    socket.destroy();
    return;
  }
  socket.setNoDelay(true);
  const reader = new AudioSocketReader();
  let session: CallSession | null = null;
  let starting = false;
  let closed = false;
  let problems = 0;
  let lastAudioAt = performance.now();
  const early: AudioSocketFrame[] = [];
  /** Caller audio arrives in whatever sizes Asterisk sends; the pipeline gets 20 ms frames. */
  let inbound = new Int16Array(0);
  let mediaMs = 0;

  const pacer = new FramePacer<Int16Array>({
    send: (samples) => { if (!socket.destroyed) socket.write(audioFrame(samples)); },
    onMarkReached: (name) => session?.playbackReached(name),
  });

  const uuidTimer = setTimeout(() => {
    metrics.malformedFrame('audiosocket-no-uuid');
    log.warn('AudioSocket connection sent no UUID: closing');
    socket.destroy();
  }, UUID_TIMEOUT_MS);
  const mediaWatch = setInterval(() => {
    if (!session || performance.now() - lastAudioAt < options.mediaTimeoutMs) return;
    log.warn({ timeoutMs: options.mediaTimeoutMs }, 'no audio from Asterisk: ending the call');
    void session.end('error').then(() => hangUp());
  }, 1000);

  const hangUp = () => {
    pacer.stop();
    if (!socket.destroyed) socket.end(hangupFrame());
  };

  const problem = (code: string, detail: string) => {
    problems++;
    session?.noteMalformedFrame();
    metrics.malformedFrame(`audiosocket-${code}`);
    if (problems <= MAX_LOGGED_PROBLEMS) log.warn({ code }, `ignored AudioSocket frame: ${detail}`);
  };

  const receiveAudio = (samples: Int16Array) => {
    lastAudioAt = performance.now();
    const joined = new Int16Array(inbound.length + samples.length);
    joined.set(inbound);
    joined.set(samples, inbound.length);
    let offset = 0;
    for (; offset + FRAME_SAMPLES <= joined.length; offset += FRAME_SAMPLES) {
      session!.receiveAudio(joined.slice(offset, offset + FRAME_SAMPLES), mediaMs);
      mediaMs += 20;
    }
    inbound = joined.slice(offset);
  };

  const route = (frame: AudioSocketFrame) => {
    switch (frame.kind) {
      case 'audio': return receiveAudio(frame.samples);
      case 'dtmf': return session!.receiveDtmf(frame.digit);
      case 'hangup': return void session!.end('caller-hung-up').then(() => socket.end());
      case 'error':
        log.warn({ code: frame.code }, 'Asterisk reported an AudioSocket error');
        return;
      case 'uuid': return problem('duplicate-uuid', 'a second UUID on one connection');
    }
  };

  const start = async (uuid: string) => {
    clearTimeout(uuidTimer);
    const admission = services.admission();
    if (admission !== 'open') {
      metrics.callRefused('audiosocket', admission);
      log.warn({ admission }, 'AudioSocket call refused: node not taking calls');
      socket.end(hangupFrame());
      return;
    }
    log = log.child({ callId: uuid });
    starting = true;
    try {
      session = await startCall({
        ...services,
        callId: uuid,
        transportKind: 'audiosocket',
        logger: services.logger.child({ transport: 'audiosocket' }),
        transport: {
          sendAudio: (samples) => pacer.enqueue(samples),
          clearAudio: () => { pacer.clear(); },
          markPlayback: (name) => pacer.mark(name),
          // AudioSocket cannot transfer: hanging up returns the channel to the dialplan, which goes on with
          // what follows AudioSocket() (the front desk, for a transfer).
          endCall: () => hangUp(),
        },
      }, services);
    } catch (err) {
      log.error({ error: describeError(err) }, 'could not start the call pipeline');
      socket.end(hangupFrame());
      return;
    } finally {
      starting = false;
    }
    live.add(session);
    if (closed) return void session.end('caller-hung-up');
    for (const frame of early.splice(0)) route(frame);
  };

  socket.on('data', (chunk: Buffer) => {
    const { frames, problems: found } = reader.push(chunk);
    for (const err of found) {
      problem(err.code, err.message);
      if (err.fatal) { socket.destroy(); return; }
    }
    for (const frame of frames) {
      if (!session && !starting) {
        if (frame.kind === 'uuid') { void start(frame.uuid); continue; }
        if (frame.kind === 'hangup') { socket.end(); return; }
        problem('before-uuid', `${frame.kind} before the UUID`);
        continue;
      }
      if (starting) {
        if (early.length < MAX_EARLY_FRAMES || frame.kind !== 'audio') early.push(frame);
        continue;
      }
      route(frame);
    }
  });
  socket.on('close', () => {
    closed = true;
    clearTimeout(uuidTimer);
    clearInterval(mediaWatch);
    pacer.stop();
    if (session) {
      live.delete(session);
      void session.end('caller-hung-up');
    }
  });
  socket.on('error', (err) => log.warn({ error: describeError(err) }, 'AudioSocket connection error'));
}
