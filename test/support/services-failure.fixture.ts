/**
 * Child process for the start-up tests: createServices fails after the VAD worker thread and the flite
 * processes have started (an OpenEMR mapping without the clinic's providers, as if nothing had checked it). It
 * prints the error's class and returns: the process must then end by itself, with nothing left running.
 */
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log.js';
import { createServices } from '../../src/services.js';
import { testStoreHandle } from '../../src/store/testing.js';

const handle = testStoreHandle('pglite');
const store = await handle.open();
const config = loadConfig({}, { emr: { engine: 'openemr', baseUrl: 'https://emr.example.org', clientId: 'carevox' } });
try {
  await createServices(config, createLogger('silent'), { store, emrMapping: { providers: {}, appointmentTypes: {} } });
  console.log('services started');
} catch (err) {
  console.log(`createServices failed: ${err instanceof Error ? err.name : String(err)}`);
} finally {
  await store.close();
  await handle.destroy();
}
