// Typed errors for finetune. Every error a user can cause names what was wrong and where
// (the op and shapes, the file and line, the config key), so the message alone says what to fix.
// Not here: logging or exit codes; the CLI maps these to messages and a non-zero exit.

/** Base class: every error finetune throws on purpose extends this. */
export class FinetuneError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A tensor op got shapes, dtypes or values it cannot work with. Names the op and the shapes. */
export class ShapeError extends FinetuneError {}

/** A tensor op got a dtype it does not support. */
export class DTypeError extends FinetuneError {}

/** A tensor (or its buffer) was used after it was disposed. */
export class DisposedError extends FinetuneError {}

/** Autograd was asked for something it cannot do (backward through a no-grad result, ...). */
export class AutogradError extends FinetuneError {}

/** A file could not be read or is malformed. Names the file and, where known, the line or field. */
export class FileFormatError extends FinetuneError {
  constructor(
    readonly file: string,
    detail: string,
    readonly line?: number,
    options?: { cause?: unknown },
  ) {
    super(line === undefined ? `${file}: ${detail}` : `${file}:${line}: ${detail}`, options);
  }
}

/** A configuration key or value is invalid. Names the key. */
export class ConfigError extends FinetuneError {
  constructor(
    readonly key: string,
    detail: string,
  ) {
    super(`config "${key}": ${detail}`);
  }
}

/** Dataset content is unusable (missing column, unknown label, empty split...). */
export class DataError extends FinetuneError {}

/** A model checkpoint or folder does not fit what was asked of it. */
export class ModelError extends FinetuneError {}

/** Ranks of a data-parallel run could not meet or talk (rendezvous timeout, a dead peer). */
export class DistributedError extends FinetuneError {}
