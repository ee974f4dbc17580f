// Entity-level precision/recall/F1 for sequence labelling with seqeval's default (conlleval-compatible)
// semantics: chunks are read from IOB1/IOB2/IOE/IOBES tags by seqeval's start_of_chunk/end_of_chunk
// rules (an I- after O or after another type starts a chunk), an entity counts as correct only when
// type, start and end all match, and per-type, micro, macro and weighted averages follow
// seqeval's classification_report (zero_division = 0). Streaming: counts per type, sentence by sentence.
// Not here: seqeval's "strict" mode with an explicit scheme.

import { DataError } from '../errors.ts';
import { IGNORE_INDEX, type MetricValues, type StreamingMetric } from './types.ts';
import { prf } from './classification.ts';

/** One entity: its type and inclusive token span. */
export interface Chunk {
  type: string;
  start: number;
  end: number;
}

function endOfChunk(prevTag: string, tag: string, prevType: string, type: string): boolean {
  if (prevTag === 'E' || prevTag === 'S') return true;
  if (prevTag === 'B' && (tag === 'B' || tag === 'S' || tag === 'O')) return true;
  if (prevTag === 'I' && (tag === 'B' || tag === 'S' || tag === 'O')) return true;
  return prevTag !== 'O' && prevTag !== '.' && prevType !== type;
}

function startOfChunk(prevTag: string, tag: string, prevType: string, type: string): boolean {
  if (tag === 'B' || tag === 'S') return true;
  if (prevTag === 'E' && (tag === 'E' || tag === 'I')) return true;
  if (prevTag === 'S' && (tag === 'E' || tag === 'I')) return true;
  if (prevTag === 'O' && (tag === 'E' || tag === 'I')) return true;
  return tag !== 'O' && tag !== '.' && prevType !== type;
}

/**
 * seqeval's get_entities for one sequence: the chunks as (type, start, end), in order.
 * With `suffix`, tags are written TYPE-B instead of B-TYPE.
 *
 * @example
 * getEntities(['B-PER', 'I-PER', 'O', 'B-LOC']) // [{type:'PER',start:0,end:1}, {type:'LOC',start:3,end:3}]
 */
export function getEntities(seq: readonly string[], suffix = false): Chunk[] {
  let prevTag = 'O';
  let prevType = '';
  let begin = 0;
  const chunks: Chunk[] = [];
  const all = [...seq, 'O'];
  for (let i = 0; i < all.length; i++) {
    const chunk = all[i] as string;
    let tag: string;
    let type: string;
    if (suffix) {
      tag = chunk.slice(-1);
      const body = chunk.slice(0, -1);
      const cut = body.lastIndexOf('-');
      type = (cut >= 0 ? body.slice(0, cut) : body) || '_';
    } else {
      tag = chunk.slice(0, 1);
      const body = chunk.slice(1);
      const cut = body.indexOf('-');
      type = (cut >= 0 ? body.slice(cut + 1) : body) || '_';
    }
    if (endOfChunk(prevTag, tag, prevType, type)) chunks.push({ type: prevType, start: begin, end: i - 1 });
    if (startOfChunk(prevTag, tag, prevType, type)) begin = i;
    prevTag = tag;
    prevType = type;
  }
  return chunks;
}

/** Scores of one entity type. `number` = entities of this type in the references (HF evaluate's name). */
export interface EntityTypeScores {
  type: string;
  precision: number;
  recall: number;
  f1: number;
  number: number;
}

/**
 * Streaming entity-level metrics (seqeval default mode).
 *
 * @example
 * const m = new EntityMetrics();
 * m.update([['B-PER', 'I-PER', 'O']], [['B-PER', 'O', 'O']]);
 * m.compute(); // { precision: 0, recall: 0, f1: 0, accuracy: 0.667, ... }
 */
export class EntityMetrics implements StreamingMetric {
  private readonly counts = new Map<string, { tp: number; pred: number; true: number }>();
  private tokens = 0;
  private correctTokens = 0;

  constructor(readonly suffix = false) {}

  private bucket(type: string): { tp: number; pred: number; true: number } {
    let b = this.counts.get(type);
    if (b === undefined) this.counts.set(type, (b = { tp: 0, pred: 0, true: 0 }));
    return b;
  }

