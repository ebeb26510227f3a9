/**
 * Test support: opens a store on a throw-away PGlite directory or a unique PostgreSQL schema, and removes it
 * afterwards so parallel runs never collide. Used by this folder's tests and the EMR worker tests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { dropSchema, openStore, type Store, type StoreOptions } from './store.js';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestStoreHandle {
  kind: 'pglite' | 'postgres';
  /** Options that reopen the same data (another process, a restart). */
  options: StoreOptions;
  open(): Promise<Store>;
  /** Deletes the data directory / drops the schema. Close stores first. */
  destroy(): Promise<void>;
}

export function testStoreHandle(kind: 'pglite' | 'postgres', key = randomBytes(32).toString('base64')): TestStoreHandle {
  const dataDir = mkdtempSync(join(tmpdir(), 'carevox-store-'));
  const schema = `t_${process.pid}_${randomBytes(4).toString('hex')}`;
  const options: StoreOptions = kind === 'pglite'
    ? { dataDir, encryptionKey: key, keyId: 'k1' }
    : { dataDir, encryptionKey: key, keyId: 'k1', databaseUrl: TEST_DATABASE_URL, schema };
  return {
    kind, options,
    open: () => openStore(options),
    async destroy() {
      if (kind === 'postgres') await dropSchema(TEST_DATABASE_URL, schema);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
