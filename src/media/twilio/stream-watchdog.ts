/**
 * Liveness of one media WebSocket: a socket must send `start` within `startTimeoutMs`; a started call must
 * keep sending media (Twilio sends a frame every 20 ms for the whole call) with gaps under `mediaTimeoutMs`;
 * and the peer must show it is there between two WebSocket pings, sent every `pingIntervalMs`: a pong, or
 * any message (a peer that streams media is alive even if it were slow to pong). Each failure is reported
 * once through its callback; the transport decides how the call ends.
 */
import type { WebSocket } from 'ws';
import type { Config } from '../../config/index.js';

export type StreamTimeout = 'no-start' | 'no-media' | 'no-pong';

export interface StreamWatchdog {
  /** The stream started: the start timer stops and the media timer begins. */
  started(): void;
  /** A media frame arrived. */
  media(): void;
  /** Any message arrived (the peer is there). */
  heard(): void;
  stop(): void;
}

export function watchStream(
  socket: WebSocket, limits: Config['limits'], onTimeout: (reason: StreamTimeout) => void,
): StreamWatchdog {
  let stopped = false;
  const fire = (reason: StreamTimeout) => {
    if (stopped) return;
    stop();
    onTimeout(reason);
  };
  let startTimer: NodeJS.Timeout | null = setTimeout(() => fire('no-start'), limits.startTimeoutMs);
  let mediaTimer: NodeJS.Timeout | null = null;
  let answered = true;
  const onPong = () => { answered = true; };
  socket.on('pong', onPong);
  const pingTimer = setInterval(() => {
    if (!answered) return fire('no-pong');
    answered = false;
    if (socket.readyState === socket.OPEN) socket.ping();
  }, limits.pingIntervalMs);

  function stop(): void {
    stopped = true;
    if (startTimer) clearTimeout(startTimer);
    if (mediaTimer) clearTimeout(mediaTimer);
    clearInterval(pingTimer);
    startTimer = mediaTimer = null;
    socket.off('pong', onPong);
  }

  return {
    started: () => {
      if (stopped) return;
      if (startTimer) clearTimeout(startTimer);
      startTimer = null;
      mediaTimer = setTimeout(() => fire('no-media'), limits.mediaTimeoutMs);
    },
    // refresh() re-arms the same timer: cheap enough for 50 frames a second.
    media: () => { mediaTimer?.refresh(); },
    heard: () => { answered = true; },
    stop,
  };
}
