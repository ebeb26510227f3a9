/**
 * Test support: a running OpenEMR double, a throw-away store and the real OpenEMR client stack wired to both.
 * Closing the fixture closes everything it opened.
 */
import { defaultClinicConfig, type ClinicConfig } from '../dialog/clinic.js';
import type { Store } from '../store/index.js';
import { testStoreHandle, type TestStoreHandle } from '../store/testing.js';
import { DOUBLE_FACILITY_ID, DOUBLE_MAPPING, startOpenEmrDouble, type OpenEmrDouble, type OpenEmrDoubleOptions } from './double/index.js';
import { OAuthTokenManager } from './oauth.js';
import { OpenEmrClient } from './openemr-client.js';
import { OpenEmrGateway } from './openemr-gateway.js';

/** Monday 2030-03-04 08:00 in New York: a fixed "now" so availability is deterministic. */
export const FIXED_NOW = new Date('2030-03-04T13:00:00Z');

export interface EmrFixture {
  double: OpenEmrDouble;
  handle: TestStoreHandle;
  store: Store;
  clinic: ClinicConfig;
  auth: OAuthTokenManager;
  client: OpenEmrClient;
  gateway: OpenEmrGateway;
  close(): Promise<void>;
}

export interface EmrFixtureOptions {
  storeKind?: 'pglite' | 'postgres';
  /** Use the password grant (default true); otherwise a stored login is needed. */
  passwordGrant?: boolean;
  timeoutMs?: number;
  double?: OpenEmrDoubleOptions;
}

export const TEST_SCOPES = 'openid offline_access api:oemr user/patient.read user/appointment.read user/appointment.write user/message.write';

/** Where the double is and how to log in to it (also passed to child processes as JSON). */
export interface DoubleAccess {
  url: string;
  site: string;
  clientId: string;
  clientSecret?: string;
  username: string;
  password: string;
}

export function doubleAccess(double: OpenEmrDouble): DoubleAccess {
  return { url: double.url, site: double.site, clientId: double.client.clientId, clientSecret: double.client.clientSecret, ...double.apiUser };
}

/** The real client stack (OAuth, client, gateway) pointed at a double. */
export function createEmrStack(store: Store, access: DoubleAccess, options: { timeoutMs?: number; passwordGrant?: boolean; actor?: string } = {}) {
  const clinic = defaultClinicConfig();
  const timeoutMs = options.timeoutMs ?? 2000;
  const auth = new OAuthTokenManager({
    baseUrl: access.url, site: access.site, clientId: access.clientId, clientSecret: access.clientSecret, scopes: TEST_SCOPES,
    credentials: options.passwordGrant === false ? undefined : { username: access.username, password: access.password },
    tokens: store.tokens, timeoutMs, allowInsecureHttp: true,
  });
  const client = new OpenEmrClient({ baseUrl: access.url, site: access.site, auth, timeoutMs, allowInsecureHttp: true });
  const gateway = new OpenEmrGateway({
    client, clinic, mapping: DOUBLE_MAPPING, facilityId: DOUBLE_FACILITY_ID, messageFrom: access.username, actor: options.actor,
    audit: async (entry) => { await store.audit.append(entry); }, now: () => FIXED_NOW,
  });
  return { clinic, auth, client, gateway };
}

export async function createEmrFixture(options: EmrFixtureOptions = {}): Promise<EmrFixture> {
  const double = await startOpenEmrDouble(options.double);
  const handle = testStoreHandle(options.storeKind ?? 'pglite');
  const store = await handle.open();
  const { clinic, auth, client, gateway } = createEmrStack(store, doubleAccess(double), options);
  return {
    double, handle, store, clinic, auth, client, gateway,
    async close() {
      await double.close();
      await store.close();
      await handle.destroy();
    },
  };
}
