/**
 * Wires the OpenEMR integration from configuration: OAuth, client, gateway, durable worker, result events and
 * shared state (Redis when configured). `forCall` hands the dialog an EmrGateway for one live call.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { z } from 'zod';
import type { Config } from '../config/index.js';
import type { ClinicConfig } from '../dialog/clinic.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';
import { CircuitBreaker } from './breaker.js';
import { CallEmrGateway } from './call-gateway.js';
import { LocalJobEventBus, RedisJobEventBus, type JobEventBus } from './events.js';
import { OpenEmrConfigError } from './http.js';
import { OAuthTokenManager } from './oauth.js';
import { OpenEmrClient } from './openemr-client.js';
import { OpenEmrGateway, type OpenEmrMapping } from './openemr-gateway.js';
import { CallRegistry, MemorySharedState, RedisSharedState, redisTimeouts, type SharedState } from './shared-state.js';
import { EmrWorker } from './worker.js';

const MappingSchema = z.object({
  providers: z.record(z.string(), z.string().regex(/^\d+$/)),
  appointmentTypes: z.record(z.string(), z.string().regex(/^\d+$/)),
});

export function loadOpenEmrMapping(path: string): OpenEmrMapping {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new OpenEmrConfigError(`OPENEMR_MAPPING_FILE: cannot read ${path}: ${(err as Error).message}`);
  }
  const parsed = MappingSchema.safeParse(value);
  if (!parsed.success) {
    throw new OpenEmrConfigError(`OPENEMR_MAPPING_FILE: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

/** Every clinic provider and appointment type needs an OpenEMR id, or booking it would fail mid-call. */
export function checkMapping(clinic: ClinicConfig, mapping: OpenEmrMapping): void {
  const missing = [
    ...clinic.providers.filter((p) => !mapping.providers[p.id]).map((p) => `providers.${p.id}`),
    ...clinic.appointmentTypes.filter((t) => !mapping.appointmentTypes[t.id]).map((t) => `appointmentTypes.${t.id}`),
  ];
  if (missing.length) throw new OpenEmrConfigError(`OpenEMR mapping lacks ${missing.join(', ')}`);
}

export interface OpenEmrServiceOptions {
  config: Config;
  store: Store;
  clinic: ClinicConfig;
  mapping?: OpenEmrMapping;
  logger?: Logger;
  nodeId?: string;
  /** Overrides for tests. */
  worker?: { leaseMs?: number; jobTimeoutMs?: number; pollMs?: number; backoffBaseMs?: number; backoffMaxMs?: number; maxAttempts?: number };
  writeWaitMs?: number;
  now?: () => Date;
}

export interface OpenEmrService {
  readonly gateway: OpenEmrGateway;
  readonly worker: EmrWorker;
  readonly breaker: CircuitBreaker;
  readonly events: JobEventBus;
  readonly sharedState: SharedState;
  readonly calls: CallRegistry;
  /**
   * One EmrGateway for a policy that takes a single gateway for all calls: reads straight through, writes via the
   * durable queue with results on this node's channel. Prefer `forCall` (per-call audit ids and prefetch).
   */
  readonly sharedGateway: CallEmrGateway;
  /** The dialog's EmrGateway for one call; starts the prefetch when the caller's number is known. */
  forCall(callId: string, callerNumber?: string): CallEmrGateway;
  close(): Promise<void>;
}

export function createOpenEmrService(options: OpenEmrServiceOptions): OpenEmrService {
  const { config, store, clinic, logger } = options;
  const emr = config.emr;
  if (!emr.baseUrl || !emr.clientId) throw new OpenEmrConfigError('OPENEMR_BASE_URL and OPENEMR_CLIENT_ID are required for EMR_ENGINE=openemr');
  const mapping = options.mapping ?? (emr.mappingFile ? loadOpenEmrMapping(emr.mappingFile) : undefined);
  if (!mapping) throw new OpenEmrConfigError('OPENEMR_MAPPING_FILE is required for EMR_ENGINE=openemr');
  checkMapping(clinic, mapping);
  const auth = new OAuthTokenManager({
    baseUrl: emr.baseUrl, site: emr.site, clientId: emr.clientId, clientSecret: emr.clientSecret, scopes: emr.scopes,
    credentials: emr.username && emr.password ? { username: emr.username, password: emr.password } : undefined,
    tokens: store.tokens, timeoutMs: emr.requestTimeoutMs, allowInsecureHttp: emr.allowInsecureHttp, logger,
  });
  const client = new OpenEmrClient({ baseUrl: emr.baseUrl, site: emr.site, auth, timeoutMs: emr.requestTimeoutMs, allowInsecureHttp: emr.allowInsecureHttp, logger });
  const gateway = new OpenEmrGateway({
    client, clinic, mapping, facilityId: emr.facilityId, messageFrom: emr.username ?? emr.staffUsername,
    audit: async (entry) => { await store.audit.append(entry); }, logger, now: options.now,
  });
  const breaker = new CircuitBreaker();
  const redisUrl = config.redis.url;
  const timeouts = redisTimeouts(config);
  const events: JobEventBus = redisUrl ? new RedisJobEventBus(redisUrl, store.keyring, logger, timeouts) : new LocalJobEventBus();
  const sharedState: SharedState = redisUrl ? new RedisSharedState(redisUrl, { logger, timeouts }) : new MemorySharedState();
  const worker = new EmrWorker({
    jobs: store.jobs, operations: new OpenEmrGateway({
      client, clinic, mapping, facilityId: emr.facilityId, messageFrom: emr.username ?? emr.staffUsername, actor: 'emr-worker',
      audit: async (entry) => { await store.audit.append(entry); }, logger, now: options.now,
    }), events, breaker, logger,
    workerId: `${options.nodeId ?? hostname()}-${process.pid}`, recoverAbandoned: store.kind === 'pglite', ...options.worker,
  });
  const nodeChannel = `node-${worker.workerId}`;
  const sharedGateway = new CallEmrGateway({
    callId: nodeChannel, reads: gateway, jobs: store.jobs, events, breaker, readTimeoutMs: emr.requestTimeoutMs + 1000,
    writeWaitMs: options.writeWaitMs, maxAttempts: options.worker?.maxAttempts, onEnqueued: () => worker.wake(), logger,
  });
  return {
    gateway, worker, breaker, events, sharedState, sharedGateway,
    calls: new CallRegistry(sharedState),
    forCall(callId, callerNumber) {
      const call = new CallEmrGateway({
        callId, reads: gateway.forCall(callId), jobs: store.jobs, events, breaker,
        cache: { state: sharedState, keyring: store.keyring }, readTimeoutMs: emr.requestTimeoutMs + 1000,
        writeWaitMs: options.writeWaitMs, maxAttempts: options.worker?.maxAttempts, onEnqueued: () => worker.wake(), logger,
      });
      if (callerNumber) void call.prefetch(callerNumber);
      return call;
    },
    async close() {
      await worker.stop();
      await events.close();
      await sharedState.close();
    },
  };
}
