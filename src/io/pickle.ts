// A restricted pickle reader: the opcodes `torch.load(weights_only=True)` accepts (torch
// _weights_only_unpickler.py) plus protocol-4 data-only ones (FRAME, MEMOIZE, SHORT_BINUNICODE,
// BINBYTES, BINFLOAT). It never imports or calls anything itself: GLOBAL/STACK_GLOBAL, REDUCE,
// NEWOBJ, BUILD and persistent ids go to the caller's hooks, which allow or refuse them. Every
// length and index is bounds-checked. Not here: what torch's globals mean (torch-bin.ts).

import { FileFormatError } from '../errors.ts';

/** A tuple (kept apart from lists: pickles distinguish them). */
export class PTuple {
  constructor(readonly items: PValue[]) {}
}
/** A dict; `ordered` when it came from collections.OrderedDict. Keys are primitive values. */
export class PDict {
  readonly map = new Map<PValue, PValue>();
  constructor(readonly ordered = false) {}
}
/** A set (EMPTY_SET); nothing can add to it (ADDITEMS is refused). */
export class PSet {}
/** A global the hooks allowed, e.g. collections.OrderedDict; only a name until a hook gives it meaning. */
export class PGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get fullName(): string {
    return `${this.module}.${this.name}`;
  }
}
/** Base of objects the hooks build (tensors, storages). */
export abstract class PObject {}

export type PValue = null | boolean | number | bigint | string | Uint8Array | PValue[] | PTuple | PDict | PSet | PGlobal | PObject;

/** Where the caller decides: every hook may throw a refusal. */
export interface PickleHooks {
  /** GLOBAL / STACK_GLOBAL: return the allowed global, or throw naming it. */
  global(module: string, name: string, at: number): PGlobal;
  /** REDUCE: call an allowed global with its argument tuple. */
  reduce(fn: PValue, args: PValue, at: number): PValue;
  /** NEWOBJ: instantiate an allowed class. */
  newobj(cls: PValue, args: PValue, at: number): PValue;
  /** BUILD: set the state of an object (OrderedDict attributes, tensors). */
  build(inst: PValue, state: PValue, at: number): void;
  /** BINPERSID: resolve a persistent id (a torch storage). */
  persistentLoad(pid: PValue, at: number): PValue;
}

