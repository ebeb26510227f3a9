/**
 * Starts a worker thread from a module beside the caller. In a build the worker is the compiled `.js`; under
 * tsx (tests, `npm start`) it is the `.ts` source, which a worker can only load once tsx's loader is
 * registered inside that worker, so a one-line boot script registers it first.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** `moduleUrl`: the worker module's URL with a `.js` extension, e.g. `new URL('./x-worker.js', import.meta.url)`. */
export function startModuleWorker(moduleUrl: URL, workerData: unknown): Worker {
  const source = fileURLToPath(import.meta.url);
  if (!source.endsWith('.ts')) return new Worker(moduleUrl, { workerData });
  const entry = moduleUrl.href.replace(/\.js$/, '.ts');
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsxApi)}).then((api) => { api.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { eval: true, workerData });
}
