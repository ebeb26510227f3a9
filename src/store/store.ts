/**
 * The durable store: embedded PGlite (a data directory) by default, PostgreSQL when a database URL is given.
 * Both speak the same SQL through Kysely; migrations run on open.
 */
import { readFileSync, writeFileSync, existsSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { Kysely, Migrator, PostgresDialect } from 'kysely';
import pg from 'pg';
import { describeError, type Logger } from '../log.js';
import { AuditHeadFile, AuditKeyError, AuditKeys, AuditLog, signLegacyAuditHead } from './audit.js';
import { Keyring, KeyringError } from './crypto.js';
import { createPGliteDialect } from './pglite-dialect.js';
import { ensurePrivateDir, tighten } from './private-files.js';
import { CodeMigrationProvider } from './migrations.js';
import { CallRepository, JobRepository, TokenRepository, TurnRepository } from './repositories.js';
import type { Database } from './schema.js';

export interface StoreOptions {
  dataDir: string;
  databaseUrl?: string;
  encryptionKey?: string;
  keyId: string;
  previousKeys?: string;
  /** HMAC key of the audit chain and its head (32+ bytes, base64 or hex). Generated into dataDir when unset (embedded only). */
  auditKey?: string;
  /**
   * Verification only (`carevox audit verify`): no migrations, PostgreSQL sessions read-only, nothing generated.
   * The embedded store still takes the data directory's lock, since PGlite allows one process at a time.
   */
  readOnly?: boolean;
  /**
   * PostgreSQL only: the schema holding the tables and the migrations' own bookkeeping (created if missing),
   * so a database shared with other applications (their Kysely tables in `public`) never collides.
   * Default `carevox`; tests use one per run.
   */
  schema?: string;
  logger?: Logger;
}

export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}

/** The embedded data directory is open in another live process (PGlite is single-process). */
export class StoreLockedError extends StoreError {
  constructor(readonly dataDir: string, readonly pid: number) {
    super(`the embedded store in ${dataDir} is in use by process ${pid} (a running carevox?); stop it first, or remove ${join(dataDir, LOCK_FILE)} if no such process is carevox`);
    this.name = 'StoreLockedError';
  }
}

export interface Store {
  readonly kind: 'pglite' | 'postgres';
  readonly db: Kysely<Database>;
  readonly keyring: Keyring;
  readonly calls: CallRepository;
  readonly turns: TurnRepository;
  readonly jobs: JobRepository;
  readonly tokens: TokenRepository;
  readonly audit: AuditLog;
  close(): Promise<void>;
}

const KEY_FILE = 'encryption.key';
const AUDIT_KEY_FILE = 'audit.key';
const LOCK_FILE = 'pglite.lock';
/** Longest wait for a PostgreSQL connection: an unreachable server fails start-up (and a query) in seconds. */
const PG_CONNECT_TIMEOUT_MS = 5_000;

