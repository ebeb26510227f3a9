/**
 * The caller's number from an INVITE, for the same caller-ID lookup Twilio calls get: P-Asserted-Identity
 * (what a trunk or PBX vouches for) before From (what the caller's phone says), user part of a sip: URI or the
 * number of a tel: URI, visual separators dropped. Withheld numbers ("anonymous", "restricted") give none.
 */

/** `<sip:+1 (555) 123-4567@pbx;user=phone>`, `"Name" <tel:+15551234567>`, `sip:5551234567@host` -> digits with an optional leading +. */
export function numberFromIdentity(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const uri = /<([^>]*)>/.exec(value)?.[1] ?? value.trim().split(/[;\s]/)[0] ?? '';
  let user: string;
  const tel = /^tel:([^;]+)/i.exec(uri);
  if (tel) user = tel[1]!;
  else {
    const sip = /^sips?:([^@;]+)@/i.exec(uri);
    if (!sip) return undefined;
    user = decodeURIComponentSafe(sip[1]!.split(':')[0]!); // drop a password part
  }
  const cleaned = user.replace(/[\s().\-/]/g, '');
  if (!/^\+?\d{3,15}$/.test(cleaned)) return undefined;
  return cleaned;
}

export function callerNumberFrom(headers: { pAssertedIdentity?: string[]; from?: string }): string | undefined {
  for (const value of headers.pAssertedIdentity ?? []) {
    // A header may list a sip and a tel identity; either will do.
    for (const part of value.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/)) {
      const number = numberFromIdentity(part);
      if (number) return number;
    }
  }
  return numberFromIdentity(headers.from);
}

function decodeURIComponentSafe(text: string): string {
  try { return decodeURIComponent(text); } catch { return text; }
}
