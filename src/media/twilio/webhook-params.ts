/**
 * Validation of the form parameters Twilio posts to our webhooks. Only what we use is checked, by shape and
 * length, so nothing oversized or odd reaches a token, a TwiML document or the store. The error names the
 * field and the problem, never the value: From and To are patients' phone numbers.
 */

/** Twilio call SIDs: "CA" and 32 hex digits. */
const CALL_SID = /^CA[0-9a-fA-F]{32}$/;
/** Longest From/To accepted (a SIP URI with parameters is the longest real value). */
export const MAX_ADDRESS_LENGTH = 256;
/**
 * What Twilio sends as From/To: E.164 numbers (and national digits from some carriers), a withheld number
 * (`anonymous`, `restricted`, ...), a Voice SDK identity (`client:alice`), or a SIP URI (`sip:bob@example.com`).
 */
const ADDRESS_SHAPES: readonly RegExp[] = [
  /^\+?[0-9]{2,15}$/,
  /^(anonymous|restricted|unknown|private|unavailable)$/i,
  /^client:[A-Za-z0-9_.@+-]{1,121}$/,
  /^sips?:[^\s<>"'\\]{1,250}$/i,
];

export type WebhookParamProblem = 'missing' | 'too long' | 'not a Twilio CallSid' | 'not a phone number, client or SIP address';

export class WebhookParamError extends Error {
  constructor(readonly field: string, readonly problem: WebhookParamProblem) {
    super(`${field}: ${problem}`);
    this.name = 'WebhookParamError';
  }
}

export interface VoiceWebhookParams { callSid: string; from?: string; to?: string }

export function validateCallSid(params: Record<string, string>): string {
  const callSid = params.CallSid;
  if (callSid === undefined || callSid === '') throw new WebhookParamError('CallSid', 'missing');
  if (callSid.length > 34) throw new WebhookParamError('CallSid', 'too long');
  if (!CALL_SID.test(callSid)) throw new WebhookParamError('CallSid', 'not a Twilio CallSid');
  return callSid;
}

function validateAddress(params: Record<string, string>, field: 'From' | 'To'): string | undefined {
  const value = params[field];
  if (value === undefined || value === '') return undefined;
  if (value.length > MAX_ADDRESS_LENGTH) throw new WebhookParamError(field, 'too long');
  if (!ADDRESS_SHAPES.some((shape) => shape.test(value))) throw new WebhookParamError(field, 'not a phone number, client or SIP address');
  return value;
}

/** The voice webhook's parameters; throws WebhookParamError naming the first bad field. */
export function validateVoiceParams(params: Record<string, string>): VoiceWebhookParams {
  return { callSid: validateCallSid(params), from: validateAddress(params, 'From'), to: validateAddress(params, 'To') };
}
