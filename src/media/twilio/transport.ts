/**
 * The Twilio Media Streams transport: one WebSocket = one call. It parses wire messages (protocol.ts),
 * authenticates the stream at `start` with the per-call token, and hands decoded events to a CallSession;
 * the session's output goes back through the serializers. Malformed or unexpected frames are counted and
 * logged (without payloads) and never end the call. A socket that never starts, a call whose media stops and a
 * peer that stops answering pings are closed (stream-watchdog.ts); a started call then ends as 'error', so the
 * after-stream webhook hands the caller to the front desk.
 */
import type { WebSocket } from 'ws';
import { describeError, type Logger } from '../../log.js';
import type { Metrics } from '../../metrics/index.js';
import type { CallSession, CallSessionParams } from '../call-session.js';
import { muLawDecode, muLawEncode } from '../codec.js';
import { startCall, type CallFrontDesk } from '../start-call.js';
import { verifyCallToken, type CallTokenLedger } from './call-token.js';
import { watchStream, type StreamTimeout } from './stream-watchdog.js';
import {
  parseTwilioMessage, serializeClear, serializeMark, serializeMedia, TwilioProtocolError, validateMediaFormat,
  type TwilioInbound, type TwilioStartEvent,
} from './protocol.js';

/** WebSocket close codes sent to Twilio when a stream is refused. */
export const CLOSE_POLICY_VIOLATION = 1008;
export const CLOSE_UNSUPPORTED_DATA = 1003;
/** "Try again later": the node holds as many not-yet-started sockets as it allows. */
export const CLOSE_TRY_AGAIN_LATER = 1013;
/** Media frames buffered while the call's pipeline is being built (about 2 s of audio). */
const MAX_EARLY_FRAMES = 100;
/** Per call, malformed frames beyond this are still counted but no longer logged one by one. */
const MAX_LOGGED_MALFORMED = 20;

export interface TwilioStreamDeps extends Omit<CallSessionParams, 'callId' | 'callerNumber' | 'transport' | 'onEnded' | 'logger'>, CallFrontDesk {
  logger: Logger;
  metrics: Metrics;
  /** Consumes each stream token at `start`: one stream per token. */
  tokens: CallTokenLedger;
  /** Sockets of this node upgraded but not yet started (capped at config.limits.maxPendingSockets). */
  pendingSockets: Set<WebSocket>;
}

