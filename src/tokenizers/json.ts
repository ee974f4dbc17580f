// Typed access to parsed tokenizer JSON (tokenizer.json, tokenizer_config.json...): a Json type and
// small readers that throw FileFormatError naming the file and the field when a value is wrong.
// Not here: what the fields mean (each component's builder reads its own).

import { FileFormatError } from '../errors.ts';
import * as hfTokenizers from '@huggingface/tokenizers';

// The package's .d.ts re-exports omit file extensions, so under NodeNext resolution TypeScript
// cannot see SplitPreTokenizer; this is its actual shape (dist/tokenizers.mjs, v0.2.0).
type SplitCtor = new (config: { type: 'Split'; pattern: { Regex: string }; behavior: 'Isolated'; invert: boolean }) => { pattern: RegExp | null };
const SplitPreTokenizer = (hfTokenizers as unknown as { SplitPreTokenizer: SplitCtor }).SplitPreTokenizer;

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/** A JSON object. */
export type JsonObject = { [key: string]: Json };

/** Context for error messages: the file being read. */
export interface Ctx {
  file: string;
}

export function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function asObject(v: Json | undefined, ctx: Ctx, field: string): JsonObject {
  if (!isObject(v)) throw new FileFormatError(ctx.file, `field "${field}" must be an object`);
  return v;
}

export function getString(o: JsonObject, key: string, ctx: Ctx, where: string, dflt?: string): string {
  const v = o[key];
  if (v === undefined || v === null) {
    if (dflt !== undefined) return dflt;
    throw new FileFormatError(ctx.file, `${where}: missing string field "${key}"`);
  }
  if (typeof v !== 'string') throw new FileFormatError(ctx.file, `${where}: field "${key}" must be a string`);
  return v;
}

export function getOptString(o: JsonObject, key: string, ctx: Ctx, where: string): string | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new FileFormatError(ctx.file, `${where}: field "${key}" must be a string or null`);
  return v;
}

export function getBool(o: JsonObject, key: string, ctx: Ctx, where: string, dflt: boolean): boolean {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw new FileFormatError(ctx.file, `${where}: field "${key}" must be true or false`);
  return v;
}

export function getNumber(o: JsonObject, key: string, ctx: Ctx, where: string, dflt?: number): number {
  const v = o[key];
  if (v === undefined || v === null) {
    if (dflt !== undefined) return dflt;
    throw new FileFormatError(ctx.file, `${where}: missing number field "${key}"`);
  }
  if (typeof v !== 'number') throw new FileFormatError(ctx.file, `${where}: field "${key}" must be a number`);
  return v;
}

export function getArray(o: JsonObject, key: string, ctx: Ctx, where: string): Json[] {
  const v = o[key];
  if (!Array.isArray(v)) throw new FileFormatError(ctx.file, `${where}: field "${key}" must be an array`);
  return v;
}

/** A `{"String": s}` or `{"Regex": r}` pattern compiled to a global Unicode RegExp. Oniguruma
 *  syntax is translated by @huggingface/tokenizers' translator (the part of it we reuse). */
export function compilePattern(v: Json | undefined, ctx: Ctx, where: string): RegExp | { literal: string } {
  if (!isObject(v)) throw new FileFormatError(ctx.file, `${where}: "pattern" must be {"String": ...} or {"Regex": ...}`);
  if (typeof v.String === 'string') return { literal: v.String };
  if (typeof v.Regex === 'string') {
    let re: RegExp | null;
    try {
      re = new SplitPreTokenizer({ type: 'Split', pattern: { Regex: v.Regex }, behavior: 'Isolated', invert: false }).pattern;
    } catch (e) {
      throw new FileFormatError(ctx.file, `${where}: regex ${JSON.stringify(v.Regex)} cannot be used in JavaScript`, undefined, { cause: e });
    }
    if (re === null) throw new FileFormatError(ctx.file, `${where}: regex ${JSON.stringify(v.Regex)} could not be compiled`);
    return re;
  }
  throw new FileFormatError(ctx.file, `${where}: "pattern" must be {"String": ...} or {"Regex": ...}`);
}
