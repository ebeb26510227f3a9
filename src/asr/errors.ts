/**
 * Typed ASR failures raised while an engine is being set up. Per-utterance failures travel as `error`
 * events on the stream instead (a bad turn never throws out of a call).
 */
import { AsrError } from './types.js';

/** Model files an engine needs are not on disk. The message is one line naming them and the install command. */
export class ModelMissingError extends AsrError {
  constructor(
    engine: string,
    readonly modelName: string,
    readonly modelDir: string,
    readonly missingFiles: string[],
  ) {
    super(engine, `model ${modelName} is not installed: missing ${missingFiles.join(', ')} in ${modelDir}; `
      + `install it with \`carevox models pull ${modelName}\``);
    this.name = 'ModelMissingError';
  }
}

/** Model files exist but the runtime cannot load them (truncated download, wrong file, corrupt protobuf). */
export class ModelInvalidError extends AsrError {
  constructor(
    engine: string,
    readonly modelName: string,
    readonly modelDir: string,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(engine, `model ${modelName} in ${modelDir} cannot be loaded (${detail}); `
      + `reinstall it with \`carevox models pull ${modelName}\``, options);
    this.name = 'ModelInvalidError';
  }
}

/** Engine settings that cannot work (no API key, bad URL). */
export class AsrConfigError extends AsrError {
  constructor(engine: string, message: string) {
    super(engine, message);
    this.name = 'AsrConfigError';
  }
}
