/**
 * Logging. One pino root logger per server; each call gets a child carrying `callId` and `streamSid`.
 * Patient data (numbers, names, dates of birth, transcripts) is never passed to a logger; the redact list
 * below is a second line of defence should a field slip into an object that gets logged.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export const REDACTED_PATHS = [
  'callerNumber', 'from', 'to', 'phone', 'text', 'transcript', 'heardText', 'dob', 'name', 'firstName', 'lastName',
  'customParameters', 'req.body', 'body',
  '*.callerNumber', '*.from', '*.to', '*.phone', '*.text', '*.transcript', '*.heardText', '*.dob', '*.name',
  '*.firstName', '*.lastName', '*.customParameters', '*.body',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({
    level,
    base: { service: 'carevox' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  }, destination);
}

/** An error as a log field: its class and message only (stacks and causes can quote request data). */
export function describeError(err: unknown): { kind: string; message: string } {
  if (err instanceof Error) return { kind: err.name, message: err.message };
  return { kind: typeof err, message: String(err) };
}
