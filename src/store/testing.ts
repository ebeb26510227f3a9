/**
 * Test support: opens a store on a throw-away PGlite directory or a unique PostgreSQL schema, and removes it
 * afterwards so parallel runs never collide. Used by this folder's tests and the EMR worker tests.
 */
import { cpSync, existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { CodeMigrationProvider } from './migrations.js';
import { dropSchema, openStore, type Store, type StoreOptions } from './store.js';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestStoreHandle {
  kind: 'pglite' | 'postgres';
  /** Options that reopen the same data (another process, a restart). */
  options: StoreOptions;
  /** Makes the data exist (PGlite: a copy of a migrated template) without opening it; open() does this too. */
  prepare(): Promise<void>;
  open(): Promise<Store>;
  /** Deletes the data directory / drops the schema. Close stores first. */
  destroy(): Promise<void>;
}

export function testStoreHandle(kind: 'pglite' | 'postgres', key = randomBytes(32).toString('base64')): TestStoreHandle {
  const dataDir = mkdtempSync(join(tmpdir(), 'carevox-store-'));
  const schema = `t_${process.pid}_${randomBytes(4).toString('hex')}`;
  const auditKey = randomBytes(32).toString('base64');
  const options: StoreOptions = kind === 'pglite'
    ? { dataDir, encryptionKey: key, keyId: 'k1', auditKey }
    : { dataDir, encryptionKey: key, keyId: 'k1', auditKey, databaseUrl: TEST_DATABASE_URL, schema };
  const prepare = async () => {
    if (kind === 'pglite' && !existsSync(join(dataDir, 'pglite'))) cpSync(await pgliteTemplate(), join(dataDir, 'pglite'), { recursive: true });
  };
  return {
    kind, options, prepare,
    async open() {
      await prepare();
      return openStore(options);
    },
    async destroy() {
      if (kind === 'postgres') await dropSchema(TEST_DATABASE_URL, schema);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A migrated, empty PGlite data directory, built once and copied for each test store: initdb in WASM takes
 * seconds, a copy a fraction of one. Cached in the temp dir under a hash of the migration names; holds no key.
 */
async function pgliteTemplate(): Promise<string> {
  const migrations = Object.keys(await new CodeMigrationProvider().getMigrations()).join(',');
  const dir = join(tmpdir(), `carevox-pglite-template-${createHash('sha256').update(migrations).digest('hex').slice(0, 12)}`);
  if (existsSync(join(dir, 'READY'))) return join(dir, 'pglite');
  const building = mkdtempSync(join(tmpdir(), 'carevox-pglite-building-'));
  const store = await openStore({ dataDir: building, encryptionKey: randomBytes(32).toString('base64'), keyId: 'template', auditKey: randomBytes(32).toString('base64') });
  await store.close();
  rmSync(join(building, 'encryption.key'), { force: true });
  writeFileSync(join(building, 'READY'), migrations);
  try {
    renameSync(building, dir);
  } catch {
    rmSync(building, { recursive: true, force: true }); // another process finished first
  }
  return join(dir, 'pglite');
}

/**
 * A TCP proxy on loopback in front of a server (tests: PostgreSQL going away without touching the shared
 * one). `cut()` drops every connection and refuses new ones; `restore()` listens on the same port again.
 */
export interface TcpProxy {
  port: number;
  /** `url` with its host and port replaced by the proxy's. */
  urlFor(url: string): string;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let port = 0;
  let server: Server | null = null;
  const listen = () => new Promise<void>((resolve, reject) => {
    const s = createServer((client) => {
      const upstream = connect(target.port, target.host);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => { client.destroy(); upstream.destroy(); });
      }
      client.pipe(upstream).pipe(client);
    });
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => {
      port = (s.address() as AddressInfo).port;
      server = s;
      resolve();
    });
  });
  const cut = async () => {
    const s = server;
    server = null;
    for (const socket of sockets) socket.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await listen();
  return {
    get port() { return port; },
    urlFor: (url) => { const u = new URL(url); u.hostname = '127.0.0.1'; u.port = String(port); return u.toString(); },
    cut,
    restore: () => (server ? Promise.resolve() : listen()),
    close: cut,
  };
}