export async function openStore(options: StoreOptions): Promise<Store> {
  if (options.readOnly && !options.databaseUrl && !existsSync(resolve(options.dataDir, 'pglite'))) {
    throw new StoreError(`no embedded store in ${resolve(options.dataDir)}`);
  }
  const keyring = Keyring.fromConfig(options.keyId, resolveKey(options), options.previousKeys);
  const auditKeys = AuditKeys.parse(resolveAuditKey(options));
  const headFile = auditHeadFile(options);
  let db: Kysely<Database>;
  let kind: Store['kind'];
  let releaseLock = () => {};
  const schema = options.schema ?? DEFAULT_SCHEMA;
  if (options.databaseUrl) {
    kind = 'postgres';
    if (!options.readOnly) await createSchema(options.databaseUrl, schema);
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: createPool(options.databaseUrl, schema, options) }) });
  } else {
    kind = 'pglite';
    const dir = resolve(options.dataDir, 'pglite');
    if (!options.readOnly) ensurePrivateDir(options.dataDir); // owner-only: holds the database and the generated keys
    releaseLock = lockDataDir(options.dataDir);
    try {
      db = new Kysely<Database>({ dialect: await createPGliteDialect(dir) });
    } catch (err) {
      releaseLock();
      throw err;
    }
  }
  const destroy = async () => {
    try {
      await db.destroy();
    } finally {
      releaseLock();
    }
  };
  try {
    const migrator = new Migrator({
      db,
      provider: new CodeMigrationProvider({ signLegacyAuditHead: (trx) => signLegacyAuditHead(trx, auditKeys) }),
      ...(kind === 'postgres' ? { migrationTableSchema: schema } : {}),
    });
    if (options.readOnly) {
      const pending = (await migrator.getMigrations()).filter((m) => !m.executedAt).map((m) => m.name);
      if (pending.length) throw new StoreError(`the store is not migrated to this version (pending: ${pending.join(', ')}); start carevox once to migrate it`);
    } else {
      const { error, results } = await migrator.migrateToLatest();
      if (error) throw new StoreError('database migration failed', { cause: error });
      const applied = results?.filter((r) => r.status === 'Success').map((r) => r.migrationName) ?? [];
      if (applied.length) options.logger?.info({ migrations: applied, kind }, 'store migrated');
    }
  } catch (err) {
    await destroy();
    throw err instanceof StoreError ? err : new StoreError(`cannot open the ${kind} store`, { cause: err });
  }
  const audit = new AuditLog(db, { keys: auditKeys, headFile, readOnly: options.readOnly, logger: options.logger });
  return {
    kind, db, keyring,
    calls: new CallRepository(db),
    turns: new TurnRepository(db, keyring),
    jobs: new JobRepository(db, keyring),
    tokens: new TokenRepository(db, keyring),
    audit,
    close: destroy,
  };
}

/** Store options from the `store` config section. */
export function storeOptionsFromConfig(store: { dataDir: string; databaseUrl?: string; encryptionKey?: string; keyId: string; previousKeys?: string; auditKey?: string; databaseSchema?: string }, logger?: Logger): StoreOptions {
  return {
    dataDir: store.dataDir, databaseUrl: store.databaseUrl, encryptionKey: store.encryptionKey, keyId: store.keyId,
    previousKeys: store.previousKeys, auditKey: store.auditKey, schema: store.databaseSchema, logger,
  };
}

const DEFAULT_SCHEMA = 'carevox';

/**
 * The PostgreSQL pool. A connection can drop at any time (the server restarts, a proxy goes away,
 * pg_terminate_backend): pg then emits 'error' on the client and, for an idle one, on the pool, and an
 * 'error' event without a listener ends the process with every live call on it. Both are handled here:
 * the broken client is discarded (pg-pool does that for an idle one; Kysely's release returns a checked-out
 * one, which pg-pool drops as no longer queryable) and the next query opens a fresh connection. What
 * failed is retried by whoever issued it (the call recorder keeps call records queued meanwhile).
 */
function createPool(databaseUrl: string, schema: string, options: { readOnly?: boolean; logger?: Logger }): pg.Pool {
  const { logger } = options;
  const settings = [
    // Every connection resolves unqualified names in carevox's schema (never in `public`).
    `-c search_path=${quoteIdent(schema)}`,
    ...(options.readOnly ? ['-c default_transaction_read_only=on'] : []),
  ];
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: 10,
    options: settings.join(' '),
    // A database that stops answering (half-open TCP) fails queries instead of holding them forever.
    connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
    query_timeout: 15_000,
    keepAlive: true,
  });
  // Each client's own listener logs it; the pool re-emits an idle client's error, which needs a listener too.
  pool.on('connect', (client) => client.on('error', (err: Error) => {
    logger?.warn({ error: describeError(err) }, 'PostgreSQL connection lost (a new one is opened on the next query)');
  }));
  pool.on('error', () => {});
  return pool;
}

/** Drops a per-test schema (PostgreSQL). */
export async function dropSchema(databaseUrl: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`drop schema if exists ${quoteIdent(schema)} cascade`);
  } finally {
    await client.end();
  }
}

async function createSchema(databaseUrl: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS });
  await client.connect();
  try {
    await client.query(`create schema if not exists ${quoteIdent(schema)}`);
  } finally {
    await client.end();
  }
}

function quoteIdent(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name)) throw new StoreError(`invalid schema name ${name}`);
  return `"${name}"`;
}

