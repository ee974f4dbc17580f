// The model shapes `npm run bench` trains (BERT-base down to bert-tiny at T=128), the analytic FLOP
// count of one training step, and the deterministic batch both sides (finetune and PyTorch) train on.
// Shared by bench/train.ts (the driver) and bench/train-finetune.ts (the finetune worker).
// Not here: timing, printing, or anything that touches a model.

/** One benchmark configuration: a BERT encoder shape and its batch. */
export interface BenchConfig {
  /** Short name used on the command line (`--models small,tiny`). */
  key: string;
  label: string;
  layers: number;
  hidden: number;
  heads: number;
  intermediate: number;
  batch: number;
  seqLen: number;
  vocab: number;
}

const VOCAB = 30522; // BERT's uncased WordPiece vocabulary (google/bert_uncased_L-*, MiniLM use it too)
const T = 128;

/** Every configuration, largest first. BERT-base only runs with --all or --models base. */
export const CONFIGS: readonly BenchConfig[] = [
  { key: 'base', label: 'BERT-base L12 H768', layers: 12, hidden: 768, heads: 12, intermediate: 3072, batch: 8, seqLen: T, vocab: VOCAB },
  { key: 'small', label: 'bert-small L4 H512', layers: 4, hidden: 512, heads: 8, intermediate: 2048, batch: 32, seqLen: T, vocab: VOCAB },
  { key: 'minilm', label: 'MiniLM-like L6 H384', layers: 6, hidden: 384, heads: 12, intermediate: 1536, batch: 32, seqLen: T, vocab: VOCAB },
  { key: 'mini', label: 'bert-mini L4 H256', layers: 4, hidden: 256, heads: 4, intermediate: 1024, batch: 32, seqLen: T, vocab: VOCAB },
  { key: 'tiny', label: 'bert-tiny L2 H128', layers: 2, hidden: 128, heads: 2, intermediate: 512, batch: 32, seqLen: T, vocab: VOCAB },
];

export const NUM_LABELS = 2;
export const DROPOUT = 0.1;
export const LEARNING_RATE = 2e-5;
export const WEIGHT_DECAY = 0.01;
export const MAX_GRAD_NORM = 1.0;

/** config.json fields (transformers' spelling) of a configuration. */
export function hfFields(c: BenchConfig): Record<string, number | string> {
  return {
    vocab_size: c.vocab,
    hidden_size: c.hidden,
    num_hidden_layers: c.layers,
    num_attention_heads: c.heads,
    intermediate_size: c.intermediate,
    max_position_embeddings: 512,
    type_vocab_size: 2,
    hidden_act: 'gelu',
    hidden_dropout_prob: DROPOUT,
    attention_probs_dropout_prob: DROPOUT,
    layer_norm_eps: 1e-12,
    initializer_range: 0.02,
    num_labels: NUM_LABELS,
  };
}

/**
 * Multiply-add FLOPs (2 per FMA) of one forward pass: the encoder's matrix products (Q, K, V, attention
 * output, FFN up and down), the attention score and context products, pooler and classifier.
 * Elementwise work (softmax, GELU, LayerNorm, dropout) is not counted: it is memory traffic.
 */
export function forwardFlops(c: BenchConfig, seqLen = c.seqLen, batch = c.batch): number {
  const rows = batch * seqLen;
  const C = c.hidden;
  const perLayerLinear = 2 * rows * (4 * C * C + 2 * C * c.intermediate);
  const perLayerAttention = 2 * 2 * batch * seqLen * seqLen * C; // QK^T and PV over all heads
  const head = 2 * batch * C * C + 2 * batch * C * NUM_LABELS;
  return c.layers * (perLayerLinear + perLayerAttention) + head;
}

/** One training step = forward + backward (twice the forward's products: input and weight gradients). */
export function trainFlops(c: BenchConfig, seqLen = c.seqLen, batch = c.batch): number {
  return 3 * forwardFlops(c, seqLen, batch);
}

/** Parameter count of BertForSequenceClassification with this shape. */
export function parameterCount(c: BenchConfig): number {
  const C = c.hidden;
  const emb = (c.vocab + 512 + 2) * C + 2 * C;
  const layer = 4 * (C * C + C) + 2 * C + (C * c.intermediate + c.intermediate) + (c.intermediate * C + C) + 2 * C;
  return emb + c.layers * layer + (C * C + C) + (C * NUM_LABELS + NUM_LABELS);
}

/** A deterministic LCG in [0, 1), so the batch is the same on every run and for both sides. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** The benchmark batch: [CLS] random word pieces [SEP], every position real (T tokens), random labels. */
export function makeBatch(c: BenchConfig, seed = 1234): { inputIds: Int32Array; attentionMask: Int32Array; tokenTypeIds: Int32Array; labels: Int32Array } {
  const { batch: B, seqLen: Tn } = c;
  const r = lcg(seed);
  const inputIds = new Int32Array(B * Tn);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < Tn; t++) inputIds[b * Tn + t] = t === 0 ? 101 : t === Tn - 1 ? 102 : 1000 + Math.floor(r() * (c.vocab - 1000));
  }
  const labels = Int32Array.from({ length: B }, () => (r() < 0.5 ? 0 : 1));
  return { inputIds, attentionMask: new Int32Array(B * Tn).fill(1), tokenTypeIds: new Int32Array(B * Tn), labels };
}

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
