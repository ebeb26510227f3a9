/**
 * `npm start`: load the config, build the services and serve. Exits with one clear line on a bad config.
 * SIGTERM/SIGINT drain the node (server.drain: new calls to the front desk, live calls get DRAIN_SECONDS,
 * then a hand-over), then everything is closed, each close bounded so a dead Redis or Postgres cannot hold
 * the process up; a second signal cuts the grace period short.
 */
import { pathToFileURL } from 'node:url';
import { ConfigError, loadConfig } from './config/index.js';
import { createLogger, describeError, type Logger } from './log.js';
import { buildServer } from './server.js';
import { createServices } from './services.js';

export async function run(_argv: string[] = []): Promise<number> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
  const logger = createLogger(config.log.level);
  const services = await createServices(config, logger);
  const server = await buildServer({ config, logger, ...services });
  await server.app.listen({ host: config.server.host, port: config.server.port });
  logger.info({ host: config.server.host, port: config.server.port }, 'carevox is ready to take calls');

  const cutShort = new AbortController();
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (cutShort.signal.aborted) return;
      if (stopping) {
        logger.info({ signal }, 'second signal: handing the remaining calls over now');
        cutShort.abort();
        return;
      }
      stopping = true;
      logger.info({ signal }, 'shutting down');
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.drain({ seconds: config.server.drainSeconds, signal: cutShort.signal });
  await closeWithin('http server', () => server.app.close(), CLOSE_BOUND_MS, logger);
  await closeWithin('services', () => services.close(), CLOSE_BOUND_MS, logger);
  return 0;
}

/** Each close step may take this long before shutdown moves on without it. */
const CLOSE_BOUND_MS = 10_000;

async function closeWithin(what: string, close: () => Promise<void>, ms: number, logger: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), ms); });
  try {
    const result = await Promise.race([close().then(() => 'closed' as const), gaveUp]);
    if (result === 'timeout') logger.warn({ what, ms }, 'shutdown: close did not finish in time; going on without it');
  } catch (err) {
    logger.warn({ what, error: describeError(err) }, 'shutdown: close failed; going on');
  } finally {
    clearTimeout(timer);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run().then((code) => {
    process.exitCode = code;
    // Last bound: whatever a library still holds open (a reconnect timer, a socket) does not keep a stopped
    // node alive; unref'd, so a clean shutdown exits at once.
    setTimeout(() => process.exit(code), 2000).unref();
  }, (err: unknown) => {
    console.error(`carevox: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
