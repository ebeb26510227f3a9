/**
 * The HTTP/WebSocket front door (fastify): health, metrics, and the Twilio endpoints.
 *   POST /twilio/voice         the number's voice webhook -> TwiML <Connect><Stream> with a per-call token
 *   GET  /twilio/media         the Media Streams WebSocket (one call per socket)
 *   POST /twilio/after-stream  where Twilio goes when the stream ends: transfer (<Dial>) or hang up
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import websocket from '@fastify/websocket';
import type { Config } from './config/index.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics/index.js';
import type { CallEngines, CallEventsSink } from './media/call-session.js';
import { CallRegistry } from './media/call-registry.js';
import type { SharedState } from './emr/shared-state.js';
import { handleTwilioStream } from './media/twilio/transport.js';
import { issueCallToken } from './media/twilio/call-token.js';
import { verifyTwilioSignature } from './media/twilio/signature.js';
import { connectStreamTwiml, dialTwiml } from './media/twilio/twiml.js';

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
  await app.register(formbody);
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });

  app.get('/health', async () => {
    const details = deps.healthDetails();
    return { status: degradedComponent(details) ? 'degraded' : 'ok', activeCalls: registry.activeCount, ...details };
  });

  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.post('/twilio/voice', async (req, reply) => {
    const params = formParams(req);
    if (!verifyWebhook(req, params)) return reply.code(403).send('invalid Twilio signature');
    const callSid = params.CallSid;
    if (!callSid) return reply.code(400).send('missing CallSid');
    const host = publicHost(req);
    const twiml = connectStreamTwiml({
      streamUrl: `wss://${host}/twilio/media`,
      parameters: {
        token: issueCallToken(config.twilio.callTokenSecret, { callSid, ttlSeconds: config.twilio.callTokenTtlSeconds }),
        from: params.From ?? '',
      },
      afterStream: `<Redirect method="POST">https://${escapeXml(host)}/twilio/after-stream</Redirect>`,
    });
    return reply.type('text/xml').send(twiml);
  });

  app.post('/twilio/after-stream', async (req, reply) => {
    const params = formParams(req);
    if (!verifyWebhook(req, params)) return reply.code(403).send('invalid Twilio signature');
    const outcome = params.CallSid ? await registry.takeOutcome(params.CallSid) : undefined;
    const transferTo = deps.transferNumber;
    if ((outcome === 'transfer' || outcome === 'error') && transferTo) return reply.type('text/xml').send(dialTwiml(transferTo));
    return reply.type('text/xml').send('<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>');
  });

  app.get('/twilio/media', { websocket: true }, (socket) => {
    handleTwilioStream(socket, { config, logger, metrics, engines: deps.engines, registry, recorder: deps.recorder });
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

  function publicHost(req: FastifyRequest): string {
    return config.server.publicHost ?? req.headers.host ?? `${config.server.host}:${config.server.port}`;
  }

  return { app, registry };
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
