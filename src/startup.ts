/**
 * Start-up of the voice server, in an order that fails fast and leaves nothing behind:
 *   1. configuration, clinic file, EMR settings, encryption key and data directory are checked before anything
 *      starts (a mistake there is found in milliseconds, with no worker thread or child process to stop);
 *   2. the store is opened (PostgreSQL connects time out, so an unreachable database fails in seconds);
 *   3. the engines (VAD worker thread, flite processes, ASR) and the HTTP server start, and the port is bound.
 * When a step fails, everything already started is closed again, newest first: before this, the VAD worker
 * thread and the flite child processes kept a failed process alive, not listening, so no supervisor restarted it.
 *
 * Every failure is a StartupError naming its stage; `formatStartupFailure` is the one place that turns one
 * into the line printed on stderr.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { CarevoxServer } from './server.js';
import type { PhoneSystemBridges } from './sip-bridge/index.js';
// Only light modules are imported here, the rest when it is needed: the engines' modules (onnxruntime, sherpa,
// PGlite) take seconds to load on a busy machine, and a configuration mistake should be reported without them.
import { ConfigError, loadConfig, type Config } from './config/index.js';
import { ClinicConfigError, defaultClinicConfig, loadClinicConfig, type ClinicConfig } from './dialog/clinic.js';
import { checkBaseUrl } from './emr/http.js';
import type { OpenEmrMapping } from './emr/openemr-gateway.js';
import { createLogger, describeError, type Logger } from './log.js';
import type { Services } from './services.js';
import { Keyring, KeyringError, parseKey } from './store/crypto.js';
import { AuditKeys } from './store/audit.js';
import type { Store } from './store/store.js';

export type StartupStage =
  | 'config' | 'clinic' | 'emr' | 'encryption-key' | 'data-dir' // checked before anything starts
  | 'store' | 'engines' | 'server' | 'listen'; // failed while starting

/** Stages whose failure the operator fixes in the configuration (exit status 2); the others exit 1. */
const CONFIGURATION_STAGES: ReadonlySet<StartupStage> = new Set(['config', 'clinic', 'emr', 'encryption-key']);

export class StartupError extends Error {
  constructor(readonly stage: StartupStage, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }

  /** `summary: <what went wrong underneath>`, the cause chain described by `describeCause`. */
  static because(stage: StartupStage, summary: string, cause: unknown): StartupError {
    return new StartupError(stage, `${summary}: ${describeCause(cause)}`, { cause });
  }
}

/** The one line printed when start-up fails: `carevox: <cause>`; no stack, no configuration values. */
export function formatStartupFailure(err: unknown): string {
  const text = err instanceof StartupError ? err.message : `start-up failed: ${describeCause(err)}`;
  return `carevox: ${text.replace(/\s*\n\s*/g, '; ')}`;
}

export function startupExitCode(err: unknown): number {
  return err instanceof StartupError && CONFIGURATION_STAGES.has(err.stage) ? 2 : 1;
}

/**
 * An error and its causes as one phrase, outermost first (`database migration failed: 127.0.0.1:5999 refused
 * the connection (ECONNREFUSED)`). A cause already quoted by the message above it is not repeated.
 */
export function describeCause(err: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  for (let e: unknown = err; e !== undefined && e !== null && !seen.has(e) && parts.length < 8; e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    const text = describeOne(e);
    if (text && !parts.some((p) => p.includes(text))) parts.push(text);
    if (!(e instanceof Error)) break;
  }
  return parts.join(': ') || 'unknown error';
}

/** Network failures worth saying in words; the code stays in brackets for searching. */
const NETWORK_FAILURES: Record<string, string> = {
  ECONNREFUSED: 'refused the connection',
  ECONNRESET: 'reset the connection',
  ETIMEDOUT: 'did not answer (timed out)',
  EHOSTUNREACH: 'is unreachable',
  ENETUNREACH: 'is on an unreachable network',
};

interface SystemError extends Error {
  code?: string;
  address?: string;
  port?: number;
  hostname?: string;
}

