/**
 * The one typed configuration module. Values come from (lowest to highest precedence):
 * schema defaults, an optional JSON file (`CAREVOX_CONFIG=path`), then environment variables.
 * Every error names the offending key, both as env variable and as file path.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
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
    /** On SIGTERM: how long live calls may go on before each is handed to the front desk. */
    drainSeconds: z.coerce.number().int().min(0).max(3600).default(30),
    /** This node's name, stored with each call: at start-up its calls left unended by a crash become "interrupted". */
    nodeId: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/).default(() => hostname().slice(0, 64)),
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
  /** Calls from the clinic's own phone system: SIP/RTP (src/sip-bridge/) and Asterisk AudioSocket. */
  sip: z.object({
    /** Off: no SIP listener at all (Twilio-only sites). */
    enabled: bool.default(true),
    /** Address SIP listens on; defaults to server.host. */
    host: z.string().min(1).optional(),
    /** UDP and TCP. 0 picks a free port (tests); /health reports the one bound. */
    port: port.default(5060),
    /** SIP over TLS, when tlsCertFile and tlsKeyFile are set. */
    tlsPort: port.default(5061),
    tlsCertFile: z.string().min(1).optional(),
    tlsKeyFile: z.string().min(1).optional(),
    /** Address put in our Contact and SDP (a NAT's public address); defaults to the address a call reached. */
    publicAddress: z.string().min(1).optional(),
    rtpPortMin: port.default(20000),
    rtpPortMax: port.default(20999),
    /**
     * Sources allowed to call without authenticating: comma-separated IPs and CIDRs (your PBX, your trunk's
     * signalling ranges). Loopback by default so the two-command start can be tried locally.
     */
    allow: z.string().default('127.0.0.0/8,::1'),
    /** Digest users for trunks that authenticate: `user:password` pairs, comma-separated. */
    authUsers: z.string().optional(),
    authRealm: z.string().min(1).default('carevox'),
    /** Codecs we accept and offer, in our order (G.711 mu-law and A-law; G.722 not yet). */
    codecs: z.string().regex(/^(PCMU|PCMA)(,(PCMU|PCMA))*$/, 'expected PCMU and/or PCMA, comma-separated').default('PCMU,PCMA'),
    /** SRTP (SDES): off, optional (when the offer asks), or required (488 for plain RTP offers). */
    srtp: z.enum(['off', 'optional', 'required']).default('optional'),
    /** Where a caller asking for a person goes: a SIP URI for REFER (e.g. sip:frontdesk@pbx.clinic.local). */
    transferTarget: z.string().regex(/^sips?:.+/).optional(),
    /** `refer`: REFER to transferTarget, BYE when refused; `bye`: always BYE (the PBX dialplan goes on). */
    transferMode: z.enum(['refer', 'bye']).default('refer'),
    /** No RTP for this long hangs up (paused while the call is on hold). */
    mediaTimeoutSeconds: z.coerce.number().int().min(1).max(3600).default(15),
    /** Before the first RTP packet (some PBXs start media late). */
    firstMediaTimeoutSeconds: z.coerce.number().int().min(1).max(3600).default(30),
    /** Ring this long (180) before answering: time for a caller to hear ringback, or for a test to CANCEL. */
    answerDelayMs: ms.default(0),
    /** Session timers (RFC 4028): the interval we ask for when the caller supports them. */
    sessionExpiresSeconds: z.coerce.number().int().min(90).max(86_400).default(1800),
    /** Register to a PBX as an extension (for sites that cannot route calls to a fixed address). */
    registrar: z.string().regex(/^sips?:.+/).optional(),
    registerUser: z.string().min(1).optional(),
    registerPassword: z.string().min(1).optional(),
    registerExpiresSeconds: z.coerce.number().int().min(60).max(86_400).default(600),
  }).superRefine((sip, ctx) => {
    if (sip.rtpPortMin > sip.rtpPortMax || sip.rtpPortMax - sip.rtpPortMin < 3) {
      ctx.addIssue({ code: 'custom', path: ['rtpPortMax'], message: `RTP port range ${sip.rtpPortMin}-${sip.rtpPortMax} must hold at least two even/odd port pairs` });
    }
    if (!sip.tlsCertFile !== !sip.tlsKeyFile) {
      ctx.addIssue({ code: 'custom', path: [sip.tlsCertFile ? 'tlsKeyFile' : 'tlsCertFile'], message: 'SIP over TLS needs both a certificate and its key' });
    }
    if (sip.registrar && !sip.registerUser) ctx.addIssue({ code: 'custom', path: ['registerUser'], message: 'registering to a PBX needs the extension\'s user name' });
    if (sip.authUsers && !/^[^:,\s]+:[^,]+(,[^:,\s]+:[^,]+)*$/.test(sip.authUsers)) {
      ctx.addIssue({ code: 'custom', path: ['authUsers'], message: 'expected user:password pairs separated by commas' });
    }
  }).prefault({}),
  audiosocket: z.object({
    /** Asterisk AudioSocket TCP port; 0 picks a free port (tests). Unset: no AudioSocket listener. */
    port: port.optional(),
    /** Defaults to server.host. Sources must pass sip.allow. */
    host: z.string().min(1).optional(),
  }).prefault({}),
  vad: z.object({
    /** Silero speech probability at or above which a window counts as speech. */
    threshold: z.coerce.number().min(0.05).max(0.99).default(0.5),
    /** Continuous speech needed before a turn starts (filters clicks). */
    minSpeechMs: ms.default(96),
    /** Silence after speech that ends the caller's turn when nothing better is known (endpointing `fixed`, or no usable words). */
    endSilenceMs: ms.default(640),
    /** Audio kept before speech start so ASR hears the onset. */
    preRollMs: ms.default(192),
  }).prefault({}),
  /** When a caller's turn is over: see src/pipeline/endpointing.ts. */
  endpointing: z.object({
    /** `expectation`: the wait depends on what was asked and what was said; `fixed`: vad.endSilenceMs for every turn. */
    mode: z.enum(['expectation', 'fixed']).default('expectation'),
    /** VAD silence that closes one speech segment (the words so far go to ASR); the turn may go on. */
    segmentSilenceMs: ms.default(160),
    /** Silence after a complete answer (a yes, a full date of birth, ten digits) before the reply. */
    completeSilenceMs: ms.default(250),
    /** Silence after an incomplete answer (a date without its year, a sentence ending on "and"). */
    incompleteSilenceMs: ms.default(2000),
    /** Silence after free text (a message for the doctor): people pause mid-sentence, up to ~1.5 s, and the VAD
     *  hears them start again ~0.2 s late. */
    freeTextSilenceMs: ms.default(1800),
    /** No turn lasts longer than this; the words so far are taken at the next pause. */
    maxTurnMs: ms.default(20_000),
  }).prefault({}),
  bargeIn: z.object({
    enabled: bool.default(true),
    /** Speech over the bot after which the bot goes quiet at once (clear); it resumes if the sound stops short. */
    pauseAfterMs: ms.default(96),
    /** Speech (summed across the gaps between words) that makes the bot yield for good; a "hmm" stays below. */
    minSpeechMs: ms.default(320),
  }).prefault({}),
  limits: z.object({
    /** Per call: inbound media and mark events admitted per second (Twilio sends 50 media frames a second). */
    inboundEventsPerSecond: z.coerce.number().int().min(60).max(10_000).default(250),
    /** Per call: keypad presses admitted per second; a burst of twice this is always taken (a fast typist). */
    dtmfPerSecond: z.coerce.number().int().min(5).max(1000).default(10),
    /** Concurrent calls on this node; over it the voice webhook hands the caller to the front desk. */
    maxCalls: z.coerce.number().int().min(1).max(100_000).default(200),
    /** WebSockets upgraded but not yet started, at most; more are refused at once. */
    maxPendingSockets: z.coerce.number().int().min(1).max(100_000).default(64),
    /** A socket that sends no valid `start` within this time is closed. */
    startTimeoutMs: ms.default(10_000),
    /** A started call whose media stops for this long is ended (outcome error: the caller goes to the front desk). */
    mediaTimeoutMs: ms.default(10_000),
    /** WebSocket ping interval; a socket that has not answered the previous ping by the next one is closed. */
    pingIntervalMs: ms.default(15_000),
  }).prefault({}),
  playout: z.object({
    /** How far ahead of real time outbound audio may be sent to Twilio. */
    leadMs: ms.default(200),
  }).prefault({}),
  asr: z.object({
    engine: z.enum(['none', 'sherpa', 'openai']).default('none'),
    /** sherpa: manifest name of the streaming Zipformer (installed by `carevox models pull NAME`). */
    sherpaModel: z.string().min(1).default('sherpa-onnx-streaming-zipformer-en-2023-06-26'),
    /** sherpa: model directory; defaults to models.dir/sherpaModel. */
    sherpaModelDir: z.string().min(1).optional(),
    /** sherpa: ONNX Runtime intra-op threads of the one shared recognizer. */
    sherpaNumThreads: z.coerce.number().int().min(1).max(32).default(2),
    sherpaDecodingMethod: z.enum(['greedy_search', 'modified_beam_search']).default('greedy_search'),
    /** sherpa endpoint rules (seconds): trailing silence with nothing decoded / after decoded text; max utterance. */
    sherpaEnableEndpoint: bool.default(true),
    sherpaRule1MinTrailingSilence: z.coerce.number().min(0).max(60).default(2.4),
    sherpaRule2MinTrailingSilence: z.coerce.number().min(0).max(60).default(1.2),
    sherpaRule3MinUtteranceLength: z.coerce.number().min(0).max(600).default(20),
    /** openai: OpenAI or an OpenAI-compatible server (speaches, faster-whisper servers), e.g. http://10.0.0.5:8000/v1. */
    openaiBaseUrl: z.string().url().optional(),
    openaiApiKey: z.string().min(1).optional(),
    openaiModel: z.string().min(1).default('gpt-4o-mini-transcribe'),
    /** per-utterance: upload each VAD-cut turn as WAV; realtime: stream audio over the Realtime WebSocket. */
    openaiMode: z.enum(['per-utterance', 'realtime']).default('per-utterance'),
    /** realtime: `ga` sends `session.update` (type transcription); `beta` sends `transcription_session.update`. */
    openaiRealtimeProtocol: z.enum(['ga', 'beta']).default('ga'),
    openaiLanguage: z.string().min(2).max(8).optional(),
    openaiTimeoutMs: ms.default(10_000),
  }).prefault({}),
  models: z.object({
    /** Where `carevox models pull` installs models and engines look for them. */
    dir: z.string().min(1).default('models'),
  }).prefault({}),
  tts: z.object({
    engine: z.enum(['flite', 'sherpa', 'elevenlabs', 'openai']).default('flite'),
    /** flite voice: kal (8 kHz, fastest, telephone-native), kal16, slt, rms, awb. */
    voice: z.string().min(1).default('kal'),
    /** flite: synthesizer processes shared by all calls (each renders one sentence at a time). */
    fliteProcesses: z.coerce.number().int().min(1).max(16).default(2),
    /** sherpa: manifest name of the voice (installed by `carevox models pull NAME`). */
    sherpaModel: z.string().min(1).default('vits-piper-en_US-lessac-medium'),
    /** sherpa: model directory; defaults to models.dir/sherpaModel. */
    sherpaModelDir: z.string().min(1).optional(),
    /** sherpa: piper (VITS + espeak-ng), kokoro, or another sherpa VITS model; taken from the manifest when unset. */
    sherpaKind: z.enum(['piper', 'kokoro', 'vits']).optional(),
    sherpaNumThreads: z.coerce.number().int().min(1).max(32).default(1),
    /** sherpa: speaker of a multi-speaker voice (Kokoro voices, multi-speaker Piper). */
    sherpaSpeakerId: z.coerce.number().int().min(0).default(0),
    sherpaSpeed: z.coerce.number().min(0.5).max(2).default(1),
    elevenlabsApiKey: z.string().min(1).optional(),
    elevenlabsVoiceId: z.string().min(1).optional(),
    elevenlabsModelId: z.string().min(1).default('eleven_flash_v2_5'),
    /** ElevenLabs API origin (data-residency environments, or a test double). */
    elevenlabsBaseUrl: z.string().url().optional(),
    /** openai: OpenAI or an OpenAI-compatible speech server (Kokoro-FastAPI, speaches...), e.g. http://10.0.0.5:8880/v1. */
    openaiBaseUrl: z.string().url().optional(),
    /** openai: required for api.openai.com; optional for a self-hosted server without auth. */
    openaiApiKey: z.string().min(1).optional(),
    openaiModel: z.string().min(1).default('gpt-4o-mini-tts'),
    openaiVoice: z.string().min(1).default('coral'),
    /** openai: rate of the server's `pcm` output (OpenAI: 24000). */
    openaiSampleRate: z.coerce.number().int().min(8000).max(48000).default(24000),
    /** Cloud engines: longest wait for response headers, and for the next audio bytes once streaming. */
    requestTimeoutMs: ms.default(5000),
    stallTimeoutMs: ms.default(3000),
  }).prefault({}),
  dialog: z.object({
    /** Clinic configuration file (name, hours, providers...); a demo clinic when unset. */
    clinicFile: z.string().min(1).optional(),
    /** Seconds of caller silence before a reprompt. */
    noInputSeconds: z.coerce.number().min(2).max(60).default(7),
  }).prefault({}),
  llm: z.object({
    /** Model name; the optional LLM dialog layer is on when this is set (rules alone otherwise). */
    model: z.string().min(1).optional(),
    /** OpenAI or any OpenAI-compatible server, e.g. http://10.0.0.5:8000/v1. */
    baseUrl: z.string().url().optional(),
    apiKey: z.string().min(1).optional(),
    /** No reply started within this time: the rules answer instead. */
    firstOutputTimeoutMs: ms.default(2_500),
  }).prefault({}),
  store: z.object({
    /** Embedded PGlite data directory (used when no databaseUrl); also holds the generated encryption key. */
    dataDir: z.string().min(1).default('./data'),
    /** PostgreSQL connection string; when set, PostgreSQL replaces the embedded PGlite. */
    databaseUrl: z.string().min(1).optional(),
    /** AES-256 key, 32 bytes as base64 or hex. Generated into dataDir on first start when unset (embedded only). */
    encryptionKey: z.string().min(1).optional(),
    /** Id stored with each encrypted value so the key can be rotated. */
    keyId: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/).default('k1'),
    /** Retired keys still able to decrypt: `id:key,id:key`. */
    previousKeys: z.string().optional(),
    /** HMAC key of the audit chain and its signed head, 32+ bytes as base64 or hex; kept away from the database.
     *  Generated into dataDir on first start when unset (embedded only); required with PostgreSQL. */
    auditKey: z.string().min(1).optional(),
    /** PostgreSQL: the schema holding carevox's tables and its migration bookkeeping (created if missing). */
    databaseSchema: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/).default('carevox'),
    /** Call-record writes kept in memory while the store fails (then retried); beyond it the oldest are dropped and counted. */
    recordQueueMax: z.coerce.number().int().min(1).max(1_000_000).default(5000),
  }).prefault({}),
  redis: z.object({
    /** When set, call registry, prefetch cache and EMR result events are shared across nodes through Redis. */
    url: z.string().min(1).optional(),
    /** Longest wait for one Redis reply; past it the node answers from what it knows (Twilio waits 15 s). */
    commandTimeoutMs: z.coerce.number().int().min(10).max(10_000).default(500),
    /** Longest wait for a Redis connection attempt. */
    connectTimeoutMs: z.coerce.number().int().min(10).max(10_000).default(1000),
  }).prefault({}),
  emr: z.object({
    /** `embedded` (the EMR in the carevox store; `memory` is its old name, still accepted) or `openemr`. */
    engine: z.enum(['embedded', 'memory', 'openemr']).default('embedded')
      .transform((engine) => (engine === 'memory' ? 'embedded' : engine)),
    /** OpenEMR origin, e.g. https://emr.example.org (the client adds /apis/SITE and /oauth2/SITE). */
    baseUrl: z.string().url().optional(),
    site: z.string().regex(/^[A-Za-z0-9_-]+$/).default('default'),
    clientId: z.string().min(1).optional(),
    clientSecret: z.string().min(1).optional(),
    /** Password grant credentials (a dedicated low-privilege OpenEMR user); otherwise `carevox emr login`. */
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    scopes: z.string().min(1).default('openid offline_access api:oemr user/patient.read user/appointment.read user/appointment.write user/message.write'),
    requestTimeoutMs: ms.default(5000),
    /** Only for the local double and development: permits an http:// base URL. */
    allowInsecureHttp: bool.default(false),
    /** OpenEMR facility / billing location ids used on bookings, and the staff username messages go to. */
    /** JSON file mapping clinic provider / appointment type ids to OpenEMR user / category ids. */
    mappingFile: z.string().min(1).optional(),
    facilityId: z.string().min(1).default('3'),
    staffUsername: z.string().min(1).default('admin'),
  }).prefault({}),
});

