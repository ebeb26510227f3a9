/**
 * `npm start`: check the configuration, start the store, engines and server (src/startup.ts), serve until a
 * signal. A failed start prints one line (`carevox: <cause>`) on stderr and exits non-zero.
 * SIGTERM/SIGINT drain the node (server.drain: new calls to the front desk, live calls get DRAIN_SECONDS, then a
 * hand-over), then everything is closed, each close bounded so a dead Redis or Postgres cannot hold the process
 * up; a second signal cuts the grace period short.
 */
import { pathToFileURL } from 'node:url';
import { formatStartupFailure, startCarevox, startupExitCode, type RunningCarevox } from './startup.js';

/** After a failed start has closed what it started, the process should end by itself; if not, it is ended. */
const EXIT_AFTER_FAILED_START_MS = 5_000;
/** After a clean shutdown: whatever a library still holds open (a reconnect timer, a socket) does not keep a stopped node alive. */
const EXIT_AFTER_SHUTDOWN_MS = 2_000;

export async function run(_argv: string[] = []): Promise<number> {
  let running: RunningCarevox;
  try {
    running = await startCarevox();
  } catch (err) {
    console.error(formatStartupFailure(err));
    const code = startupExitCode(err);
    exitIfStillRunning(code, EXIT_AFTER_FAILED_START_MS, 'the failed start');
    return code;
  }
  const { config, logger, server } = running;
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
  await running.close();
  exitIfStillRunning(0, EXIT_AFTER_SHUTDOWN_MS, 'shutdown');
  return 0;
}

/**
 * A supervisor restarts a process that exits, not one that lingers: should anything outlive its close (a handle
 * this code does not know of), say what and exit anyway. The timer is unref'd, so it never delays a process that
 * ends on its own.
 */
function exitIfStillRunning(code: number, afterMs: number, what: string): void {
  setTimeout(() => {
    const open = [...new Set(process.getActiveResourcesInfo())].join(', ');
    console.error(`carevox: still running ${afterMs / 1000} s after ${what} (open: ${open}); exiting`);
    process.exit(code);
  }, afterMs).unref();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run().then((code) => { process.exitCode = code; }, (err: unknown) => {
    console.error(formatStartupFailure(err));
    process.exitCode = 1;
  });
}
