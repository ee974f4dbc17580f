// Encoding: the tokenizer's output for one input (ids, tokens, offsets, word ids, type ids, masks,
// sequence ranges, overflowing chunks) with HF's truncate (stride windows), merge and pad rules,
// ported from tokenizers/src/tokenizer/encoding.rs. Not here: when truncation applies (tokenizer.ts).

import type { Offsets } from './normalized.ts';

export type Direction = 'left' | 'right';

/** Mutable encoding of one sequence or pair, as HF `tokenizers::Encoding`. */
export class Encoding {
  ids: number[] = [];
  typeIds: number[] = [];
  tokens: string[] = [];
  words: Array<number | null> = [];
  offsets: Offsets[] = [];
  specialTokensMask: number[] = [];
  attentionMask: number[] = [];
  overflowing: Encoding[] = [];
  /** sequence id → [start, end) token range. */
  sequenceRanges = new Map<number, [number, number]>();

  get length(): number {
    return this.ids.length;
  }

  clone(): Encoding {
    const e = new Encoding();
    e.ids = this.ids.slice();
    e.typeIds = this.typeIds.slice();
    e.tokens = this.tokens.slice();
    e.words = this.words.slice();
    e.offsets = this.offsets.map((o) => [o[0], o[1]]);
    e.specialTokensMask = this.specialTokensMask.slice();
    e.attentionMask = this.attentionMask.slice();
    e.overflowing = this.overflowing.map((o) => o.clone());
    e.sequenceRanges = new Map([...this.sequenceRanges].map(([k, v]) => [k, [v[0], v[1]]]));
    return e;
  }

  /** Tokens that are all special (added by a post-processor), e.g. [CLS]. */
  static special(ids: number[], tokens: string[], typeId: number): Encoding {
    const e = new Encoding();
    e.ids = ids.slice();
    e.tokens = tokens.slice();
    e.typeIds = ids.map(() => typeId);
    e.words = ids.map(() => null);
    e.offsets = ids.map(() => [0, 0]);
    e.specialTokensMask = ids.map(() => 1);
    e.attentionMask = ids.map(() => 1);
    return e;
  }

  setSequenceId(id: number): void {
    this.sequenceRanges.set(id, [0, this.length]);
  }

  /** 0/1/null per token: which input sequence it belongs to (null for special tokens). */
  sequenceIds(): Array<number | null> {
    const out: Array<number | null> = this.ids.map(() => null);
    const n = this.sequenceRanges.size === 0 ? 1 : this.sequenceRanges.size;
    for (let s = 0; s < n; s++) {
      const r = this.sequenceRanges.get(s) ?? [0, this.length];
      for (let i = r[0]; i < r[1]; i++) out[i] = s;
    }
    return out;
  }

  private part(start: number, stop: number): Encoding {
    const e = new Encoding();
    e.ids = this.ids.slice(start, stop);
    e.typeIds = this.typeIds.slice(start, stop);
    e.tokens = this.tokens.slice(start, stop);
    e.words = this.words.slice(start, stop);
    e.offsets = this.offsets.slice(start, stop);
    e.specialTokensMask = this.specialTokensMask.slice(start, stop);
    e.attentionMask = this.attentionMask.slice(start, stop);
    return e;
  }

  /** Keeps `maxLen` tokens; the rest become overflowing windows sharing `stride` tokens. */
  truncate(maxLen: number, stride: number, direction: Direction): void {
    const n = this.length;
    if (maxLen >= n) return;
    if (maxLen === 0) {
      const whole = this.clone();
      const empty = new Encoding();
      empty.overflowing = [whole];
      Object.assign(this, empty);
      return;
    }
    if (stride >= maxLen) {
      throw new RangeError(`stride (${stride}) must be strictly less than the truncated length (${maxLen}); the length already excludes special tokens`);
    }
    this.sequenceRanges.clear();
    const step = maxLen - stride;
    const ranges: Array<[number, number]> = [];
    if (direction === 'right') {
      for (let start = 0; start < n; start += step) {
        const stop = Math.min(start + maxLen, n);
        ranges.push([start, stop]);
        if (stop === n) break;
      }
    } else {
      for (let s = n - 1; s >= 0; s -= step) {
        const stop = s + 1;
        const start = Math.max(0, stop - maxLen);
        ranges.push([start, stop]);
        if (start === 0) break;
      }
    }
    const first = this.part(ranges[0]![0], ranges[0]![1]);
    first.overflowing = ranges.slice(1).map(([a, b]) => this.part(a, b));
    Object.assign(this, first);
  }

  /** Appends `pair` (HF `merge_with`), combining overflowing windows the way HF does. */
  mergeWith(pair: Encoding, growingOffsets: boolean): void {
    const overflowings: Encoding[] = [];
    for (const selfO of this.overflowing) {
      const a = selfO.clone();
      a.mergeWith(pair.clone(), growingOffsets);
      overflowings.push(a);
      for (const otherO of pair.overflowing) {
        const b = selfO.clone();
        b.mergeWith(otherO.clone(), growingOffsets);
        overflowings.push(b);
      }
    }
    for (const otherO of pair.overflowing) {
      const c = this.clone();
      c.overflowing = [];
      c.mergeWith(otherO.clone(), growingOffsets);
      overflowings.push(c);
    }
    const len = this.length;
    for (const [id, [s, e]] of pair.sequenceRanges) this.sequenceRanges.set(id, [len + s, len + e]);
    this.ids.push(...pair.ids);
    this.typeIds.push(...pair.typeIds);
    this.tokens.push(...pair.tokens);
    this.words.push(...pair.words);
    const shift = growingOffsets && this.offsets.length > 0 ? this.offsets[this.offsets.length - 1]![1] : 0;
    for (const [s, e] of pair.offsets) this.offsets.push([s + shift, e + shift]);
    this.specialTokensMask.push(...pair.specialTokensMask);
    this.attentionMask.push(...pair.attentionMask);
    this.overflowing = overflowings;
  }

  /** Concatenates encodings in order. */
  static merge(list: Encoding[], growingOffsets: boolean): Encoding {
    const out = new Encoding();
    for (const e of list) out.mergeWith(e, growingOffsets);
    return out;
  }

  /** Pads to `target` tokens (and pads every overflowing window too). */
  pad(target: number, padId: number, padTypeId: number, padToken: string, direction: Direction): void {
    for (const o of this.overflowing) o.pad(target, padId, padTypeId, padToken, direction);
    const k = target - this.length;
    if (k <= 0) return;
    const fill = <T>(v: T): T[] => new Array<T>(k).fill(v);
    if (direction === 'left') {
      this.ids = [...fill(padId), ...this.ids];
      this.typeIds = [...fill(padTypeId), ...this.typeIds];
      this.tokens = [...fill(padToken), ...this.tokens];
      this.words = [...fill<number | null>(null), ...this.words];
      this.attentionMask = [...fill(0), ...this.attentionMask];
      this.specialTokensMask = [...fill(1), ...this.specialTokensMask];
      this.offsets = [...Array.from({ length: k }, (): Offsets => [0, 0]), ...this.offsets];
      for (const [id, [s, e]] of this.sequenceRanges) this.sequenceRanges.set(id, [s + k, e + k]);
    } else {
      this.ids.push(...fill(padId));
      this.typeIds.push(...fill(padTypeId));
      this.tokens.push(...fill(padToken));
      this.words.push(...fill<number | null>(null));
      this.attentionMask.push(...fill(0));
      this.specialTokensMask.push(...fill(1));
      for (let i = 0; i < k; i++) this.offsets.push([0, 0]);
    }
  }
}