function describeOne(err: unknown): string {
  if (err instanceof ConfigError || err instanceof ClinicConfigError) return err.problems.join('; ');
  if (err instanceof AggregateError) {
    // Node tries each address of a host name (IPv6 and IPv4 for localhost) and reports them together.
    const each = [...new Set(err.errors.map(describeOne))];
    return each.length ? each.join(' / ') : err.message;
  }
  if (err instanceof Error) {
    const { code, address, port, hostname } = err as SystemError;
    if (code && address && NETWORK_FAILURES[code]) return `${address}${port ? `:${port}` : ''} ${NETWORK_FAILURES[code]} (${code})`;
    if (code === 'ENOTFOUND' && hostname) return `host ${hostname} was not found (ENOTFOUND)`;
    return err.message;
  }
  return String(err);
}

/** What the checks before start-up found and the services reuse (so what was checked is what runs). */
export interface StartupChecks {
  clinic: ClinicConfig;
  emrMapping?: OpenEmrMapping;
}

/** The configuration from the environment (and CAREVOX_CONFIG), as a StartupError when invalid. */
export function loadStartupConfig(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) throw StartupError.because('config', 'invalid configuration', err);
    throw err;
  }
}

/** Everything that can be checked without starting anything. Throws the first StartupError found. */
export async function checkBeforeEngines(config: Config): Promise<StartupChecks> {
  const clinic = checkClinicFile(config);
  const emrMapping = config.emr.engine === 'openemr' ? await checkOpenEmrSettings(config, clinic) : undefined;
  checkEncryptionKey(config);
  checkAuditKey(config);
  if (!config.store.databaseUrl) checkDataDir(config.store.dataDir);
  return { clinic, emrMapping };
}

function checkClinicFile(config: Config): ClinicConfig {
  const path = config.dialog.clinicFile;
  if (!path) return defaultClinicConfig();
  try {
    return loadClinicConfig(path);
  } catch (err) {
    throw StartupError.because('clinic', `clinic file ${path}`, err);
  }
}

async function checkOpenEmrSettings(config: Config, clinic: ClinicConfig): Promise<OpenEmrMapping | undefined> {
  const { checkMapping, loadOpenEmrMapping } = await import('./emr/service.js');
  const emr = config.emr;
  const problems: string[] = [];
  const attempt = <T>(check: () => T): T | undefined => {
    try {
      return check();
    } catch (err) {
      problems.push(describeCause(err));
      return undefined;
    }
  };
  if (!emr.baseUrl) problems.push('OPENEMR_BASE_URL is required');
  else attempt(() => checkBaseUrl(emr.baseUrl!, emr.allowInsecureHttp));
  if (!emr.clientId) problems.push('OPENEMR_CLIENT_ID is required');
  if (!!emr.username !== !!emr.password) {
    problems.push('OPENEMR_USERNAME and OPENEMR_PASSWORD go together (leave both unset to use the login stored by `carevox emr login`)');
  }
  let mapping: OpenEmrMapping | undefined;
  if (!emr.mappingFile) problems.push('OPENEMR_MAPPING_FILE is required');
  else mapping = attempt(() => loadOpenEmrMapping(emr.mappingFile!));
  if (mapping) attempt(() => checkMapping(clinic, mapping!));
  if (problems.length) throw new StartupError('emr', `EMR_ENGINE=openemr: ${problems.join('; ')}`);
  return mapping;
}

function checkEncryptionKey(config: Config): void {
  const { encryptionKey, databaseUrl, dataDir, keyId, previousKeys } = config.store;
  if (!encryptionKey && databaseUrl) {
    throw new StartupError('encryption-key', 'DATA_ENCRYPTION_KEY is required when DATABASE_URL is set (32 bytes as base64 or hex, e.g. `openssl rand -base64 32`)');
  }
  let key = encryptionKey;
  if (key) {
    try {
      parseKey(key);
    } catch (err) {
      throw StartupError.because('encryption-key', 'DATA_ENCRYPTION_KEY is not usable', err);
    }
  } else {
    // The embedded store's generated key, if a previous start wrote one.
    const keyFile = join(dataDir, 'encryption.key');
    if (!existsSync(keyFile)) return;
    try {
      key = readFileSync(keyFile, 'utf8');
      parseKey(key);
    } catch (err) {
      throw StartupError.because('encryption-key', `${keyFile} is not usable`, err);
    }
  }
  try {
    Keyring.fromConfig(keyId, key, previousKeys);
  } catch (err) {
    if (err instanceof KeyringError) throw StartupError.because('encryption-key', 'DATA_ENCRYPTION_PREVIOUS_KEYS is not usable', err);
    throw err;
  }
}