const OPCODE_NAMES: Record<number, string> = {
  0x69: 'INST', 0x6f: 'OBJ', 0x92: 'NEWOBJ_EX', 0x50: 'PERSID', 0x53: 'STRING', 0x56: 'UNICODE', 0x49: 'INT',
  0x4c: 'LONG', 0x46: 'FLOAT', 0x8b: 'LONG4', 0x54: 'BINSTRING', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8',
  0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x67: 'GET', 0x70: 'PUT',
  0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x6c: 'LIST', 0x64: 'DICT', 0x96: 'BYTEARRAY8',
  0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

/** Limits that keep hostile input from exhausting memory. */
const MAX_MARK_DEPTH = 10_000;
const MAX_MEMO = 50_000_000;
const MAX_NAME = 512;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** One pickle in `buf` starting at `start`; returns the value and where the STOP opcode ended. */
export function unpickle(buf: Uint8Array, start: number, file: string, hooks: PickleHooks): { value: PValue; end: number } {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let p = start;
  let stack: PValue[] = [];
  const marks: PValue[][] = [];
  const memo = new Map<number, PValue>();
  const fail = (at: number, msg: string): never => {
    throw new FileFormatError(file, `pickle byte ${at}: ${msg}`);
  };
  const need = (n: number, at: number): void => {
    if (n < 0 || p + n > buf.length) fail(at, `truncated: needs ${n} more bytes, ${buf.length - p} left`);
  };
  const pop = (at: number): PValue => {
    if (stack.length === 0) fail(at, 'stack underflow (malformed pickle)');
    return stack.pop()!;
  };
  const top = (at: number): PValue => {
    if (stack.length === 0) fail(at, 'stack underflow (malformed pickle)');
    return stack[stack.length - 1]!;
  };
  const popMark = (at: number): PValue[] => {
    const items = stack;
    const prev = marks.pop();
    if (prev === undefined) fail(at, 'no MARK to pop to (malformed pickle)');
    stack = prev!;
    return items;
  };
  const line = (at: number): string => {
    let q = p;
    while (q < buf.length && buf[q] !== 0x0a && q - p <= MAX_NAME) q++;
    if (q >= buf.length || buf[q] !== 0x0a) fail(at, `GLOBAL name longer than ${MAX_NAME} bytes or unterminated`);
    const s = utf8.decode(buf.subarray(p, q));
    p = q + 1;
    return s;
  };
  const str = (n: number, at: number): string => {
    need(n, at);
    let s: string;
    try {
      s = utf8.decode(buf.subarray(p, p + n));
    } catch {
      return fail(at, 'string is not valid UTF-8');
    }
    p += n;
    return s;
  };
  const bytes = (n: number, at: number): Uint8Array => {
    need(n, at);
    const b = buf.subarray(p, p + n);
    p += n;
    return b;
  };
  const put = (i: number, at: number): void => {
    if (memo.size >= MAX_MEMO && !memo.has(i)) fail(at, 'memo too large');
    memo.set(i, top(at));
  };
  const get = (i: number, at: number): void => {
    if (!memo.has(i)) fail(at, `memo entry ${i} was never stored`);
    stack.push(memo.get(i)!);
  };
  const setItem = (d: PValue, k: PValue, v: PValue, at: number): void => {
    if (!(d instanceof PDict)) fail(at, 'SETITEM(S) on something that is not a dict');
    if (k !== null && typeof k === 'object') fail(at, 'dict keys must be strings or numbers');
    (d as PDict).map.set(k, v);
  };

  for (;;) {
    const at = p;
    need(1, at);
    const op = buf[p++]!;
    switch (op) {
      case 0x80: // PROTO
        need(1, at);
        if (buf[p]! > 5) fail(at, `pickle protocol ${buf[p]} is not supported`);
        p += 1;
        break;
      case 0x95: // FRAME (protocol 4: a length hint only)
        need(8, at);
        p += 8;
        break;
      case 0x2e: // STOP
        return { value: pop(at), end: p };
      case 0x28: // MARK
        if (marks.length >= MAX_MARK_DEPTH) fail(at, `nesting deeper than ${MAX_MARK_DEPTH} MARKs`);
        marks.push(stack);
        stack = [];
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PTuple([]));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new PDict());
        break;
      case 0x8f: // EMPTY_SET
        stack.push(new PSet());
        break;
      case 0x4a: // BININT
        need(4, at);
        stack.push(view.getInt32(p, true));
        p += 4;
        break;
      case 0x4b: // BININT1
        need(1, at);
        stack.push(buf[p++]!);
        break;
      case 0x4d: // BININT2
        need(2, at);
        stack.push(view.getUint16(p, true));
        p += 2;
        break;
      case 0x8a: {
        // LONG1: little-endian two's complement of n <= 255 bytes
        need(1, at);
        const n = buf[p++]!;
        const b = bytes(n, at);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
        if (n > 0 && b[n - 1]! >= 0x80) v -= 1n << BigInt(8 * n);
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        need(8, at);
        stack.push(view.getFloat64(p, false));
        p += 8;
        break;
      case 0x58: {
        // BINUNICODE
        need(4, at);
        const n = view.getUint32(p, true);
        p += 4;
        stack.push(str(n, at));
        break;
      }
      case 0x8c: // SHORT_BINUNICODE
        need(1, at);
        stack.push(str(buf[p++]!, at));
        break;
      case 0x55: // SHORT_BINSTRING (py2 str; torch reads it as bytes → we decode ASCII/UTF-8 keys)
        need(1, at);
        stack.push(str(buf[p++]!, at));
        break;
      case 0x42: {
        // BINBYTES
        need(4, at);
        const n = view.getUint32(p, true);
        p += 4;
        stack.push(bytes(n, at));
        break;
      }
      case 0x43: // SHORT_BINBYTES
        need(1, at);
        stack.push(bytes(buf[p++]!, at));
        break;
      case 0x74: {
        // TUPLE (popMark swaps `stack`: take the items before pushing)
        const items = popMark(at);
        stack.push(new PTuple(items));
        break;
      }
      case 0x85: // TUPLE1
        stack.push(new PTuple([pop(at)]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop(at);
        stack.push(new PTuple([pop(at), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop(at);
        const b = pop(at);
        stack.push(new PTuple([pop(at), b, c]));
        break;
      }
      case 0x61: {
        // APPEND
        const item = pop(at);
        const list = top(at);
        if (!Array.isArray(list)) fail(at, 'APPEND to something that is not a list');
        (list as PValue[]).push(item);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark(at);
        const list = top(at);
        if (!Array.isArray(list)) fail(at, 'APPENDS to something that is not a list');
        for (const x of items) (list as PValue[]).push(x);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop(at);
        const k = pop(at);
        setItem(top(at), k, v, at);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark(at);
        if (items.length % 2 !== 0) fail(at, 'SETITEMS with an odd number of items');
        const d = top(at);
        for (let i = 0; i < items.length; i += 2) setItem(d, items[i]!, items[i + 1]!, at);
        break;
      }
      case 0x68: // BINGET
        need(1, at);
        get(buf[p++]!, at);
        break;
      case 0x6a: // LONG_BINGET
        need(4, at);
        get(view.getUint32(p, true), at);
        p += 4;
        break;
      case 0x71: // BINPUT
        need(1, at);
        put(buf[p++]!, at);
        break;
      case 0x72: // LONG_BINPUT
        need(4, at);
        put(view.getUint32(p, true), at);
        p += 4;
        break;
      case 0x94: // MEMOIZE
        put(memo.size, at);
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line(at);
        const name = line(at);
        stack.push(hooks.global(module, name, at));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop(at);
        const module = pop(at);
        if (typeof module !== 'string' || typeof name !== 'string') fail(at, 'STACK_GLOBAL needs two strings');
        stack.push(hooks.global(module as string, name as string, at));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop(at);
        const fn = pop(at);
        stack.push(hooks.reduce(fn, args, at));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop(at);
        const cls = pop(at);
        stack.push(hooks.newobj(cls, args, at));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop(at);
        hooks.build(top(at), state, at);
        break;
      }
      case 0x51: // BINPERSID
        stack.push(hooks.persistentLoad(pop(at), at));
        break;
      default:
        fail(at, `opcode ${OPCODE_NAMES[op] ?? `0x${op.toString(16).padStart(2, '0')}`} is not allowed (only what rebuilds tensors and state dicts is)`);
    }
  }
}

/** A short description of a value for error messages (never recursive). */
export function describe(v: PValue): string {
  if (v === null) return 'None';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? v.slice(0, 60) + '…' : v);
  if (typeof v !== 'object') return String(v);
  if (v instanceof Uint8Array) return `bytes[${v.length}]`;
  if (Array.isArray(v)) return `list[${v.length}]`;
  if (v instanceof PTuple) return `tuple[${v.items.length}]`;
  if (v instanceof PDict) return v.ordered ? 'OrderedDict' : 'dict';
  if (v instanceof PGlobal) return v.fullName;
  if (v instanceof PSet) return 'set';
  return v.constructor.name;
}
