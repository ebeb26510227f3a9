/**
 * `npm start`: load the config, build the services and serve. Exits with one clear line on a bad config.
 */
import { pathToFileURL } from 'node:url';
import { ConfigError, loadConfig } from './config/index.js';
import { createLogger } from './log.js';
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
  const { app } = await buildServer({ config, logger, ...services });
  await app.listen({ host: config.server.host, port: config.server.port });
  logger.info({ host: config.server.host, port: config.server.port }, 'carevox is ready to take calls');

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await app.close();
  await services.close();
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run().then((code) => { process.exitCode = code; }, (err: unknown) => {
    console.error(`carevox: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