/** The audit chain's HMAC key: like the data key, required with PostgreSQL and generated beside embedded data. */
function checkAuditKey(config: Config): void {
  const { auditKey, databaseUrl } = config.store;
  if (!auditKey && databaseUrl) {
    throw new StartupError('encryption-key', 'AUDIT_HMAC_KEY is required when DATABASE_URL is set (at least 32 bytes as base64 or hex, kept away from the database)');
  }
  if (!auditKey) return;
  try {
    AuditKeys.parse(auditKey);
  } catch (err) {
    throw StartupError.because('encryption-key', 'AUDIT_HMAC_KEY is not usable', err);
  }
}

/**
 * The embedded store needs to write DATA_DIR (and its pglite folder when one exists): tried by creating a file,
 * since permission bits say nothing for root or on a read-only mount.
 */
function checkDataDir(dataDir: string): void {
  const dirs = [dataDir, join(dataDir, 'pglite')];
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    for (const dir of dirs) {
      if (!existsSync(dir)) continue;
      const probe = join(dir, `.carevox-write-check-${process.pid}`);
      writeFileSync(probe, '', { flag: 'wx', mode: 0o600 });
      rmSync(probe);
    }
  } catch (err) {
    throw StartupError.because('data-dir', `DATA_DIR ${dataDir} is not writable`, err);
  }
}

async function openStoreAtStartup(config: Config, logger: Logger): Promise<Store> {
  const { openStore, storeOptionsFromConfig } = await import('./store/store.js');
  try {
    return await openStore(storeOptionsFromConfig(config.store, logger.child({ component: 'store' })));
  } catch (err) {
    const { databaseUrl, dataDir } = config.store;
    if (!databaseUrl) throw StartupError.because('store', `cannot open the store (embedded, DATA_DIR ${dataDir})`, err);
    const postgres = `PostgreSQL at ${postgresAddress(databaseUrl)}`;
    const unreachable = connectFailure(err);
    if (unreachable) throw new StartupError('store', `cannot open the store: ${postgres} ${unreachable}`, { cause: err });
    throw StartupError.because('store', `cannot open the store (${postgres})`, err);
  }
}

/** `host:port` of a PostgreSQL URL: never the user or password. */
function postgresAddress(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    return `${url.hostname || 'localhost'}:${url.port || '5432'}`;
  } catch {
    return '(DATABASE_URL)';
  }
}

/** How a connection to the database failed, when that is what the cause chain says; undefined otherwise. */
function connectFailure(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const errors = e instanceof AggregateError ? e.errors : [e];
    for (const one of errors) {
      const { code } = one as SystemError;
      if (code && NETWORK_FAILURES[code]) return `${NETWORK_FAILURES[code]} (${code})`;
      if (code === 'ENOTFOUND') return `could not be resolved (ENOTFOUND)`;
    }
    // pg's own words when connectionTimeoutMillis runs out.
    if (/connection timeout|timeout expired|timeout exceeded when trying to connect/i.test(e.message)) return 'did not accept a connection in time (connect timeout)';
  }
  return undefined;
}

async function listen(app: FastifyInstance, server: Config['server']): Promise<void> {
  const where = `(HOST=${server.host}, PORT=${server.port})`;
  try {
    await app.listen({ host: server.host, port: server.port });
  } catch (err) {
    const code = (err as SystemError).code;
    if (code === 'EADDRINUSE') throw new StartupError('listen', `port ${server.port} is in use ${where}`, { cause: err });
    if (code === 'EACCES') throw new StartupError('listen', `not permitted to listen on port ${server.port} ${where} (EACCES)`, { cause: err });
    if (code === 'EADDRNOTAVAIL') throw new StartupError('listen', `HOST ${server.host} is not an address of this machine ${where} (EADDRNOTAVAIL)`, { cause: err });
    throw StartupError.because('listen', `cannot listen ${where}`, err);
  }
}

