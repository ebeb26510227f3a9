/**
 * DTMF carried in SIP INFO requests (PBXs set to "SIP INFO" DTMF mode): `application/dtmf-relay`
 * (`Signal=5` / `Duration=160`, Cisco's format, also sent by Asterisk and FreeSWITCH) and `application/dtmf`
 * (the digit alone). Digits go into the same dialog input as RFC 4733 events and Twilio's `dtmf`.
 */

/** The keypad digit an INFO carries, or null when its body is not DTMF (other INFO packages are just answered). */
export function digitFromInfo(contentType: string | undefined, body: string): string | null {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  let signal: string | undefined;
  if (type === 'application/dtmf-relay') signal = /^\s*signal\s*=\s*(\S+)/im.exec(body)?.[1];
  else if (type === 'application/dtmf') signal = body.trim();
  else return null;
  if (!signal) return null;
  // Some phones send the event number (10 = *, 11 = #) instead of the character.
  const byEvent: Record<string, string> = { '10': '*', '11': '#', '12': 'A', '13': 'B', '14': 'C', '15': 'D' };
  const digit = byEvent[signal] ?? signal.toUpperCase();
  return /^[0-9*#A-D]$/.test(digit) ? digit : null;
}
