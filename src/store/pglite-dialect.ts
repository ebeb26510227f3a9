/**
 * A Kysely dialect for PGlite that is safe for concurrent use. Written here rather than taken from kysely-pglite
 * because its driver hands PGlite's single connection to every caller at once (a query issued while another
 * caller's transaction is open would run inside it), drops affected-row counts, and fires an un-awaited mkdir
 * on the data directory that rejects after the directory is removed. This one behaves like a pool of one.
 */
import { PGlite } from '@electric-sql/pglite';
import { PrivateNodeFS, tightenTree } from './private-files.js';
import {
  CompiledQuery, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler,
  type DatabaseConnection, type Dialect, type Driver, type QueryResult,
} from 'kysely';

class PGliteConnection implements DatabaseConnection {
  constructor(private readonly client: PGlite) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.client.query<R>(query.sql, [...query.parameters]);
    return result.affectedRows === undefined
      ? { rows: result.rows }
      : { rows: result.rows, numAffectedRows: BigInt(result.affectedRows) };
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('PGlite does not support streaming');
  }
}

class PGliteSerialDriver implements Driver {
  private tail: Promise<void> = Promise.resolve();
  private readonly releases = new WeakMap<DatabaseConnection, () => void>();

  constructor(private readonly client: PGlite) {}

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    let release!: () => void;
    const previous = this.tail;
    this.tail = new Promise<void>((resolve) => { release = resolve; });
    await previous;
    const connection = new PGliteConnection(this.client);
    this.releases.set(connection, release);
    return connection;
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    this.releases.get(connection)?.();
    this.releases.delete(connection);
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin'));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async destroy(): Promise<void> {
    await this.tail;
    await this.client.close();
  }
}

/**
 * Opens (or creates) the data directory: everything in it is made owner-only first (a directory from an older
 * carevox has 0666 files), and whatever PGlite creates in it from now on is born owner-only (PrivateNodeFS).
 */
export async function createPGliteDialect(dataDir: string): Promise<Dialect> {
  const fs = new PrivateNodeFS(dataDir);
  tightenTree(dataDir);
  const client = await PGlite.create({ fs });
  return {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new PGliteSerialDriver(client),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  };
}
