/**
 * Typed TTS failures. Every one extends `TtsError` (src/tts/types.ts), so a caller can catch the family and
 * still tell what went wrong. Messages never contain the text being spoken (it can hold patient data).
 */
import { TtsError } from './types.js';

/** Why a synthesis request failed, so the fallback and metrics can tell faults apart. */
export type TtsFaultKind =
  /** The provider answered with an HTTP error status (auth, quota, validation, server error). */
  | 'http-status'
  /** No response headers within the request timeout. */
  | 'timeout'
  /** The audio stream stopped delivering bytes for longer than the stall timeout. */
  | 'stall'
  /** The provider answered 2xx but with something that is not the audio asked for. */
  | 'bad-audio'
  /** Connection refused/reset, DNS, TLS: the request never got a proper answer. */
  | 'network'
  /** A local engine failed while generating. */
  | 'synthesis';

export class TtsFaultError extends TtsError {
  constructor(
    engine: string,
    readonly kind: TtsFaultKind,
    message: string,
    options: { cause?: unknown; status?: number; providerCode?: string } = {},
  ) {
    super(engine, message, { cause: options.cause });
    this.name = 'TtsFaultError';
    this.status = options.status;
    this.providerCode = options.providerCode;
  }
  /** HTTP status when `kind` is 'http-status'. */
  readonly status: number | undefined;
  /** The provider's own error code (e.g. OpenAI `invalid_api_key`, ElevenLabs `detail.status`). */
  readonly providerCode: string | undefined;
}

/**
 * A configured local engine's model files are absent. Raised at start-up (never on the call path), with one
 * line naming the files and the command that installs them (same shape as the ASR's ModelMissingError).
 */
export class TtsModelMissingError extends TtsError {
  readonly installCommand: string;
  constructor(engine: string, readonly modelName: string, readonly modelDir: string, readonly missingFiles: string[]) {
    super(engine, `model ${modelName} is not installed: missing ${missingFiles.join(', ')} in ${modelDir}; `
      + `install it with \`carevox models pull ${modelName}\``);
    this.name = 'TtsModelMissingError';
    this.installCommand = `carevox models pull ${modelName}`;
  }
}

/** Model files exist but cannot be loaded (truncated download, wrong file, not ONNX, bad tokens). */
export class TtsModelInvalidError extends TtsError {
  readonly installCommand: string;
  constructor(engine: string, readonly modelName: string, readonly modelDir: string, readonly file: string, readonly detail: string) {
    super(engine, `model ${modelName} in ${modelDir} cannot be loaded (${file}: ${detail}); `
      + `reinstall it with \`carevox models pull ${modelName}\``);
    this.name = 'TtsModelInvalidError';
    this.installCommand = `carevox models pull ${modelName}`;
  }
}
