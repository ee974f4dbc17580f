// ONNX graphs of the encoder families (BERT, RoBERTa, DistilBERT) with their task heads, built from
// a checkpoint's tensors and config the way transformers computes them in eval mode (no dropout):
// embeddings → N post-LN layers → head. Inputs and outputs are named as Optimum exports them, so
// transformers.js and ONNX Runtime users feed input_ids / attention_mask (/ token_type_ids, BERT).
// Not here: protobuf bytes (onnx-proto.ts), files and folders (onnx.ts).

import { ModelError } from '../errors.ts';
import type { HfConfig } from '../models/hf-config.ts';
import { toFloat32, type SafetensorsEntry } from '../io/safetensors.ts';
import { FLOAT32_MIN, GraphBuilder } from './onnx-graph.ts';
import { buildDebertaGraph } from './onnx-deberta.ts';
import { buildDecoderGraph } from './onnx-decoders.ts';
import { buildModernBertGraph } from './onnx-modernbert.ts';
import { OnnxDataType, type OnnxGraph, type OnnxValueInfo } from './onnx-proto.ts';

/** Which head the graph ends in. */
export type EncoderHead = 'sequence-classification' | 'token-classification' | 'question-answering' | 'masked-lm' | 'base' | 'causal-lm';

/** The exported graph and what it expects/produces. */
export interface EncoderGraph {
  graph: OnnxGraph;
  family: 'bert' | 'roberta' | 'distilbert' | 'modernbert' | 'deberta-v2' | 'decoder';
  head: EncoderHead;
  inputNames: string[];
  outputNames: string[];
}

const HEAD_BY_SUFFIX: Array<[string, EncoderHead]> = [
  ['ForSequenceClassification', 'sequence-classification'],
  ['ForTokenClassification', 'token-classification'],
  ['ForQuestionAnswering', 'question-answering'],
  ['ForMaskedLM', 'masked-lm'],
  ['Model', 'base'],
];

/** Reads tensors by checkpoint key, converting to float32 and transposing Linear weights for MatMul. */
class Weights {
  constructor(
    private readonly tensors: Map<string, SafetensorsEntry>,
    private readonly g: GraphBuilder,
  ) {}

  has(key: string): boolean {
    return this.tensors.has(key);
  }

  private entry(keys: readonly string[]): SafetensorsEntry {
    for (const k of keys) {
      const e = this.tensors.get(k);
      if (e) return e;
    }
    throw new ModelError(`checkpoint has no tensor "${keys[0]}"${keys.length > 1 ? ` (nor ${keys.slice(1).join(', ')})` : ''}; cannot export this model`);
  }

  /** A tensor as-is (first of `keys` present). */
  raw(...keys: string[]): string {
    const e = this.entry(keys);
    return this.g.weight(e.name, toFloat32(e), e.shape);
  }

  /** One row of a 2-D tensor (e.g. the single token-type embedding RoBERTa adds). */
  row(key: string, r: number): string {
    const e = this.entry([key]);
    const w = toFloat32(e);
    const c = e.shape[1]!;
    return this.g.weight(`${key}[${r}]`, w.slice(r * c, (r + 1) * c), [c]);
  }

  /** A Linear weight (out, in) stored transposed (in, out), so y = x @ W^T is one MatMul. */
  linearT(...keys: string[]): string {
    const e = this.entry(keys);
    if (e.shape.length !== 2) throw new ModelError(`tensor "${e.name}" has shape [${e.shape.join(', ')}]; a Linear weight must be 2-D`);
    const [o, i] = e.shape as [number, number];
    const w = toFloat32(e);
    const t = new Float32Array(o * i);
    for (let r = 0; r < o; r++) for (let c = 0; c < i; c++) t[c * o + r] = w[r * i + c]!;
    return this.g.weight(`${e.name}.T`, t, [i, o]);
  }

  /** y = x W^T + b for the Linear at `prefix` (prefix.weight, prefix.bias). */
  linear(x: string, prefix: string, out?: string): string {
    const b = this.has(`${prefix}.bias`) ? this.raw(`${prefix}.bias`) : null;
    return this.g.linear(x, this.linearT(`${prefix}.weight`), b, out);
  }

  layerNorm(x: string, prefix: string, eps: number, out?: string): string {
    return this.g.layerNorm(x, this.raw(`${prefix}.weight`), this.raw(`${prefix}.bias`), eps, out);
  }
}

