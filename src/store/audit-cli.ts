/**
 * `carevox audit verify [--json]`: walks the configured store's audit chain and checks it against the signed heads
 * (the database's and this node's local copy in DATA_DIR). Exit 0 when it verifies, 1 when it does not or cannot
 * be checked, 2 for usage. The store is opened read-only: no migrations, read-only PostgreSQL sessions; the
 * embedded PGlite store is refused while a server holds it (PGlite is single-process).
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/index.js';
import type { AuditReport, SignedAuditHead } from './audit.js';
import { openStore, storeOptionsFromConfig, type Store } from './store.js';

export interface AuditCliIo {
  env: NodeJS.ProcessEnv;
  out(line: string): void;
  err(line: string): void;
}

const defaultIo: AuditCliIo = {
  env: process.env,
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

const USAGE = `usage: carevox audit verify [--json]
  Verifies the audit log of the configured store (DATA_DIR or DATABASE_URL, with AUDIT_HMAC_KEY):
  every entry's keyed hash, and the signed head, so edits, truncation and removed newest entries show.
  Exit status: 0 verified, 1 broken or could not be checked, 2 usage.
  --json   one JSON object on stdout instead of the sentence`;

export async function run(argv: string[], io: AuditCliIo = defaultIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    io.err(`carevox audit: ${(err as Error).message}`);
    io.err(USAGE);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  if (positionals[0] !== 'verify' || positionals.length > 1) {
    io.err(USAGE);
    return 2;
  }
  let store: Store | undefined;
  try {
    const config = loadConfig(io.env);
    store = await openStore({ ...storeOptionsFromConfig(config.store), readOnly: true });
    const report = await store.audit.verify();
    if (values.json) io.out(JSON.stringify(toJson(store.kind, report)));
    else io.out(sentence(report));
    return report.verification.ok ? 0 : 1;
  } catch (err) {
    const message = describe(err);
    if (values.json) io.out(JSON.stringify({ ok: false, status: 'error', error: message }));
    io.err(`carevox audit: cannot verify: ${message}`);
    return 1;
  } finally {
    await store?.close();
  }
}

function sentence(report: AuditReport): string {
  const { verification: v, head } = report;
  if (v.ok) {
    return head
      ? `audit log OK: ${v.checked} entries, head signed at ${head.signedAt} (entry ${head.lastId})`
      : `audit log OK: ${v.checked} entries (nothing recorded yet, no head)`;
  }
  const where = v.brokenAt !== undefined ? ` at entry ${v.brokenAt}` : '';
  return `audit log BROKEN (${v.reason})${where}: ${v.problem}; ${v.checked} entries verified before it`;
}

function toJson(kind: Store['kind'], report: AuditReport): Record<string, unknown> {
  const { verification: v } = report;
  return {
    ok: v.ok, status: v.ok ? 'ok' : 'broken', store: kind, entries: v.checked,
    ...(v.ok ? {} : { reason: v.reason, brokenAt: v.brokenAt ?? null, problem: v.problem }),
    head: headSummary(report.head), localHead: headSummary(report.localHead),
  };
}

function headSummary(head: SignedAuditHead | null): Record<string, unknown> | null {
  return head && { entries: head.entries, lastId: head.lastId, signedAt: head.signedAt };
}

/** The error and its causes on one line (a migration error wraps the real one). */
function describe(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e instanceof Error && parts.length < 4; e = e.cause) parts.push(e.message);
  return parts.length ? parts.join(': ') : String(err);
}
