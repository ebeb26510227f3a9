/**
 * The durable store: embedded PGlite (a data directory) by default, PostgreSQL when a database URL is given.
 * Both speak the same SQL through Kysely; migrations run on open.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Kysely, Migrator, PostgresDialect } from 'kysely';
import pg from 'pg';
import { describeError, type Logger } from '../log.js';
import { AuditLog } from './audit.js';
import { Keyring, KeyringError } from './crypto.js';
import { createPGliteDialect } from './pglite-dialect.js';
import { CodeMigrationProvider } from './migrations.js';
import { CallRepository, JobRepository, TokenRepository, TurnRepository } from './repositories.js';
import type { Database } from './schema.js';

export interface StoreOptions {
  dataDir: string;
  databaseUrl?: string;
  encryptionKey?: string;
  keyId: string;
  previousKeys?: string;
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

export async function openStore(options: StoreOptions): Promise<Store> {
  const keyring = Keyring.fromConfig(options.keyId, resolveKey(options), options.previousKeys);
  let db: Kysely<Database>;
  let kind: Store['kind'];
  const schema = options.schema ?? DEFAULT_SCHEMA;
  if (options.databaseUrl) {
    kind = 'postgres';
    await createSchema(options.databaseUrl, schema);
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: createPool(options.databaseUrl, schema, options.logger) }) });
  } else {
    kind = 'pglite';
    const dir = resolve(options.dataDir, 'pglite');
    mkdirSync(dir, { recursive: true });
    db = new Kysely<Database>({ dialect: await createPGliteDialect(dir) });
  }
  try {
    const migrator = new Migrator({ db, provider: new CodeMigrationProvider(), ...(kind === 'postgres' ? { migrationTableSchema: schema } : {}) });
    const { error, results } = await migrator.migrateToLatest();
    if (error) throw new StoreError('database migration failed', { cause: error });
    const applied = results?.filter((r) => r.status === 'Success').map((r) => r.migrationName) ?? [];
    if (applied.length) options.logger?.info({ migrations: applied, kind }, 'store migrated');
  } catch (err) {
    await db.destroy();
    throw err instanceof StoreError ? err : new StoreError(`cannot open the ${kind} store`, { cause: err });
  }
  return {
    kind, db, keyring,
    calls: new CallRepository(db),
    turns: new TurnRepository(db, keyring),
    jobs: new JobRepository(db, keyring),
    tokens: new TokenRepository(db, keyring),
    audit: new AuditLog(db),
    close: () => db.destroy(),
  };
}

/** Store options from the `store` config section. */
export function storeOptionsFromConfig(store: { dataDir: string; databaseUrl?: string; encryptionKey?: string; keyId: string; previousKeys?: string; databaseSchema?: string }, logger?: Logger): StoreOptions {
  return {
    dataDir: store.dataDir, databaseUrl: store.databaseUrl, encryptionKey: store.encryptionKey, keyId: store.keyId,
    previousKeys: store.previousKeys, schema: store.databaseSchema, logger,
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
function createPool(databaseUrl: string, schema: string, logger?: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: 10,
    // Every connection resolves unqualified names in carevox's schema (never in `public`).
    options: `-c search_path=${quoteIdent(schema)}`,
    // A database that stops answering (half-open TCP) fails queries instead of holding them forever.
    connectionTimeoutMillis: 5_000,
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
  const client = new pg.Client({ connectionString: databaseUrl });
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
 * The embedded store generates its key on first start and keeps it beside the data (mode 0600); with
 * PostgreSQL the key must come from the environment, since the database may be shared by several nodes.
 */
function resolveKey(options: StoreOptions): string {
  if (options.encryptionKey) return options.encryptionKey;
  if (options.databaseUrl) throw new KeyringError('DATA_ENCRYPTION_KEY is required when DATABASE_URL is set');
  mkdirSync(options.dataDir, { recursive: true });
  const path = join(options.dataDir, KEY_FILE);
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const key = randomBytes(32).toString('base64');
  try {
    writeFileSync(path, `${key}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another process created it between the check and the write: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(path, 'utf8').trim();
    throw err;
  }
  options.logger?.warn({ path }, 'generated a new data encryption key (kept with mode 0600; back it up with the data)');
  return key;
}

