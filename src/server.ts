/**
 * The HTTP/WebSocket front door (fastify): health, metrics, and the Twilio endpoints.
 *   POST /twilio/voice         the number's voice webhook -> TwiML <Connect><Stream> with a per-call token
 *   GET  /twilio/media         the Media Streams WebSocket (one call per socket)
 *   POST /twilio/after-stream  where Twilio goes when the stream ends: transfer (<Dial>) or hang up
 * and `drain()`, the graceful shutdown main.ts runs on SIGTERM.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import formbody from '@fastify/formbody';
import websocket from '@fastify/websocket';
import type { Config } from './config/index.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics/index.js';
import type { CallEngines, CallEventsSink, CallOutcome, CallRecord } from './media/call-session.js';
import { CallRegistry } from './media/call-registry.js';
import type { CallAdmission } from './media/start-call.js';
import type { SharedState } from './emr/shared-state.js';
import { handleTwilioStream } from './media/twilio/transport.js';
import { CallTokenLedger, issueCallToken } from './media/twilio/call-token.js';
import { verifyTwilioSignature } from './media/twilio/signature.js';
import { connectStreamTwiml, dialTwiml, sayTwiml } from './media/twilio/twiml.js';
import { validateCallSid, validateVoiceParams, WebhookParamError } from './media/twilio/webhook-params.js';

export interface ServerDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  engines: CallEngines;
  /** Number a caller asking for a person is transferred to (E.164), if any. */
  transferNumber?: string;
  /** What /health reports about the engines (e.g. keypad fallback because a model is missing). */
  healthDetails(): Record<string, unknown>;
  /** State shared by the nodes (Redis when configured): the after-stream webhook may reach another node. */
  sharedState: SharedState;
  /** Receives each call's record as it happens (the store's write-ahead CallRecorder). */
  recorder?: CallEventsSink;
  /** Observes each finished call's whole record in memory (tests); the store already has it from `recorder`. */
  onCallEnded?(record: CallRecord): void;
}

export interface DrainOptions {
  /** How long live calls may go on before each is handed to the front desk. */
  seconds: number;
  /** Aborting it (a second signal) ends the wait at once: the calls still live are handed over now. */
  signal?: AbortSignal;
  /** Longest wait, after the hand-over, for Twilio's after-stream requests for those calls. */
  afterStreamWaitMs?: number;
}

export interface DrainReport {
  /** Calls live when the drain began that ended by themselves within the grace period. */
  finishedInTime: number;
  /** Calls handed to the front desk when the grace period ran out. */
  handedOver: number;
  durationMs: number;
}

export interface CarevoxServer {
  app: FastifyInstance;
  registry: CallRegistry;
  /**
   * Graceful shutdown, before `app.close()`: new calls are sent to the front desk and /health says 503
   * draining; live calls may finish for `seconds`; then each remaining caller is handed to the front desk.
   * Idempotent (a second call returns the first drain).
   */
  drain(options: DrainOptions): Promise<DrainReport>;
  /** Whether a phone system's new call is taken now (SIP, AudioSocket): not while draining or full. */
  admission(): CallAdmission;
}

/** Twilio follows the after-stream answer within 15 s; a call handed over on shutdown is asked for at once. */
const AFTER_STREAM_WAIT_MS = 5_000;
const HANGUP_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>';
/** Outcomes after which the caller is done; any other (or unknown) outcome goes to a person. */
const FINISHED_OUTCOMES: ReadonlySet<CallOutcome> = new Set(['completed', 'caller-hung-up']);