export type Config = z.infer<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;

/** Environment variable -> config path. The README's configuration table mirrors this. */
export const ENV_KEYS: Record<string, string> = {
  HOST: 'server.host',
  PORT: 'server.port',
  PUBLIC_HOST: 'server.publicHost',
  DRAIN_SECONDS: 'server.drainSeconds',
  NODE_ID: 'server.nodeId',
  LOG_LEVEL: 'log.level',
  TWILIO_AUTH_TOKEN: 'twilio.authToken',
  CALL_TOKEN_SECRET: 'twilio.callTokenSecret',
  CALL_TOKEN_TTL_SECONDS: 'twilio.callTokenTtlSeconds',
  TRANSFER_NUMBER: 'twilio.transferNumber',
  SIP_ENABLED: 'sip.enabled',
  SIP_HOST: 'sip.host',
  SIP_PORT: 'sip.port',
  SIP_TLS_PORT: 'sip.tlsPort',
  SIP_TLS_CERT: 'sip.tlsCertFile',
  SIP_TLS_KEY: 'sip.tlsKeyFile',
  SIP_PUBLIC_ADDRESS: 'sip.publicAddress',
  RTP_PORT_MIN: 'sip.rtpPortMin',
  RTP_PORT_MAX: 'sip.rtpPortMax',
  SIP_ALLOW: 'sip.allow',
  SIP_AUTH_USERS: 'sip.authUsers',
  SIP_AUTH_REALM: 'sip.authRealm',
  SIP_CODECS: 'sip.codecs',
  SIP_SRTP: 'sip.srtp',
  SIP_TRANSFER_TARGET: 'sip.transferTarget',
  SIP_TRANSFER: 'sip.transferMode',
  SIP_MEDIA_TIMEOUT_SECONDS: 'sip.mediaTimeoutSeconds',
  SIP_FIRST_MEDIA_TIMEOUT_SECONDS: 'sip.firstMediaTimeoutSeconds',
  SIP_SESSION_EXPIRES_SECONDS: 'sip.sessionExpiresSeconds',
  SIP_ANSWER_DELAY_MS: 'sip.answerDelayMs',
  SIP_REGISTRAR: 'sip.registrar',
  SIP_REGISTER_USER: 'sip.registerUser',
  SIP_REGISTER_PASSWORD: 'sip.registerPassword',
  SIP_REGISTER_EXPIRES_SECONDS: 'sip.registerExpiresSeconds',
  AUDIOSOCKET_PORT: 'audiosocket.port',
  AUDIOSOCKET_HOST: 'audiosocket.host',
  VAD_THRESHOLD: 'vad.threshold',
  VAD_MIN_SPEECH_MS: 'vad.minSpeechMs',
  VAD_END_SILENCE_MS: 'vad.endSilenceMs',
  VAD_PRE_ROLL_MS: 'vad.preRollMs',
  ENDPOINTING_MODE: 'endpointing.mode',
  ENDPOINTING_SEGMENT_SILENCE_MS: 'endpointing.segmentSilenceMs',
  ENDPOINTING_COMPLETE_SILENCE_MS: 'endpointing.completeSilenceMs',
  ENDPOINTING_INCOMPLETE_SILENCE_MS: 'endpointing.incompleteSilenceMs',
  ENDPOINTING_FREE_TEXT_SILENCE_MS: 'endpointing.freeTextSilenceMs',
  ENDPOINTING_MAX_TURN_MS: 'endpointing.maxTurnMs',
  BARGE_IN_ENABLED: 'bargeIn.enabled',
  BARGE_IN_PAUSE_AFTER_MS: 'bargeIn.pauseAfterMs',
  BARGE_IN_MIN_SPEECH_MS: 'bargeIn.minSpeechMs',
  PLAYOUT_LEAD_MS: 'playout.leadMs',
  INBOUND_EVENTS_PER_SECOND: 'limits.inboundEventsPerSecond',
  DTMF_PER_SECOND: 'limits.dtmfPerSecond',
  MAX_CALLS: 'limits.maxCalls',
  MAX_PENDING_SOCKETS: 'limits.maxPendingSockets',
  STREAM_START_TIMEOUT_MS: 'limits.startTimeoutMs',
  MEDIA_TIMEOUT_MS: 'limits.mediaTimeoutMs',
  WS_PING_INTERVAL_MS: 'limits.pingIntervalMs',
  ASR_ENGINE: 'asr.engine',
  ASR_SHERPA_MODEL: 'asr.sherpaModel',
  ASR_MODEL_DIR: 'asr.sherpaModelDir',
  ASR_NUM_THREADS: 'asr.sherpaNumThreads',
  ASR_DECODING_METHOD: 'asr.sherpaDecodingMethod',
  ASR_ENABLE_ENDPOINT: 'asr.sherpaEnableEndpoint',
  ASR_RULE1_MIN_TRAILING_SILENCE: 'asr.sherpaRule1MinTrailingSilence',
  ASR_RULE2_MIN_TRAILING_SILENCE: 'asr.sherpaRule2MinTrailingSilence',
  ASR_RULE3_MIN_UTTERANCE_LENGTH: 'asr.sherpaRule3MinUtteranceLength',
  ASR_OPENAI_BASE_URL: 'asr.openaiBaseUrl',
  ASR_OPENAI_API_KEY: 'asr.openaiApiKey',
  ASR_OPENAI_MODEL: 'asr.openaiModel',
  ASR_OPENAI_MODE: 'asr.openaiMode',
  ASR_OPENAI_REALTIME_PROTOCOL: 'asr.openaiRealtimeProtocol',
  ASR_OPENAI_LANGUAGE: 'asr.openaiLanguage',
  ASR_OPENAI_TIMEOUT_MS: 'asr.openaiTimeoutMs',
  MODELS_DIR: 'models.dir',
  TTS_ENGINE: 'tts.engine',
  TTS_VOICE: 'tts.voice',
  TTS_FLITE_PROCESSES: 'tts.fliteProcesses',
  TTS_SHERPA_MODEL: 'tts.sherpaModel',
  TTS_MODEL_DIR: 'tts.sherpaModelDir',
  TTS_SHERPA_KIND: 'tts.sherpaKind',
  TTS_NUM_THREADS: 'tts.sherpaNumThreads',
  TTS_SPEAKER_ID: 'tts.sherpaSpeakerId',
  TTS_SPEED: 'tts.sherpaSpeed',
  ELEVENLABS_API_KEY: 'tts.elevenlabsApiKey',
  ELEVENLABS_VOICE_ID: 'tts.elevenlabsVoiceId',
  ELEVENLABS_MODEL_ID: 'tts.elevenlabsModelId',
  ELEVENLABS_BASE_URL: 'tts.elevenlabsBaseUrl',
  TTS_OPENAI_BASE_URL: 'tts.openaiBaseUrl',
  TTS_OPENAI_API_KEY: 'tts.openaiApiKey',
  TTS_OPENAI_MODEL: 'tts.openaiModel',
  TTS_OPENAI_VOICE: 'tts.openaiVoice',
  TTS_OPENAI_SAMPLE_RATE: 'tts.openaiSampleRate',
  TTS_REQUEST_TIMEOUT_MS: 'tts.requestTimeoutMs',
  TTS_STALL_TIMEOUT_MS: 'tts.stallTimeoutMs',
  CLINIC_CONFIG: 'dialog.clinicFile',
  NO_INPUT_SECONDS: 'dialog.noInputSeconds',
  LLM_MODEL: 'llm.model',
  LLM_BASE_URL: 'llm.baseUrl',
  LLM_API_KEY: 'llm.apiKey',
  LLM_FIRST_OUTPUT_TIMEOUT_MS: 'llm.firstOutputTimeoutMs',
  DATA_DIR: 'store.dataDir',
  DATABASE_URL: 'store.databaseUrl',
  DATA_ENCRYPTION_KEY: 'store.encryptionKey',
  DATA_ENCRYPTION_KEY_ID: 'store.keyId',
  DATA_ENCRYPTION_PREVIOUS_KEYS: 'store.previousKeys',
  AUDIT_HMAC_KEY: 'store.auditKey',
  DATABASE_SCHEMA: 'store.databaseSchema',
  RECORD_QUEUE_MAX: 'store.recordQueueMax',
  REDIS_URL: 'redis.url',
  REDIS_COMMAND_TIMEOUT_MS: 'redis.commandTimeoutMs',
  REDIS_CONNECT_TIMEOUT_MS: 'redis.connectTimeoutMs',
  EMR_ENGINE: 'emr.engine',
  OPENEMR_BASE_URL: 'emr.baseUrl',
  OPENEMR_SITE: 'emr.site',
  OPENEMR_CLIENT_ID: 'emr.clientId',
  OPENEMR_CLIENT_SECRET: 'emr.clientSecret',
  OPENEMR_USERNAME: 'emr.username',
  OPENEMR_PASSWORD: 'emr.password',
  OPENEMR_SCOPES: 'emr.scopes',
  EMR_REQUEST_TIMEOUT_MS: 'emr.requestTimeoutMs',
  OPENEMR_ALLOW_INSECURE_HTTP: 'emr.allowInsecureHttp',
  OPENEMR_MAPPING_FILE: 'emr.mappingFile',
  OPENEMR_FACILITY_ID: 'emr.facilityId',
  OPENEMR_STAFF_USERNAME: 'emr.staffUsername',
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
