// Validation helpers for pipeline inputs and parameters arriving as untyped JSON: each check names the
// field and says what was expected, so a 400 answer tells the caller exactly what to fix.
// Not here: any task's rules (tasks/*.ts).

import { PipelineInputError, type PipelineContext } from './types.ts';

export type JsonRecord = Record<string, unknown>;

/** How a JSON value reads in an error message ("a string", "number 3", "null", ...). */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? 'a string' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

export function isRecord(v: unknown): v is JsonRecord {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A non-empty string within the context's length limit. */
export function parseText(v: unknown, field: string, ctx: PipelineContext, allowEmpty = false): string {
  if (typeof v !== 'string') throw new PipelineInputError(field, `expected a string, got ${describeValue(v)}`);
  if (!allowEmpty && v.trim() === '') throw new PipelineInputError(field, 'the text is empty');
  if (v.length > ctx.maxTextLength) {
    throw new PipelineInputError(field, `the text has ${v.length} characters; the limit is ${ctx.maxTextLength} (split it, or raise the server's text-length limit)`);
  }
  return v;
}

/** An object whose keys are all in `allowed` (`required` ones must be present). */
export function parseObject(v: unknown, field: string, allowed: readonly string[], required: readonly string[] = []): JsonRecord {
  if (!isRecord(v)) throw new PipelineInputError(field, `expected an object with ${allowed.map((k) => `"${k}"`).join(', ')}, got ${describeValue(v)}`);
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) throw new PipelineInputError(`${field}.${k}`, `unknown field; allowed: ${allowed.join(', ')}`);
  }
  for (const k of required) if (v[k] === undefined) throw new PipelineInputError(`${field}.${k}`, 'is required');
  return v;
}

/** The parameters object (undefined/null → {}), keys limited to `allowed`. */
export function parseParamsObject(v: unknown, allowed: readonly string[]): JsonRecord {
  if (v === undefined || v === null) return {};
  if (!isRecord(v)) throw new PipelineInputError('parameters', `expected an object, got ${describeValue(v)}`);
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) {
      throw new PipelineInputError(`parameters.${k}`, allowed.length > 0 ? `unknown parameter; this task takes ${allowed.join(', ')}` : 'unknown parameter; this task takes none');
    }
  }
  return v;
}

/** An integer in [min, max], or `dflt` when absent. */
export function optInt(o: JsonRecord, key: string, dflt: number, min: number, max: number): number {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new PipelineInputError(`parameters.${key}`, `expected an integer from ${min} to ${max}, got ${describeValue(v)}`);
  }
  return v;
}

export function optBool(o: JsonRecord, key: string, dflt: boolean): boolean {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw new PipelineInputError(`parameters.${key}`, `expected true or false, got ${describeValue(v)}`);
  return v;
}

export function optEnum<T extends string>(o: JsonRecord, key: string, values: readonly T[], dflt: T): T {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v.toLowerCase())) {
    throw new PipelineInputError(`parameters.${key}`, `expected one of ${values.join(', ')}, got ${describeValue(v)}`);
  }
  return v.toLowerCase() as T;
}

export function optStringList(o: JsonRecord, key: string, dflt: string[]): string[] {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
    throw new PipelineInputError(`parameters.${key}`, `expected a list of strings, got ${describeValue(v)}`);
  }
  return v as string[];
}

/**
 * A finite number in a range, or undefined when absent. `min`/`max` bound it; `minExclusive` makes the
 * lower bound strict (e.g. temperature > 0).
 */
export function optNumber(o: JsonRecord, key: string, range: { min: number; max: number; minExclusive?: boolean }): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  const inRange = typeof v === 'number' && Number.isFinite(v) && (range.minExclusive ? v > range.min : v >= range.min) && v <= range.max;
  if (!inRange) {
    const bounds = range.minExclusive ? `greater than ${range.min} and at most ${range.max}` : `from ${range.min} to ${range.max}`;
    throw new PipelineInputError(`parameters.${key}`, `expected a number ${bounds}, got ${describeValue(v)}`);
  }
  return v as number;
}

/** A string or a list of strings (each non-empty, at most `maxCount` of at most `maxChars`), as a list; [] when absent. */
export function optStrings(o: JsonRecord, key: string, limits: { maxCount: number; maxChars: number }): string[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) {
    throw new PipelineInputError(`parameters.${key}`, `expected a string or a list of strings, got ${describeValue(v)}`);
  }
  if (list.length > limits.maxCount) throw new PipelineInputError(`parameters.${key}`, `${list.length} strings; the limit is ${limits.maxCount}`);
  list.forEach((s: string, i) => {
    const field = typeof v === 'string' ? `parameters.${key}` : `parameters.${key}[${i}]`;
    if (s === '') throw new PipelineInputError(field, 'the string is empty; every stop string needs at least one character');
    if (s.length > limits.maxChars) throw new PipelineInputError(field, `the string has ${s.length} characters; the limit is ${limits.maxChars}`);
  });
  return list as string[];
}