export async function buildServer(deps: ServerDeps): Promise<CarevoxServer> {
  const { config, logger, metrics } = deps;
  const registry = new CallRegistry(deps.sharedState);
  const tokens = new CallTokenLedger(deps.sharedState, { logger: logger.child({ component: 'stream-tokens' }) });
  let drainStarted: Promise<DrainReport> | null = null;
  if (!config.twilio.authToken) {
    logger.warn('TWILIO_AUTH_TOKEN is unset: webhook signatures are not checked, so anyone who can reach /twilio/voice can get a stream token');
  }
  const app: FastifyInstance = Fastify({
    loggerInstance: logger.child({ component: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }), // webhook bodies carry patient data
    trustProxy: true,
  });
  // Any throw in a route: one log line with the error's class (never the request, which carries patient
  // data) and a bare status; fastify's own 4xx (bad content type, body too large) keep their status.
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    const fields = { route: req.routeOptions.url, method: req.method, status, errorKind: err.name, errorCode: err.code };
    if (status === 500) req.log.error(fields, 'request failed');
    else req.log.warn(fields, 'request refused');
    return reply.code(status).type('text/plain').send(status === 500 ? 'internal error' : 'bad request');
  });
  // Before the websocket plugin's own preClose (which closes every socket, and a closed socket reads as the
  // caller hanging up): an app.close() without a drain still hands live callers to the front desk.
  app.addHook('preClose', async () => {
    await Promise.all(registry.sessions().map((s) => s.handOver()));
  });
  await app.register(formbody);
  // One inbound message per event-loop turn (ws emits the rest of a read on setImmediate): a burst on one
  // socket then interleaves with every other call's timers instead of holding the loop for the whole read.
  await app.register(websocket, { options: { maxPayload: 64 * 1024, allowSynchronousEvents: false } });

  /** Sockets upgraded and not yet started; with the started calls, what the node has taken on. */
  const pendingSockets = new Set<WebSocket>();
  const atCapacity = () => registry.activeCount + pendingSockets.size >= config.limits.maxCalls;

  app.get('/health', async (_req, reply) => {
    const sharedState = await deps.sharedState.health();
    const details = deps.healthDetails();
    const degraded = sharedState.status === 'degraded' || degradedComponent(details);
    // 503 while draining or full (take this node out of rotation: a load balancer sends the next call to
    // another node); degraded still serves calls.
    const full = atCapacity();
    if (drainStarted || full) reply.code(503);
    const status = drainStarted ? 'draining' : full ? 'full' : degraded ? 'degraded' : 'ok';
    return { status, activeCalls: registry.activeCount, maxCalls: config.limits.maxCalls, sharedState, ...details };
  });

  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.post('/twilio/voice', async (req, reply) => {
    const params = formParams(req);
    if (!verifyWebhook(req, params)) return reply.code(403).send('invalid Twilio signature');
    let voice;
    try {
      voice = validateVoiceParams(params);
    } catch (err) {
      if (err instanceof WebhookParamError) return refuseParams(req, reply, err);
      throw err;
    }
    const { callSid } = voice;
    if (drainStarted) return reply.type('text/xml').send(toFrontDesk());
    if (atCapacity()) {
      // Over this node's call limit the caller still reaches a person rather than a busy signal.
      req.log.warn({ callId: callSid, maxCalls: config.limits.maxCalls }, 'node at its call limit: sending the caller to the front desk');
      return reply.type('text/xml').send(toFrontDesk());
    }
    const host = publicHost(req);
    const from = voice.from ?? '';
    const twiml = connectStreamTwiml({
      streamUrl: `wss://${host}/twilio/media`,
      parameters: {
        token: issueCallToken(config.twilio.callTokenSecret, { callSid, from, ttlSeconds: config.twilio.callTokenTtlSeconds }),
        from,
      },
      afterStream: `<Redirect method="POST">https://${escapeXml(host)}/twilio/after-stream</Redirect>`,
    });
    return reply.type('text/xml').send(twiml);
  });

  app.post('/twilio/after-stream', async (req, reply) => {
    const params = formParams(req);
    if (!verifyWebhook(req, params)) return reply.code(403).send('invalid Twilio signature');
    if (params.CallSid !== undefined) {
      try {
        validateCallSid(params);
      } catch (err) {
        if (err instanceof WebhookParamError) return refuseParams(req, reply, err);
        throw err;
      }
    }
    const callSid = params.CallSid;
    const lookup = callSid ? await registry.takeOutcome(callSid) : { outcome: undefined, source: 'unknown' as const };
    if (lookup.outcome && FINISHED_OUTCOMES.has(lookup.outcome)) return reply.type('text/xml').send(HANGUP_TWIML);
    if (lookup.source === 'unknown') {
      // Nobody can say how the call ended (shared state down, or lost): a person answers rather than silence.
      req.log.warn({ callId: callSid, sharedStateProblem: lookup.sharedStateProblem }, 'after-stream: call outcome unknown; sending the caller to the front desk');
    }
    return reply.type('text/xml').send(toFrontDesk());
  });

  app.get('/twilio/media', { websocket: true }, (socket) => {
    handleTwilioStream(socket, { config, logger, metrics, engines: deps.engines, registry, tokens, recorder: deps.recorder, onCallEnded: deps.onCallEnded, pendingSockets });
  });

  function toFrontDesk(): string {
    if (deps.transferNumber) return dialTwiml(deps.transferNumber);
    return sayTwiml('Sorry, we cannot take your call right now. Please call again in a few minutes.');
  }

  async function runDrain(options: DrainOptions): Promise<DrainReport> {
    const startedAt = performance.now();
    const liveAtStart = registry.activeCount;
    logger.info({ activeCalls: liveAtStart, drainSeconds: options.seconds }, 'draining: new calls go to the front desk');
    await registry.waitUntilIdle(options.seconds * 1000, options.signal);
    const handedOver: string[] = [];
    // Repeat: a stream whose webhook was answered before the drain may still be starting.
    for (let sids = registry.liveCallSids(); sids.length > 0; sids = registry.liveCallSids()) {
      const sessions = registry.sessions();
      handedOver.push(...sids);
      await Promise.all(sessions.map((s) => s.handOver()));
    }
    if (handedOver.length) logger.info({ calls: handedOver.length }, 'drain: remaining calls handed to the front desk');
    await registry.waitUntilTaken(handedOver, options.afterStreamWaitMs ?? AFTER_STREAM_WAIT_MS);
    const report = {
      finishedInTime: Math.max(0, liveAtStart - handedOver.length), handedOver: handedOver.length,
      durationMs: Math.round(performance.now() - startedAt),
    };
    logger.info(report, 'drain finished');
    return report;
  }

  function verifyWebhook(req: FastifyRequest, params: Record<string, string>): boolean {
    const token = config.twilio.authToken;
    if (!token) return true;
    const signature = req.headers['x-twilio-signature'];
    if (typeof signature !== 'string') return false;
    return verifyTwilioSignature(token, signature, `https://${publicHost(req)}${req.url}`, params);
  }

  /** 400 naming the field and the problem; the value (a phone number, perhaps) is neither logged nor echoed. */
  function refuseParams(req: FastifyRequest, reply: FastifyReply, err: WebhookParamError) {
    req.log.warn({ route: req.routeOptions.url, field: err.field, problem: err.problem }, `webhook refused: ${err.field} ${err.problem}`);
    return reply.code(400).type('text/plain').send(`invalid ${err.field}: ${err.problem}`);
  }

  function publicHost(req: FastifyRequest): string {
    return config.server.publicHost ?? req.headers.host ?? `${config.server.host}:${config.server.port}`;
  }

  return {
    app, registry,
    drain: (options) => (drainStarted ??= runDrain(options)),
    admission: () => (drainStarted ? 'draining' : atCapacity() ? 'full' : 'open'),
  };
}

/**
 * A component of the health details that reports `state: 'degraded'` (the store writing from its queue,
 * shared state unreachable) makes the node degraded: still answering calls (200), but worth a look.
 */
function degradedComponent(details: Record<string, unknown>): boolean {
  return Object.values(details).some((v) => typeof v === 'object' && v !== null && (v as { state?: unknown }).state === 'degraded');
}

function formParams(req: FastifyRequest): Record<string, string> {
  const body = req.body;
  if (!body || typeof body !== 'object') return {};
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    if (typeof value === 'string') out[key] = value;
  }
  return out;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
