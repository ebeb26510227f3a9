/**
 * Caller numbers against OpenEMR's phone fields. OpenEMR matches phones as exact strings and clinics store them
 * in many shapes, so a lookup is tried in the common stored formats, and results are re-checked by digits.
 */

/** The national significant number: last 10 digits for NANP (+1) numbers, else all digits. */
export function phoneDigits(phone: string): string {
  const digits = phone.replace(/\D/g, '');
  if (digits.length === 11 && digits.startsWith('1')) return digits.slice(1);
  return digits.length > 10 ? digits : digits.slice(-10);
}

/** Shapes a 10-digit number is commonly stored in, most common first. Empty for numbers too short to search. */
export function storedPhoneFormats(phone: string): string[] {
  const d = phoneDigits(phone);
  if (d.length !== 10) return d.length >= 7 ? [d] : [];
  const [a, b, c] = [d.slice(0, 3), d.slice(3, 6), d.slice(6)];
  return [`${a}-${b}-${c}`, d, `(${a}) ${b}-${c}`, `${a}.${b}.${c}`, `+1${d}`, `+1 ${a} ${b} ${c}`, `1${d}`, `${a} ${b} ${c}`];
}

export function samePhone(a: string, b: string): boolean {
  const x = phoneDigits(a);
  return x.length >= 7 && x === phoneDigits(b);
}

/** E.164 for a stored number where it is a plain NANP number, else the stored digits. */
export function toE164(stored: string): string {
  const d = phoneDigits(stored);
  return d.length === 10 ? `+1${d}` : d;
}
