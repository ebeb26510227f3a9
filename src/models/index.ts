/**
 * Speech model management: the pinned manifest, resumable downloads, install from archive or directory,
 * and verification against each model's bundled recordings. Entry point of `carevox models`.
 */
export {
  DEFAULT_MANIFEST_PATH, loadManifest, manifestOf, missingModelFiles, modelDirectory, ManifestError, UnknownModelError,
  type Manifest, type ModelEntry,
} from './manifest.js';
export {
  downloadWithResume, formatProgress, sha256File, DownloadError,
  type DownloadOptions, type DownloadProgress, type DownloadResult,
} from './download.js';
export {
  extractArchive, installModel, ChecksumMismatchError, ModelInstallError, UnverifiedArchiveError,
  type InstallOptions, type InstallResult,
} from './install.js';
export {
  formatVerifyReport, normalizeWords, verifyModel, wordErrorRate, DEFAULT_MAX_WER, type VerifyCaseResult, type VerifyReport,
} from './verify.js';
export { run } from './cli.js';