export function handleTwilioStream(socket: WebSocket, deps: TwilioStreamDeps): void {
  let log = deps.logger.child({ transport: 'twilio' });
  let streamSid: string | null = null;
  let callSid: string | null = null;
  let session: CallSession | null = null;
  let starting = false;
  let closed = false;
  let malformed = 0;
  const early: TwilioInbound[] = [];
  const pending = deps.pendingSockets;
  if (pending.size >= deps.config.limits.maxPendingSockets) {
    deps.metrics.malformedFrame('too-many-pending');
    log.warn({ pending: pending.size }, 'stream refused: too many sockets waiting for start');
    socket.close(CLOSE_TRY_AGAIN_LATER, 'too many pending streams');
    return;
  }
  pending.add(socket);
  const watchdog = watchStream(socket, deps.config.limits, (reason) => void timedOut(reason));
  const timedOut = async (reason: StreamTimeout) => {
    deps.metrics.malformedFrame(reason);
    log.warn({ reason }, `closing the stream: ${reason}`);
    pending.delete(socket);
    // A call that stops mid-way ends as 'error': the after-stream webhook then dials the front desk.
    if (session) await session.end('error');
    if (reason === 'no-pong') socket.terminate(); // the peer is gone: no close handshake to wait for
    else if (socket.readyState === socket.OPEN) socket.close(1000, reason);
  };

  // `code` is the metric label (a fixed set); `reason` may quote what the start message carried.
  const reject = (code: 'unsupported-format' | 'invalid-token' | 'replayed-token', reason: string, closeCode: number) => {
    deps.metrics.malformedFrame(code);
    log.warn({ reason }, `stream refused: ${reason}`);
    socket.close(closeCode, reason.slice(0, 120));
  };

  const countMalformed = (code: string, detail: string) => {
    malformed++;
    session?.noteMalformedFrame();
    deps.metrics.malformedFrame(code);
    if (malformed <= MAX_LOGGED_MALFORMED) log.warn({ code, malformed }, `ignored frame: ${detail}`);
  };

  const route = (message: TwilioInbound) => {
    if (!session) return;
    switch (message.event) {
      case 'media': return session.receiveAudio(muLawDecode(message.payload), message.timestampMs);
      case 'dtmf': return session.receiveDtmf(message.digit);
      case 'mark': return session.playbackReached(message.name);
      case 'stop': return void hangUp();
      default: return countMalformed('unexpected-event', `unexpected ${message.event} during the call`);
    }
  };

  const hangUp = async () => {
    if (session) await session.end('caller-hung-up');
    if (socket.readyState === socket.OPEN) socket.close(1000);
  };

  const start = async (message: TwilioStartEvent) => {
    const formatProblem = validateMediaFormat(message);
    if (formatProblem) return reject('unsupported-format', formatProblem, CLOSE_UNSUPPORTED_DATA);
    const token = message.customParameters.token ?? '';
    const from = message.customParameters.from ?? '';
    const verdict = verifyCallToken(deps.config.twilio.callTokenSecret, token, { callSid: message.callSid, from });
    if (!verdict.ok) return reject('invalid-token', `invalid stream token (${verdict.reason})`, CLOSE_POLICY_VIOLATION);
    streamSid = message.streamSid;
    callSid = message.callSid;
    log = log.child({ callId: callSid, streamSid });
    starting = true;
    const sid = callSid;
    // A token opens one stream: a second socket with it (a replay, concurrent or later) never reaches the call.
    if ((await deps.tokens.consume(token, verdict.expiresAt)) === 'replayed') {
      starting = false;
      early.length = 0;
      return reject('replayed-token', 'stream token already used', CLOSE_POLICY_VIOLATION);
    }
    if (closed) return;
    try {
      session = await startCall({
        ...deps,
        callId: sid,
        transportKind: 'twilio',
        callerNumber: from || undefined,
        logger: deps.logger.child({ transport: 'twilio', streamSid: message.streamSid }),
        transport: {
          sendAudio: (samples) => send(serializeMedia(message.streamSid, muLawEncode(samples))),
          // Twilio echoes a mark once the audio before it has played (or was cleared): our playback report.
          markPlayback: (name) => send(serializeMark(message.streamSid, name)),
          clearAudio: () => send(serializeClear(message.streamSid)),
          // The outcome is in the registry and shared state: the after-stream webhook continues the call with it.
          endCall: () => { if (socket.readyState === socket.OPEN) socket.close(1000, 'call ended'); },
        },
      }, deps);
    } catch (err) {
      starting = false;
      log.error({ error: describeError(err) }, 'could not start the call pipeline');
      socket.close(1011, 'internal error');
      return;
    }
    starting = false;
    pending.delete(socket);
    if (closed) return void session.end('caller-hung-up');
    for (const queued of early.splice(0)) route(queued);
  };

  const send = (text: string) => {
    if (socket.readyState === socket.OPEN) socket.send(text);
  };

  socket.on('message', (data, isBinary) => {
    watchdog.heard();
    let message: TwilioInbound;
    try {
      message = parseTwilioMessage(data as Buffer, isBinary);
    } catch (err) {
      if (err instanceof TwilioProtocolError) return countMalformed(err.code, err.message);
      return countMalformed('parse-failure', describeError(err).message);
    }
    if (message.event === 'connected') return;
    if (message.event === 'media') watchdog.media();
    if (message.event === 'start') {
      if (streamSid || starting) return countMalformed('duplicate-start', 'a second start on one stream');
      watchdog.started();
      return void start(message);
    }
    if (!streamSid) return countMalformed('before-start', `${message.event} before start`);
    if (message.streamSid !== streamSid) return countMalformed('wrong-stream', 'streamSid does not match this stream');
    if (starting) {
      if (early.length < MAX_EARLY_FRAMES || message.event !== 'media') early.push(message);
      return;
    }
    route(message);
  });

  socket.on('close', () => {
    closed = true;
    pending.delete(socket);
    watchdog.stop();
    if (session) void session.end('caller-hung-up');
  });
  socket.on('error', (err) => {
    log.warn({ error: describeError(err) }, 'websocket error');
  });
}