/** Activation by transformers' ACT2FN name. */
function activation(g: GraphBuilder, x: string, name: string): string {
  switch (name) {
    case 'gelu': // exact erf GELU: 0.5 x (1 + erf(x / √2))
      return g.mul(g.mul(x, g.scalar(0.5)), g.add(g.scalar(1), g.erf(g.mul(x, g.scalar(Math.SQRT1_2)))));
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
    case 'gelu_fast': {
      // 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))
      const x3 = g.mul(g.mul(x, x), x);
      const inner = g.mul(g.add(x, g.mul(x3, g.scalar(0.044715))), g.scalar(Math.sqrt(2 / Math.PI)));
      return g.mul(g.mul(x, g.scalar(0.5)), g.add(g.scalar(1), g.tanh(inner)));
    }
    case 'relu':
      return g.relu(x);
    case 'silu':
    case 'swish':
      return g.mul(x, g.sigmoid(x));
    case 'tanh':
      return g.tanh(x);
    default:
      throw new ModelError(`activation "${name}" is not supported by the ONNX exporter (supported: gelu, gelu_new, gelu_pytorch_tanh, relu, silu, tanh)`);
  }
}

interface Dims {
  hidden: number;
  heads: number;
  layers: number;
  act: string;
  eps: number;
}

/** Multi-head self-attention; q/k/v/o are Linear prefixes. ext: additive mask (B, 1, 1, T). */
function attention(g: GraphBuilder, w: Weights, x: string, ext: string, d: Dims, q: string, k: string, v: string, o: string): string {
  const hd = d.hidden / d.heads;
  const split = (t: string, perm: number[]) => g.transpose(g.reshape(t, [0, 0, d.heads, hd]), perm);
  const qh = split(w.linear(x, q), [0, 2, 1, 3]); // (B, H, T, D)
  const kh = split(w.linear(x, k), [0, 2, 3, 1]); // (B, H, D, T)
  const vh = split(w.linear(x, v), [0, 2, 1, 3]); // (B, H, T, D)
  const scores = g.add(g.mul(g.matmul(qh, kh), g.scalar(1 / Math.sqrt(hd))), ext); // (B, H, T, T)
  const ctx = g.matmul(g.softmax(scores, -1), vh); // (B, H, T, D)
  const merged = g.reshape(g.transpose(ctx, [0, 2, 1, 3]), [0, 0, d.hidden]); // (B, T, C)
  return w.linear(merged, o);
}

/** The additive attention mask (1 − mask) · float32.min, shaped (B, 1, 1, T). */
function extendedMask(g: GraphBuilder, mask: string): string {
  const m = g.cast(mask, OnnxDataType.FLOAT);
  return g.unsqueeze(g.mul(g.sub(g.scalar(1), m), g.scalar(FLOAT32_MIN)), [1, 2]);
}

/** Positions 0..T-1 of a (rows, C) table, as a (T, C) slice. */
function firstPositions(g: GraphBuilder, table: string, ids: string): string {
  return g.slice(table, g.int64([0]), g.shape(ids, 1, 2), g.int64([0]));
}

type BertLikeConfig = Extract<HfConfig, { model_type: 'bert' | 'roberta' | 'xlm-roberta' }>;
type DistilConfig = Extract<HfConfig, { model_type: 'distilbert' }>;

function bertLikeEncoder(g: GraphBuilder, w: Weights, cfg: BertLikeConfig, p: string, roberta: boolean): string {
  if (cfg.position_embedding_type !== 'absolute') {
    throw new ModelError(`position_embedding_type "${cfg.position_embedding_type}" is not supported by the ONNX exporter (only "absolute")`);
  }
  const d: Dims = { hidden: cfg.hidden_size, heads: cfg.num_attention_heads, layers: cfg.num_hidden_layers, act: cfg.hidden_act, eps: cfg.layer_norm_eps };
  const e = `${p}embeddings`;
  const words = g.gather(w.raw(`${e}.word_embeddings.weight`), 'input_ids'); // (B, T, C)
  let pos: string;
  let types: string;
  if (roberta) {
    // create_position_ids_from_input_ids: pad + cumsum(ids != pad) * (ids != pad)
    const pad = cfg.pad_token_id ?? 1;
    const notPad = g.cast(g.op('Not', [g.op('Equal', ['input_ids', g.int64([pad], [])])]), OnnxDataType.INT64);
    const ids = g.add(g.mul(g.op('CumSum', [notPad, g.int64([1], [])]), notPad), g.int64([pad], []));
    pos = g.gather(w.raw(`${e}.position_embeddings.weight`), ids);
    types = w.row(`${e}.token_type_embeddings.weight`, 0); // token_type_ids are all 0
  } else {
    pos = firstPositions(g, w.raw(`${e}.position_embeddings.weight`), 'input_ids');
    types = g.gather(w.raw(`${e}.token_type_embeddings.weight`), 'token_type_ids');
  }
  let h = w.layerNorm(g.add(g.add(words, pos), types), `${e}.LayerNorm`, d.eps);
  const ext = extendedMask(g, 'attention_mask');
  for (let i = 0; i < d.layers; i++) {
    const l = `${p}encoder.layer.${i}`;
    const a = attention(g, w, h, ext, d, `${l}.attention.self.query`, `${l}.attention.self.key`, `${l}.attention.self.value`, `${l}.attention.output.dense`);
    h = w.layerNorm(g.add(a, h), `${l}.attention.output.LayerNorm`, d.eps);
    const inter = activation(g, w.linear(h, `${l}.intermediate.dense`), d.act);
    h = w.layerNorm(g.add(w.linear(inter, `${l}.output.dense`), h), `${l}.output.LayerNorm`, d.eps);
  }
  return h;
}

