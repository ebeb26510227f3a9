/**
 * Starts a real carevox server (real fastify, WebSocket, VAD, TTS, dialog) on 127.0.0.1:0 for a test,
 * with its log lines captured in memory so tests can check what was (and was not) logged.
 */
import { Writable } from 'node:stream';
import { loadConfig, type ConfigInput } from '../../src/config/index.js';
import { createLogger } from '../../src/log.js';
import { buildServer, type CarevoxServer } from '../../src/server.js';
import { startPhoneSystemBridges, type PhoneSystemBridges } from '../../src/sip-bridge/index.js';
import { createServices, type ServiceOverrides, type Services } from '../../src/services.js';
import { testStoreHandle } from '../../src/store/testing.js';
import type { CallRecord } from '../../src/media/call-session.js';
import type { TwilioCaller } from './twilio-caller.js';

export interface TestServer {
  baseUrl: string;
  server: CarevoxServer;
  services: Services;
  /** SIP and AudioSocket listeners (each only when the test's config asks for it). */
  bridges: PhoneSystemBridges;
  /** Parsed log lines written so far. */
  logs: Record<string, unknown>[];
  /** The raw log text (for "this never appears in logs" checks). */
  rawLogs(): string;
  /** Hangs the caller up and returns the server's record of the call once it is torn down. */
  hangUp(caller: TwilioCaller): Promise<CallRecord>;
  /** The whole record of a finished call, as the server had it in memory when the call ended (waits for it). */
  recordOf(callSid: string, timeoutMs?: number): Promise<CallRecord>;
  /** Every finished call's record so far, in the order they ended. */
  records(): CallRecord[];
  close(): Promise<void>;
}

export async function startTestServer(config: ConfigInput = {}, overrides: ServiceOverrides = {}): Promise<TestServer> {
  const raw: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      const text = chunk.toString();
      raw.push(text);
      for (const line of text.split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  // SIP only where a test asks for it (on a free port): test servers run side by side.
  const cfg = loadConfig({}, {
    ...config,
    server: { host: '127.0.0.1', port: 0, ...config.server },
    log: { level: 'info', ...config.log },
    sip: { enabled: false, port: 0, tlsPort: 0, ...config.sip },
  });
  const logger = createLogger(cfg.log.level, sink);
  // Each test server gets its own store: a fresh copy of a migrated PGlite template (about a second).
  const storeHandle = testStoreHandle('pglite');
  const store = overrides.store ?? (await storeHandle.open());
  const services = await createServices(cfg, logger, { ...overrides, store });
  // Whole records are observed as each call ends (the registry keeps only outcomes, the store has them encrypted).
  const records = new Map<string, CallRecord>();
  const onCallEnded = (record: CallRecord) => { records.set(record.callId, record); };
  const recordOf = async (callSid: string, timeoutMs = 20_000): Promise<CallRecord> => {
    const deadline = performance.now() + timeoutMs;
    while (!records.has(callSid)) {
      if (performance.now() > deadline) throw new Error(`timed out waiting for the record of ${callSid}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return records.get(callSid)!;
  };
  let bridges: PhoneSystemBridges | null = null;
  const server = await buildServer({
    config: cfg, logger, ...services, onCallEnded,
    healthDetails: () => ({ ...services.healthDetails(), ...bridges?.health() }),
  });
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  bridges = await startPhoneSystemBridges({
    config: cfg, logger, metrics: services.metrics, engines: services.engines, recorder: services.recorder,
    registry: server.registry, onCallEnded, admission: server.admission,
  });
  const startedBridges = bridges;
  const address = server.app.server.address();
  if (!address || typeof address === 'string') throw new Error('server has no TCP address');
  return {
    baseUrl: `http://127.0.0.1:${address.port}`,
    server, services, logs, bridges: startedBridges,
    rawLogs: () => raw.join(''),
    recordOf,
    records: () => [...records.values()],
    hangUp: async (caller) => {
      await caller.hangUp();
      return recordOf(caller.callSid);
    },
    close: async () => {
      await startedBridges.close();
      await server.app.close();
      await services.close();
      if (!overrides.store) { await store.close(); await storeHandle.destroy(); }
    },
  };
}
