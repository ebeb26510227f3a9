#!/usr/bin/env node
/**
 * `carevox` command line. Each subcommand lives with the role it serves and exports
 * `run(argv: string[]): Promise<number>` (the exit code); this file only dispatches.
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> }> = {
  serve: { summary: 'run the voice server (same as npm start)', load: () => import('./main.js') },
  transcribe: { summary: 'transcribe audio files with the configured ASR engine: FILE...', load: () => import('./asr/cli.js') },
  models: { summary: 'manage speech models: list | pull NAME [--from ARCHIVE_OR_DIR] | verify NAME', load: () => import('./models/cli.js') },
  emr: { summary: 'OpenEMR setup: login | double (run the local OpenEMR double)', load: () => import('./emr/cli.js') },
  audit: { summary: 'audit log: verify [--json] (keyed chain and signed head; exit 1 when broken)', load: () => import('./store/audit-cli.js') },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name ? COMMANDS[name] : undefined;
  if (!command) {
    const lines = Object.entries(COMMANDS).map(([cmd, c]) => `  carevox ${cmd.padEnd(11)} ${c.summary}`);
    console.error(`usage:\n${lines.join('\n')}`);
    return name ? 2 : 0;
  }
  const mod = await command.load();
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => { console.error(`carevox: ${err instanceof Error ? err.message : String(err)}`); process.exitCode = 1; },
);