function distilbertEncoder(g: GraphBuilder, w: Weights, cfg: DistilConfig, p: string): string {
  const d: Dims = { hidden: cfg.dim, heads: cfg.n_heads, layers: cfg.n_layers, act: cfg.activation, eps: 1e-12 };
  const e = `${p}embeddings`;
  const words = g.gather(w.raw(`${e}.word_embeddings.weight`), 'input_ids');
  const pos = firstPositions(g, w.raw(`${e}.position_embeddings.weight`), 'input_ids');
  let h = w.layerNorm(g.add(words, pos), `${e}.LayerNorm`, d.eps);
  const ext = extendedMask(g, 'attention_mask');
  for (let i = 0; i < d.layers; i++) {
    const l = `${p}transformer.layer.${i}`;
    const a = attention(g, w, h, ext, d, `${l}.attention.q_lin`, `${l}.attention.k_lin`, `${l}.attention.v_lin`, `${l}.attention.out_lin`);
    h = w.layerNorm(g.add(a, h), `${l}.sa_layer_norm`, d.eps);
    const inner = activation(g, w.linear(h, `${l}.ffn.lin1`), d.act);
    h = w.layerNorm(g.add(w.linear(inner, `${l}.ffn.lin2`), h), `${l}.output_layer_norm`, d.eps);
  }
  return h;
}

/** The head from config.architectures, else from which head tensors the checkpoint has. */
export function detectHead(cfg: HfConfig, keys: ReadonlySet<string>): EncoderHead {
  const arch = cfg.architectures?.[0];
  if (arch) {
    for (const [suffix, head] of HEAD_BY_SUFFIX) if (arch.endsWith(suffix)) return head;
    throw new ModelError(`architecture "${arch}" is not supported by the ONNX exporter (supported: *${HEAD_BY_SUFFIX.map(([s]) => s).join(', *')})`);
  }
  const has = (k: string) => keys.has(k);
  if (has('qa_outputs.weight')) return 'question-answering';
  if (has('classifier.out_proj.weight') || has('pre_classifier.weight') || has('bert.pooler.dense.weight') && has('classifier.weight')) return 'sequence-classification';
  if (has('classifier.weight')) return 'token-classification';
  if ([...keys].some((k) => k.startsWith('cls.predictions') || k.startsWith('lm_head.') || k.startsWith('vocab_'))) return 'masked-lm';
  return 'base';
}

const i64 = (name: string, shape: Array<number | string>): OnnxValueInfo => ({ name, elemType: OnnxDataType.INT64, shape });
const f32 = (name: string, shape: Array<number | string>): OnnxValueInfo => ({ name, elemType: OnnxDataType.FLOAT, shape });

/**
 * Builds the ONNX graph of an encoder checkpoint with its head.
 *
 * @example
 * const { tensors } = await loadCheckpointTensors(dir);
 * const { graph, outputNames } = buildEncoderGraph(await readHfConfig(dir), tensors); // outputNames = ['logits']
 */