/**
 * The embedded store generates its keys on first start and keeps them beside the data (mode 0600); with
 * PostgreSQL they must come from the environment, since the database may be shared by several nodes.
 */
function resolveKey(options: StoreOptions): string {
  return options.encryptionKey ?? generatedKey(options, {
    file: KEY_FILE, what: 'data encryption key', missing: (message) => new KeyringError(message),
    requiredWith: 'DATA_ENCRYPTION_KEY is required when DATABASE_URL is set', env: 'DATA_ENCRYPTION_KEY',
  });
}

/** Like the encryption key, and kept away from the database: whoever can write the table must not hold it. */
function resolveAuditKey(options: StoreOptions): string {
  return options.auditKey ?? generatedKey(options, {
    file: AUDIT_KEY_FILE, what: 'audit HMAC key', missing: (message) => new AuditKeyError(message),
    requiredWith: 'AUDIT_HMAC_KEY is required when DATABASE_URL is set', env: 'AUDIT_HMAC_KEY',
  });
}

function generatedKey(options: StoreOptions, key: { file: string; what: string; env: string; requiredWith: string; missing(message: string): Error }): string {
  if (options.databaseUrl) throw key.missing(key.requiredWith);
  const path = join(options.dataDir, key.file);
  if (existsSync(path)) {
    if (!options.readOnly) tighten(path); // a key file written by hand or by an older version may be readable by others
    return readFileSync(path, 'utf8').trim();
  }
  if (options.readOnly) throw key.missing(`no ${key.what}: set ${key.env} or keep ${path}`);
  ensurePrivateDir(options.dataDir);
  const value = randomBytes(32).toString('base64');
  try {
    writeFileSync(path, `${value}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another process created it between the check and the write: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(path, 'utf8').trim();
    throw err;
  }
  options.logger?.warn({ path }, `generated a new ${key.what} (kept with mode 0600; back it up with the data)`);
  return value;
}

/**
 * This node's copy of the newest signed audit head, in DATA_DIR (never in the database it vouches for). With
 * PostgreSQL, named after the database and schema, so one DATA_DIR can serve several.
 */
function auditHeadFile(options: StoreOptions): AuditHeadFile | undefined {
  if (!options.databaseUrl) return new AuditHeadFile(join(options.dataDir, 'audit-head.json'));
  // Host, port and database (not the credentials, which may rotate); a libpq keyword string is taken whole.
  let target = options.databaseUrl;
  try {
    const url = new URL(options.databaseUrl);
    target = `${url.hostname}:${url.port || '5432'}${url.pathname}`;
  } catch {
    // not a URL
  }
  target += `|${options.schema ?? ''}`;
  try {
    if (!options.readOnly) ensurePrivateDir(options.dataDir);
  } catch (err) {
    options.logger?.warn({ err, dataDir: options.dataDir }, 'no local audit head file (DATA_DIR not writable): only the database head is checked');
    return undefined;
  }
  return new AuditHeadFile(join(options.dataDir, `audit-head-${createHash('sha256').update(target).digest('hex').slice(0, 16)}.json`));
}

/**
 * PGlite has no postmaster lock of its own, and two processes on one data directory corrupt it. A pid file
 * beside it refuses a second live process; one left by a dead process (kill -9) is taken over.
 */
function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { mode: 0o600, flag: 'wx' });
      return () => releaseDataDirLock(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number.parseInt(readFileSync(path, 'utf8'), 10);
    // Our own pid: a store reopened in this process (tests, restarts within one process).
    if (holder === process.pid) return () => releaseDataDirLock(path);
    if (Number.isInteger(holder) && holder > 0 && processAlive(holder)) throw new StoreLockedError(resolve(dataDir), holder);
    try {
      unlinkSync(path); // stale: its process is gone
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  throw new StoreError(`cannot take the lock ${path}`);
}

function releaseDataDirLock(path: string): void {
  try {
    if (Number.parseInt(readFileSync(path, 'utf8'), 10) === process.pid) unlinkSync(path);
  } catch {
    // already gone
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed child its parent has not reaped yet still answers signal 0 (Linux: state Z in /proc).
  try {
    return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}
