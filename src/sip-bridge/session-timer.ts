/**
 * Session timers (RFC 4028) for a call we answer. When the caller supports them we take the interval it asks
 * for (never under its Min-SE or ours), make the caller the refresher, and hang up if no refresh
 * (re-INVITE or UPDATE) comes before the session expires. The caller refreshing at half the interval is what
 * keeps a 15-minute call alive through a PBX that polices sessions (livekit/sip#96).
 */

/** RFC 4028's own floor for Min-SE. */
export const MIN_SESSION_EXPIRES_SECONDS = 90;

export interface SessionTimerRequest {
  /** The Session-Expires header of the INVITE or refresh, if any. */
  sessionExpires?: string;
  minSe?: string;
  /** The Supported header values (does the caller know `timer`?). */
  supported: string[];
}

export interface SessionTimerAnswer {
  /** Seconds until the session expires without a refresh. */
  intervalSeconds: number;
  /** Headers for our 2xx. */
  headers: Record<string, string>;
}

/** What to answer to an INVITE/UPDATE, or null when the caller uses no session timer. */
export function negotiateSessionTimer(request: SessionTimerRequest, preferredSeconds: number): SessionTimerAnswer | null {
  const supportsTimer = request.supported.some((s) => s.toLowerCase() === 'timer');
  const asked = request.sessionExpires ? parseDeltaSeconds(request.sessionExpires) : null;
  if (asked === null && !supportsTimer) return null;
  const floor = Math.max(MIN_SESSION_EXPIRES_SECONDS, request.minSe ? parseDeltaSeconds(request.minSe) ?? 0 : 0);
  // A UAS may shorten the interval the caller asked for, never lengthen it, and never go below Min-SE.
  const interval = Math.max(floor, Math.min(asked ?? preferredSeconds, preferredSeconds));
  const headers: Record<string, string> = { 'Session-Expires': `${interval};refresher=uac` };
  // Require only what the caller said it supports; otherwise the header alone tells it the interval.
  if (supportsTimer) headers.Require = 'timer';
  return { intervalSeconds: interval, headers };
}

function parseDeltaSeconds(value: string): number | null {
  const match = /^\s*(\d{1,10})\s*(;|$)/.exec(value);
  return match ? Number(match[1]) : null;
}