export function buildEncoderGraph(cfg: HfConfig, tensors: Map<string, SafetensorsEntry>): EncoderGraph {
  let family: EncoderGraph['family'];
  let hidden: number;
  const g = new GraphBuilder();
  const w = new Weights(tensors, g);
  let h: string;
  let p: string;
  const prefixFor = (base: string) => (w.has(`${base}.embeddings.word_embeddings.weight`) ? `${base}.` : '');
  switch (cfg.model_type) {
    case 'modernbert':
      return buildModernBertGraph(cfg, tensors);
    case 'deberta-v2':
      return buildDebertaGraph(cfg, tensors);
    case 'qwen3': case 'gemma2': case 'gemma3_text': case 'phi3':
      return buildDecoderGraph(cfg, tensors);
    case 'bert':
    case 'roberta':
    case 'xlm-roberta':
      family = cfg.model_type === 'bert' ? 'bert' : 'roberta';
      hidden = cfg.hidden_size;
      p = prefixFor(family);
      h = bertLikeEncoder(g, w, cfg, p, family === 'roberta');
      break;
    case 'distilbert':
      family = 'distilbert';
      hidden = cfg.dim;
      p = prefixFor(family);
      h = distilbertEncoder(g, w, cfg, p);
      break;
    default:
      throw new ModelError(`model_type "${cfg.model_type}" cannot be exported to ONNX yet (supported: bert, roberta, xlm-roberta, distilbert, modernbert, deberta-v2, qwen3, gemma2, gemma3_text, phi3); use --format hf`);
  }
  const head = detectHead(cfg, new Set(tensors.keys()));
  const B = 'batch_size';
  const T = 'sequence_length';
  const outputs: OnnxValueInfo[] = [];
  const firstToken = () => g.gather(h, g.int64([0], []), 1); // (B, C)
  switch (head) {
    case 'base':
      g.op('Identity', [h], [], 'last_hidden_state');
      outputs.push(f32('last_hidden_state', [B, T, hidden]));
      break;
    case 'sequence-classification': {
      let x: string;
      if (family === 'bert') x = w.linear(g.tanh(w.linear(firstToken(), `${p}pooler.dense`)), 'classifier', 'logits');
      else if (family === 'roberta') x = w.linear(g.tanh(w.linear(firstToken(), 'classifier.dense')), 'classifier.out_proj', 'logits');
      else x = w.linear(g.relu(w.linear(firstToken(), 'pre_classifier')), 'classifier', 'logits');
      outputs.push(f32(x, [B, cfg.num_labels]));
      break;
    }
    case 'token-classification':
      outputs.push(f32(w.linear(h, 'classifier', 'logits'), [B, T, cfg.num_labels]));
      break;
    case 'question-answering': {
      const both = w.linear(h, 'qa_outputs'); // (B, T, 2)
      g.gather(both, g.int64([0], []), 2, 'start_logits');
      g.gather(both, g.int64([1], []), 2, 'end_logits');
      outputs.push(f32('start_logits', [B, T]), f32('end_logits', [B, T]));
      break;
    }
    case 'masked-lm': {
      const word = `${p}embeddings.word_embeddings.weight`;
      let x: string;
      let decoder: string;
      let bias: string;
      if (family === 'bert') {
        x = w.linear(h, 'cls.predictions.transform.dense');
        x = w.layerNorm(activation(g, x, cfg.model_type === 'bert' ? cfg.hidden_act : 'gelu'), 'cls.predictions.transform.LayerNorm', 'layer_norm_eps' in cfg ? cfg.layer_norm_eps : 1e-12);
        decoder = w.linearT('cls.predictions.decoder.weight', word);
        bias = w.raw('cls.predictions.bias', 'cls.predictions.decoder.bias');
      } else if (family === 'roberta') {
        x = w.layerNorm(activation(g, w.linear(h, 'lm_head.dense'), 'gelu'), 'lm_head.layer_norm', 'layer_norm_eps' in cfg ? cfg.layer_norm_eps : 1e-5);
        decoder = w.linearT('lm_head.decoder.weight', word);
        bias = w.raw('lm_head.bias', 'lm_head.decoder.bias');
      } else {
        x = w.layerNorm(activation(g, w.linear(h, 'vocab_transform'), cfg.model_type === 'distilbert' ? cfg.activation : 'gelu'), 'vocab_layer_norm', 1e-12);
        decoder = w.linearT('vocab_projector.weight', word);
        bias = w.raw('vocab_projector.bias');
      }
      outputs.push(f32(g.linear(x, decoder, bias, 'logits'), [B, T, cfg.vocab_size]));
      break;
    }
  }
  const inputs = [i64('input_ids', [B, T]), i64('attention_mask', [B, T])];
  if (family === 'bert') inputs.push(i64('token_type_ids', [B, T]));
  return {
    graph: g.build(`${cfg.model_type}-${head}`, inputs, outputs),
    family,
    head,
    inputNames: inputs.map((i) => i.name),
    outputNames: outputs.map((o) => o.name),
  };
}
