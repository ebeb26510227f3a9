/**
 * The one typed configuration module. Values come from (lowest to highest precedence):
 * schema defaults, an optional JSON file (`CAREVOX_CONFIG=path`), then environment variables.
 * Every error names the offending key, both as env variable and as file path.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);
const ms = z.coerce.number().int().min(0).max(60_000);
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')]);

export const ConfigSchema = z.object({
  server: z.object({
    host: z.string().min(1).default('0.0.0.0'),
    port: port.default(8080),
    /** Host name Twilio reaches us on (wss://PUBLIC_HOST/twilio/media). Defaults to the request's Host header. */
    publicHost: z.string().min(1).optional(),
  }).prefault({}),
  log: z.object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  }).prefault({}),
  twilio: z.object({
    /** When set, every voice webhook must carry a valid X-Twilio-Signature. */
    authToken: z.string().min(1).optional(),
    /** HMAC key for the short-lived per-call stream token. Random per process when unset (single node). */
    callTokenSecret: z.string().min(16).default(() => randomBytes(32).toString('hex')),
    callTokenTtlSeconds: z.coerce.number().int().min(5).max(3600).default(120),
    /** Number dialled when the caller asks for a person (E.164). */
    transferNumber: z.string().regex(/^\+?[0-9]{3,15}$/).optional(),
  }).prefault({}),
  vad: z.object({
    /** Silero speech probability at or above which a window counts as speech. */
    threshold: z.coerce.number().min(0.05).max(0.99).default(0.5),
    /** Continuous speech needed before a turn starts (filters clicks). */
    minSpeechMs: ms.default(96),
    /** Silence after speech that ends the caller's turn. */
    endSilenceMs: ms.default(640),
    /** Audio kept before speech start so ASR hears the onset. */
    preRollMs: ms.default(192),
  }).prefault({}),
  bargeIn: z.object({
    enabled: bool.default(true),
    /** Speech the caller must sustain while the bot talks before the bot yields (coughs, "hmm" stay below). */
    minSpeechMs: ms.default(224),
  }).prefault({}),
  playout: z.object({
    /** How far ahead of real time outbound audio may be sent to Twilio. */
    leadMs: ms.default(200),
  }).prefault({}),
  asr: z.object({
    engine: z.enum(['none', 'sherpa', 'openai']).default('none'),
  }).prefault({}),
  tts: z.object({
    engine: z.enum(['flite', 'sherpa', 'elevenlabs', 'openai']).default('flite'),
    voice: z.string().min(1).default('slt'),
  }).prefault({}),
  dialog: z.object({
    clinicName: z.string().min(1).default('the clinic'),
    /** Seconds of caller silence before a reprompt. */
    noInputSeconds: z.coerce.number().min(2).max(60).default(7),
  }).prefault({}),
});

export type Config = z.infer<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;

/** Environment variable -> config path. The README's configuration table mirrors this. */
export const ENV_KEYS: Record<string, string> = {
  HOST: 'server.host',
  PORT: 'server.port',
  PUBLIC_HOST: 'server.publicHost',
  LOG_LEVEL: 'log.level',
  TWILIO_AUTH_TOKEN: 'twilio.authToken',
  CALL_TOKEN_SECRET: 'twilio.callTokenSecret',
  CALL_TOKEN_TTL_SECONDS: 'twilio.callTokenTtlSeconds',
  TRANSFER_NUMBER: 'twilio.transferNumber',
  VAD_THRESHOLD: 'vad.threshold',
  VAD_MIN_SPEECH_MS: 'vad.minSpeechMs',
  VAD_END_SILENCE_MS: 'vad.endSilenceMs',
  VAD_PRE_ROLL_MS: 'vad.preRollMs',
  BARGE_IN_ENABLED: 'bargeIn.enabled',
  BARGE_IN_MIN_SPEECH_MS: 'bargeIn.minSpeechMs',
  PLAYOUT_LEAD_MS: 'playout.leadMs',
  ASR_ENGINE: 'asr.engine',
  TTS_ENGINE: 'tts.engine',
  TTS_VOICE: 'tts.voice',
  CLINIC_NAME: 'dialog.clinicName',
  NO_INPUT_SECONDS: 'dialog.noInputSeconds',
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Builds a validated config from an env map (default: process.env) and optional overrides (tests). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: ConfigInput = {}): Config {
  const fromFile = env.CAREVOX_CONFIG ? readConfigFile(env.CAREVOX_CONFIG) : {};
  const merged = deepMerge(deepMerge(fromFile, envToTree(env)), overrides as Record<string, unknown>);
  const parsed = ConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const envByPath = Object.fromEntries(Object.entries(ENV_KEYS).map(([k, v]) => [v, k]));
    throw new ConfigError(parsed.error.issues.map((issue) => {
      const path = issue.path.join('.');
      const envName = envByPath[path];
      return `${envName ? `${envName} (${path})` : path}: ${issue.message}`;
    }));
  }
  return parsed.data;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`CAREVOX_CONFIG: cannot read ${path}: ${(err as Error).message}`]);
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
    return value as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError([`CAREVOX_CONFIG: ${path} is not a valid JSON object: ${(err as Error).message}`]);
  }
}

function envToTree(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const tree: Record<string, unknown> = {};
  for (const [name, path] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const [section, key] = path.split('.') as [string, string];
    const target = (tree[section] ??= {}) as Record<string, unknown>;
    target[key] = value;
  }
  return tree;
}

function deepMerge(base: Record<string, unknown>, top: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(top)) {
    const prev = out[key];
    out[key] = isPlainObject(prev) && isPlainObject(value) ? deepMerge(prev, value) : value;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