  /** Add sentences of reference and predicted tags (same lengths). */
  update(references: readonly (readonly string[])[], predictions: readonly (readonly string[])[]): void {
    if (references.length !== predictions.length) throw new DataError(`${references.length} reference sequences but ${predictions.length} predicted`);
    references.forEach((ref, s) => {
      const pred = predictions[s] as readonly string[];
      if (ref.length !== pred.length) throw new DataError(`sequence ${s}: ${ref.length} reference tags but ${pred.length} predicted`);
      for (let i = 0; i < ref.length; i++) {
        this.tokens++;
        if (ref[i] === pred[i]) this.correctTokens++;
      }
      const trueChunks = getEntities(ref, this.suffix);
      const predKeys = new Set(getEntities(pred, this.suffix).map((c) => `${c.type}\u0000${c.start}\u0000${c.end}`));
      for (const c of trueChunks) {
        const b = this.bucket(c.type);
        b.true++;
        if (predKeys.has(`${c.type}\u0000${c.start}\u0000${c.end}`)) b.tp++;
      }
      for (const key of predKeys) this.bucket(key.split('\u0000')[0] as string).pred++;
    });
  }

  /**
   * Add label ids as a token-classification model produces them: (B × T) row-major references and
   * predictions; positions whose reference is -100 (special tokens, later sub-tokens, padding) are
   * dropped first, as transformers' run_ner example does.
   */
  updateFromIds(references: ArrayLike<number>, predictions: ArrayLike<number>, seqLen: number, id2label: readonly string[]): void {
    if (references.length !== predictions.length || references.length % seqLen !== 0) {
      throw new DataError(`updateFromIds: ${references.length} references, ${predictions.length} predictions, seqLen ${seqLen}`);
    }
    const refs: string[][] = [];
    const preds: string[][] = [];
    for (let b = 0; b < references.length / seqLen; b++) {
      const r: string[] = [];
      const p: string[] = [];
      for (let t = 0; t < seqLen; t++) {
        const ref = references[b * seqLen + t] as number;
        if (ref === IGNORE_INDEX) continue;
        const pred = predictions[b * seqLen + t] as number;
        const rl = id2label[ref];
        const pl = id2label[pred];
        if (rl === undefined || pl === undefined) throw new DataError(`label id ${rl === undefined ? ref : pred} has no name (${id2label.length} labels)`);
        r.push(rl);
        p.push(pl);
      }
      refs.push(r);
      preds.push(p);
    }
    this.update(refs, preds);
  }

  /** Per-type scores, types sorted by name (as seqeval's report). */
  perType(): EntityTypeScores[] {
    return [...this.counts.keys()].sort().map((type) => {
      const c = this.counts.get(type) as { tp: number; pred: number; true: number };
      return { type, ...prf(c.tp, c.pred, c.true), number: c.true };
    });
  }

  /** precision/recall/f1 (micro), their _macro and _weighted averages, and token accuracy. */
  compute(): MetricValues {
    let tp = 0;
    let pred = 0;
    let tru = 0;
    for (const c of this.counts.values()) {
      tp += c.tp;
      pred += c.pred;
      tru += c.true;
    }
    const micro = prf(tp, pred, tru);
    const per = this.perType();
    const mean = (k: 'precision' | 'recall' | 'f1'): number => (per.length === 0 ? 0 : per.reduce((s, c) => s + c[k], 0) / per.length);
    const weighted = (k: 'precision' | 'recall' | 'f1'): number => (tru === 0 ? 0 : per.reduce((s, c) => s + c[k] * c.number, 0) / tru);
    return {
      precision: micro.precision,
      recall: micro.recall,
      f1: micro.f1,
      accuracy: this.tokens === 0 ? 0 : this.correctTokens / this.tokens,
      precision_macro: mean('precision'),
      recall_macro: mean('recall'),
      f1_macro: mean('f1'),
      precision_weighted: weighted('precision'),
      recall_weighted: weighted('recall'),
      f1_weighted: weighted('f1'),
    };
  }

  reset(): void {
    this.counts.clear();
    this.tokens = 0;
    this.correctTokens = 0;
  }
}
