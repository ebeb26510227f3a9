import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { loadConfig } from '../config/index.js';
import { openStore, storeOptionsFromConfig } from '../store/index.js';
import { login, runDouble } from './cli.js';
import { OpenEmrContract } from './contract.js';
import { DOUBLE_MAPPING, startOpenEmrDouble } from './double/index.js';
import { loadOpenEmrMapping } from './service.js';
import { createEmrStack, doubleAccess } from './testing.js';

test('emr login: authorization code + PKCE end to end against the double, tokens stored encrypted', async () => {
  const double = await startOpenEmrDouble({ passwordGrant: false });
  const dataDir = mkdtempSync(join(tmpdir(), 'carevox-login-'));
  try {
    const config = loadConfig({
      DATA_DIR: dataDir, OPENEMR_BASE_URL: double.url, OPENEMR_ALLOW_INSECURE_HTTP: 'true',
      OPENEMR_CLIENT_ID: double.client.clientId, OPENEMR_CLIENT_SECRET: double.client.clientSecret,
    });
    const lines: string[] = [];
    const done = login({ config, print: (line) => lines.push(line), port: 0, timeoutMs: 60_000 });
    let url: string | undefined;
    for (let i = 0; i < 600 && !url; i++) {
      url = lines.find((l) => l.startsWith(`${double.url}/oauth2/default/authorize?`));
      if (!url) await delay(50);
    }
    assert.ok(url, `printed the authorize URL: ${lines.join('\n')}`);
    const params = new URL(url!).searchParams;
    assert.is(params.get('code_challenge_method'), 'S256');
    // The "browser": follows the authorize URL; the double logs in and redirects to the local callback.
    const res = await fetch(url!);
    assert.is(res.status, 200);
    assert.match(await res.text(), /authorized/);
    await done;
    assert.is(double.grants('authorization_code'), 1);
    assert.ok(lines.some((l) => /login stored/.test(l)));

    // The stored login is enough for a login-only stack (no password) to call the API, refreshing as needed.
    const store = await openStore(storeOptionsFromConfig(config.store));
    try {
      const raw = await store.db.selectFrom('oauth_tokens').select('token_enc').executeTakeFirstOrThrow();
      assert.not.ok(raw.token_enc.includes('refresh'), 'encrypted at rest');
      const { gateway } = createEmrStack(store, doubleAccess(double), { passwordGrant: false });
      double.expireAccessTokens();
      assert.equal((await gateway.findPatientsByNameDob('Jane', 'Doe', '1980-02-03')).map((p) => p.id), ['1']);
      assert.is(double.grants('refresh_token'), 1);
      assert.is(double.grants('password'), 0);
    } finally {
      await store.close();
    }
    const contract = await OpenEmrContract.load();
    assert.equal(contract.check(double.requests), []);
  } finally {
    await double.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('emr login refuses a non-https OpenEMR unless allowed', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'carevox-login-'));
  try {
    const config = loadConfig({ DATA_DIR: dataDir, OPENEMR_BASE_URL: 'http://emr.example.org', OPENEMR_CLIENT_ID: 'x' });
    try {
      await login({ config, print: () => {}, port: 0, timeoutMs: 1000 });
      assert.unreachable();
    } catch (err) {
      assert.match((err as Error).message, /https/);
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('emr double: prints its URL and seeded credentials, which work', async () => {
  const lines: string[] = [];
  const double = await runDouble([], (line) => lines.push(line));
  try {
    const url = /listening at (\S+)/.exec(lines.join('\n'))?.[1];
    const [, clientId, secret] = /OAuth client: (\S+) \/ secret (\S+)/.exec(lines.join('\n')) ?? [];
    const [, username, password] = /API user \(password grant\): (\S+) \/ (\S+)/.exec(lines.join('\n')) ?? [];
    assert.ok(url && clientId && secret && username && password);
    const res = await fetch(`${url}/oauth2/default/token`, { method: 'POST', body: new URLSearchParams({
      grant_type: 'password', user_role: 'users', username: username!, password: password!, client_id: clientId!, client_secret: secret!, scope: 'openid api:oemr' }) });
    assert.is(res.status, 200);
    assert.type(((await res.json()) as { access_token: unknown }).access_token, 'string');
    // Demo fault control: the double goes down and comes back.
    const control = `${url}/__double/faults`;
    assert.is(((await (await fetch(control, { method: 'POST', body: '{"down":true}' })).json()) as { down: boolean }).down, true);
    try {
      await fetch(`${url}/apis/default/api/patient`);
      assert.unreachable('connection must be reset while down');
    } catch (err) {
      assert.instance(err, TypeError);
    }
    await fetch(control, { method: 'POST', body: '{"down":false}' });
    assert.is((await fetch(`${url}/apis/default/api/patient`)).status, 401);
    const mappingFile = /OPENEMR_MAPPING_FILE=(\S+)/.exec(lines.join('\n'))?.[1];
    assert.equal(loadOpenEmrMapping(mappingFile!), DOUBLE_MAPPING);
  } finally {
    await double.close();
  }
});

test.run();
