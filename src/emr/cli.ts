/**
 * `carevox emr login`: one-time OpenEMR authorization (code + PKCE). Prints the authorize URL, receives the code
 * on a local callback, exchanges it and stores the tokens encrypted; the worker then lives on refresh tokens.
 * `carevox emr double`: runs the local OpenEMR double for demos and prints how to point carevox at it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../config/index.js';
import { createLogger, type Logger } from '../log.js';
import { openStore, storeOptionsFromConfig } from '../store/index.js';
import { DOUBLE_MAPPING, startOpenEmrDouble } from './double/index.js';
import { OpenEmrConfigError } from './http.js';
import { createPkcePair, OAuthTokenManager } from './oauth.js';

export class LoginError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LoginError';
  }
}

export interface LoginOptions {
  config: Config;
  /** Where the user-facing lines go (stdout in the CLI). */
  print: (line: string) => void;
  /** Local callback port (must match the redirect URI registered in OpenEMR); 0 picks a free one. */
  port: number;
  /** Host name used in the redirect URI. */
  callbackHost?: string;
  timeoutMs?: number;
  logger?: Logger;
}

export async function login(options: LoginOptions): Promise<void> {
  const { config, print } = options;
  const emr = config.emr;
  if (!emr.baseUrl || !emr.clientId) throw new OpenEmrConfigError('set OPENEMR_BASE_URL and OPENEMR_CLIENT_ID first');
  const store = await openStore(storeOptionsFromConfig(config.store, options.logger));
  let server: Server | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    const auth = new OAuthTokenManager({
      baseUrl: emr.baseUrl, site: emr.site, clientId: emr.clientId, clientSecret: emr.clientSecret, scopes: emr.scopes,
      tokens: store.tokens, timeoutMs: emr.requestTimeoutMs, allowInsecureHttp: emr.allowInsecureHttp, logger: options.logger,
    });
    const pkce = createPkcePair();
    const state = randomBytes(16).toString('base64url');
    let redirectUri = '';
    const received = new Promise<string>((resolve, reject) => {
      server = createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://callback');
        if (url.pathname !== '/callback') return void res.writeHead(404).end();
        const code = url.searchParams.get('code');
        const error = url.searchParams.get('error');
        if (url.searchParams.get('state') !== state || (!code && !error)) {
          res.writeHead(400, { 'content-type': 'text/plain' }).end('Unexpected callback (state mismatch).');
          return;
        }
        if (error || !code) {
          res.writeHead(400, { 'content-type': 'text/plain' }).end('OpenEMR refused the authorization.');
          reject(new LoginError(`OpenEMR refused the authorization: ${error}`));
          return;
        }
        res.writeHead(200, { 'content-type': 'text/plain' }).end('carevox is now authorized with OpenEMR. You can close this window.');
        resolve(code);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(options.port, '127.0.0.1', resolve);
    });
    const { port } = server!.address() as AddressInfo;
    redirectUri = `http://${options.callbackHost ?? '127.0.0.1'}:${port}/callback`;
    print(`Register this redirect URI for client ${emr.clientId} in OpenEMR: ${redirectUri}`);
    print('Open this URL in a browser, log in as the carevox OpenEMR user and approve:');
    print(auth.authorizeUrl(redirectUri, state, pkce.challenge));
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new LoginError('no authorization arrived in time')), options.timeoutMs ?? 10 * 60_000);
    });
    const code = await Promise.race([received, timeout]);
    await auth.exchangeCode(code, pkce.verifier, redirectUri);
    print('OpenEMR login stored (encrypted). The assistant will keep it fresh with refresh tokens.');
  } finally {
    clearTimeout(timer);
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server!.close(() => resolve()));
    }
    await store.close();
  }
}

export async function runDouble(argv: string[], print: (line: string) => void = console.log): Promise<{ close(): Promise<void> }> {
  const { values } = parseArgs({ args: argv, options: { port: { type: 'string', default: '0' } } });
  const double = await startOpenEmrDouble({ port: Number(values.port) });
  print(`OpenEMR double listening at ${double.url} (site ${double.site})`);
  print(`  OAuth client: ${double.client.clientId} / secret ${double.client.clientSecret}`);
  print(`  API user (password grant): ${double.apiUser.username} / ${double.apiUser.password}`);
  print(`  Seeded: ${double.patients().length} patients, ${double.users().length} users`);
  const mappingFile = join(tmpdir(), `carevox-double-mapping-${process.pid}.json`);
  writeFileSync(mappingFile, JSON.stringify(DOUBLE_MAPPING, null, 2));
  print('Point carevox (with the demo clinic) at it with:');
  print(`  EMR_ENGINE=openemr OPENEMR_BASE_URL=${double.url} OPENEMR_ALLOW_INSECURE_HTTP=true OPENEMR_CLIENT_ID=${double.client.clientId} ` +
    `OPENEMR_CLIENT_SECRET=${double.client.clientSecret} OPENEMR_USERNAME=${double.apiUser.username} OPENEMR_PASSWORD=${double.apiUser.password} ` +
    `OPENEMR_MAPPING_FILE=${mappingFile}`);
  print(`Inject faults: curl -X POST ${double.url}/__double/faults -d '{"down":true}'  (also latencyMs, serverErrors, garbage, expireAccessTokens, revokeRefreshTokens)`);
  return {
    async close() {
      await double.close();
      rmSync(mappingFile, { force: true });
    },
  };
}

const USAGE = 'usage: carevox emr login [--port N] [--host NAME]\n       carevox emr double [--port N]';

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'login') {
    const { values } = parseArgs({ args: rest, options: { port: { type: 'string', default: '8765' }, host: { type: 'string', default: '127.0.0.1' } } });
    const config = loadConfig();
    const logger = createLogger(config.log.level);
    try {
      await login({ config, print: (line) => console.log(line), port: Number(values.port), callbackHost: values.host, logger });
      return 0;
    } catch (err) {
      console.error(`emr login failed: ${(err as Error).message}`);
      return 1;
    }
  }
  if (sub === 'double') {
    const double = await runDouble(rest);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await double.close();
    return 0;
  }
  console.error(USAGE);
  return 2;
}
