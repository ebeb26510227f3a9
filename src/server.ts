/**
 * The HTTP/WebSocket front door (fastify): health, metrics, and the Twilio endpoints.
 *   POST /twilio/voice         the number's voice webhook -> TwiML <Connect><Stream> with a per-call token
 *   GET  /twilio/media         the Media Streams WebSocket (one call per socket)
 *   POST /twilio/after-stream  where Twilio goes when the stream ends: transfer (<Dial>) or hang up
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import formbody from '@fastify/formbody';
import websocket from '@fastify/websocket';
import type { Config } from './config/index.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics/index.js';
import type { CallEngines, CallRecord } from './media/call-session.js';
import { CallRegistry } from './media/call-registry.js';
import type { SharedState } from './emr/shared-state.js';
import { handleTwilioStream } from './media/twilio/transport.js';
import { issueCallToken } from './media/twilio/call-token.js';
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
  /** Called once per finished call (persist it). */
  recordCall?(record: CallRecord): Promise<void>;
}

export interface CarevoxServer {
  app: FastifyInstance;
  registry: CallRegistry;
}

export async function buildServer(deps: ServerDeps): Promise<CarevoxServer> {
  const { config, logger, metrics } = deps;
  const registry = new CallRegistry(deps.sharedState);
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
  await app.register(formbody);
  // One inbound message per event-loop turn (ws emits the rest of a read on setImmediate): a burst on one
  // socket then interleaves with every other call's timers instead of holding the loop for the whole read.
  await app.register(websocket, { options: { maxPayload: 64 * 1024, allowSynchronousEvents: false } });

  /** Sockets upgraded and not yet started; with the started calls, what the node has taken on. */
  const pendingSockets = new Set<WebSocket>();
  const atCapacity = () => registry.activeCount + pendingSockets.size >= config.limits.maxCalls;

  app.get('/health', async (_req, reply) => {
    // "full" is 503 like other not-ready states: a load balancer sends the next call to another node.
    const full = atCapacity();
    if (full) reply.code(503);
    return { status: full ? 'full' : 'ok', activeCalls: registry.activeCount, maxCalls: config.limits.maxCalls, ...deps.healthDetails() };
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
    if (atCapacity()) {
      // Over this node's call limit the caller still reaches a person rather than a busy signal.
      req.log.warn({ callId: callSid, maxCalls: config.limits.maxCalls }, 'node at its call limit: sending the caller to the front desk');
      const twiml = deps.transferNumber
        ? dialTwiml(deps.transferNumber)
        : sayTwiml('Sorry, all our lines are busy. Please call again in a few minutes.');
      return reply.type('text/xml').send(twiml);
    }
    const host = publicHost(req);
    const twiml = connectStreamTwiml({
      streamUrl: `wss://${host}/twilio/media`,
      parameters: {
        token: issueCallToken(config.twilio.callTokenSecret, { callSid, ttlSeconds: config.twilio.callTokenTtlSeconds }),
        from: voice.from ?? '',
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
    const outcome = params.CallSid ? await registry.takeOutcome(params.CallSid) : undefined;
    const transferTo = deps.transferNumber;
    if ((outcome === 'transfer' || outcome === 'error') && transferTo) return reply.type('text/xml').send(dialTwiml(transferTo));
    return reply.type('text/xml').send('<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>');
  });

  app.get('/twilio/media', { websocket: true }, (socket) => {
    handleTwilioStream(socket, { config, logger, metrics, engines: deps.engines, registry, onCallEnded: deps.recordCall, pendingSockets });
  });

  app.addHook('onClose', async () => {
    await Promise.all(registry.sessions().map((s) => s.end('error')));
  });

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

  return { app, registry };
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