/** A started server and what it needs to stop. */
export interface RunningCarevox {
  config: Config;
  logger: Logger;
  app: FastifyInstance;
  /** The HTTP/WebSocket server (drain it before close on a signal). */
  server: CarevoxServer;
  services: Services;
  store: Store;
  bridges: PhoneSystemBridges;
  /** Stops the HTTP server, the services, then the store (what start-up started, newest first). */
  close(): Promise<void>;
}

/** How long closing each started part may take (a dead Redis or Postgres must not hold the process up). */
const CLOSE_STEP_MS = 10_000;

/**
 * Checks, opens the store, starts the engines and listens. On failure closes whatever it had started and throws
 * a StartupError; `formatStartupFailure` makes the line to print.
 */
export async function startCarevox(env: NodeJS.ProcessEnv = process.env): Promise<RunningCarevox> {
  const config = loadStartupConfig(env);
  const checks = await checkBeforeEngines(config);
  const logger = createLogger(config.log.level);
  const started = new StartedResources(logger);
  try {
    const store = await openStoreAtStartup(config, logger);
    started.add('store', () => store.close());
    let services: Services;
    try {
      const { createServices } = await import('./services.js');
      services = await createServices(config, logger, { store, clinic: checks.clinic, emrMapping: checks.emrMapping });
    } catch (err) {
      throw StartupError.because('engines', 'cannot start the engines', err);
    }
    started.add('services', () => services.close());
    let server: CarevoxServer;
    let bridges: PhoneSystemBridges | null = null;
    try {
      const { buildServer } = await import('./server.js');
      server = await buildServer({ config, logger, ...services, healthDetails: () => ({ ...services.healthDetails(), ...bridges?.health() }) });
    } catch (err) {
      throw StartupError.because('server', 'cannot build the HTTP server', err);
    }
    const { app } = server;
    started.add('http server', () => app.close());
    await listen(app, config.server);
    try {
      const { startPhoneSystemBridges } = await import('./sip-bridge/index.js');
      bridges = await startPhoneSystemBridges({
        config, logger, metrics: services.metrics, engines: services.engines, recorder: services.recorder,
        registry: server.registry, admission: server.admission,
      });
    } catch (err) {
      throw StartupError.because('listen', 'cannot start the SIP / AudioSocket listeners', err);
    }
    const startedBridges = bridges;
    // Closed first (newest first): each bridge hands its live calls to the front desk while it can still signal.
    started.add('SIP and AudioSocket listeners', () => startedBridges.close());
    return { config, logger, app, server, services, store, bridges: startedBridges, close: async () => { await started.closeAll(CLOSE_STEP_MS); } };
  } catch (err) {
    await started.closeAll(CLOSE_STEP_MS);
    throw err;
  }
}

/** Closers of what has started, run newest first; one that fails is logged and does not stop the others. */
class StartedResources {
  private readonly closers: Array<{ name: string; close: () => Promise<unknown> }> = [];

  constructor(private readonly logger: Logger) {}

  add(name: string, close: () => Promise<unknown>): void {
    this.closers.push({ name, close });
  }

  /** Runs every closer once, newest first; one still running after `boundMs` is logged and left behind. */
  async closeAll(boundMs: number): Promise<void> {
    for (const { name, close } of this.closers.splice(0).reverse()) {
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), boundMs); });
      try {
        const result = await Promise.race([close().then(() => 'closed' as const), bound]);
        if (result === 'timeout') this.logger.warn({ what: name, ms: boundMs }, `closing the ${name} did not finish in time; going on without it`);
      } catch (err) {
        this.logger.warn({ error: describeError(err) }, `could not close the ${name}`);
      } finally {
        clearTimeout(timer);
      }
    }
  }
}
