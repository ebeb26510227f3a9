/**
 * `npm start`: check the configuration, start the store, engines and server (src/startup.ts), serve until a
 * signal. A failed start prints one line (`carevox: <cause>`) on stderr and exits non-zero.
 */
import { pathToFileURL } from 'node:url';
import { formatStartupFailure, startCarevox, startupExitCode, type RunningCarevox } from './startup.js';

/** After a failed start has closed what it started, the process should end by itself; if not, it is ended. */
const EXIT_AFTER_FAILED_START_MS = 5_000;

export async function run(_argv: string[] = []): Promise<number> {
  let running: RunningCarevox;
  try {
    running = await startCarevox();
  } catch (err) {
    console.error(formatStartupFailure(err));
    const code = startupExitCode(err);
    exitIfStillRunning(code);
    return code;
  }
  const { config, logger } = running;
  logger.info({ host: config.server.host, port: config.server.port }, 'carevox is ready to take calls');

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await running.close();
  return 0;
}

/**
 * A supervisor restarts a process that exits, not one that lingers: should anything start-up opened outlive
 * its close (a handle this code does not know of), say what and exit anyway. The timer is unref'd, so it never
 * delays a process that ends on its own.
 */
function exitIfStillRunning(code: number): void {
  setTimeout(() => {
    const open = [...new Set(process.getActiveResourcesInfo())].join(', ');
    console.error(`carevox: still running ${EXIT_AFTER_FAILED_START_MS / 1000} s after the failed start (open: ${open}); exiting`);
    process.exit(code);
  }, EXIT_AFTER_FAILED_START_MS).unref();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run().then((code) => { process.exitCode = code; }, (err: unknown) => {
    console.error(formatStartupFailure(err));
    process.exitCode = 1;
  });
}
