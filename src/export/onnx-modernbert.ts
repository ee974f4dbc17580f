// ONNX graph of ModernBERT with its heads, computed as transformers' padded (eager/SDPA) path does:
// embeddings norm, pre-norm layers with fused Wqkv, RoPE from precomputed cos/sin tables sliced to the
// sequence length (global and local bases), additive key mask on global layers and the local window
// |i - j| <= local_attention / 2 (masked_fill with float32.min on the key mask) on the others, GeGLU,
// final_norm, prediction head + classifier (cls or mean pooling), token classification, QA; masked LM
// (prediction head, decoder = decoder.weight or the tied tok_embeddings, decoder.bias when present).
// Not here: the other encoders (onnx-encoders.ts), protobuf bytes (onnx-proto.ts), files (onnx.ts).

import { ModelError } from '../errors.ts';
import type { ModernBertConfig } from '../models/hf-config.ts';
import { toFloat32, type SafetensorsEntry } from '../io/safetensors.ts';
import { modernBertRopeBases } from '../models/modernbert.ts';
import { plainInvFreq } from '../models/rope-decoder.ts';
import { FLOAT32_MIN, GraphBuilder } from './onnx-graph.ts';
import { OnnxDataType, type OnnxGraph, type OnnxValueInfo } from './onnx-proto.ts';

/** What buildModernBertGraph returns (the EncoderGraph shape, with its own family name). */
export interface ModernBertGraph {
  graph: OnnxGraph;
  family: 'modernbert';
  head: 'sequence-classification' | 'token-classification' | 'question-answering' | 'masked-lm' | 'base';
  inputNames: string[];
  outputNames: string[];
}

/** Activation by transformers' ACT2FN name (the ones ModernBERT checkpoints use). */
function act(g: GraphBuilder, x: string, name: string): string {
  switch (name) {
    case 'gelu':
      return g.mul(g.mul(x, g.scalar(0.5)), g.add(g.scalar(1), g.erf(g.mul(x, g.scalar(Math.SQRT1_2)))));
    case 'gelu_new':
    case 'gelu_pytorch_tanh': {
      const x3 = g.mul(g.mul(x, x), x);
      const inner = g.mul(g.add(x, g.mul(x3, g.scalar(0.044715))), g.scalar(Math.sqrt(2 / Math.PI)));
      return g.mul(g.mul(x, g.scalar(0.5)), g.add(g.scalar(1), g.tanh(inner)));
    }
    case 'silu':
      return g.mul(x, g.sigmoid(x));
    case 'relu':
      return g.relu(x);
    default:
      throw new ModelError(`activation "${name}" is not supported by the ONNX exporter for ModernBERT (supported: gelu, gelu_new, gelu_pytorch_tanh, silu, relu)`);
  }
}

/**
 * Builds the ONNX graph of a ModernBERT checkpoint; the head comes from config.json `architectures`.
 * @example const { graph } = buildModernBertGraph(cfg, (await loadCheckpointTensors(dir)).tensors);
 */
export function buildModernBertGraph(cfg: ModernBertConfig, tensors: Map<string, SafetensorsEntry>): ModernBertGraph {
  const g = new GraphBuilder();
  const arch = cfg.architectures?.[0] ?? 'ModernBertModel';
  const head: ModernBertGraph['head'] = arch.endsWith('ForSequenceClassification') ? 'sequence-classification'
    : arch.endsWith('ForTokenClassification') ? 'token-classification'
      : arch.endsWith('ForQuestionAnswering') ? 'question-answering'
        : arch === 'ModernBertForMaskedLM' ? 'masked-lm'
        : arch === 'ModernBertModel' ? 'base' : (() => { throw new ModelError(`architecture "${arch}" is not supported by the ONNX exporter for ModernBERT`); })();
  const p = tensors.has('model.embeddings.tok_embeddings.weight') ? 'model.' : '';
  const entry = (k: string): SafetensorsEntry => {
    const e = tensors.get(k);
    if (!e) throw new ModelError(`checkpoint has no tensor "${k}"; cannot export this model`);
    return e;
  };
  const raw = (k: string) => g.weight(k, toFloat32(entry(k)), entry(k).shape);
  const transposed = (k: string): string => {
    const e = entry(k);
    const [o, i] = e.shape as [number, number];
    const w = toFloat32(e);
    const t = new Float32Array(o * i);
    for (let r = 0; r < o; r++) for (let c = 0; c < i; c++) t[c * o + r] = w[r * i + c]!;
    return g.weight(`${k}.T`, t, [i, o]);
  };
  const linear = (x: string, prefix: string, out?: string): string => {
    const b = tensors.has(`${prefix}.bias`) ? raw(`${prefix}.bias`) : null;
    return g.linear(x, transposed(`${prefix}.weight`), b, out);
  };
  const C = cfg.hidden_size;
  const H = cfg.num_attention_heads;
  const D = C / H;
  const I = cfg.intermediate_size;
  const zeros = g.weight('zero_bias', new Float32Array(C), [C]);
  const norm = (x: string, prefix: string) => g.layerNorm(x, raw(`${prefix}.weight`), tensors.has(`${prefix}.bias`) ? raw(`${prefix}.bias`) : zeros, cfg.norm_eps);
  const int = (v: number) => g.int64([v]);

  // Sequence length T as a 1-D and a scalar int64.
  const T1 = g.shape('input_ids', 1, 2);
  const Ts = g.op('Squeeze', [T1]);
  const tables = (base: number) => {
    const inv = plainInvFreq(base, D);
    const P = cfg.max_position_embeddings;
    const cos = new Float32Array(P * D);
    const sin = new Float32Array(P * D);
    const f = Math.fround;
    for (let t = 0; t < P; t++) {
      for (let j = 0; j < D / 2; j++) {
        const a = f(t * inv[j]!);
        cos[t * D + j] = cos[t * D + j + D / 2] = Math.cos(a);
        sin[t * D + j] = sin[t * D + j + D / 2] = Math.sin(a);
      }
    }
    const cut = (name: string, data: Float32Array) => g.slice(g.weight(name, data, [P, D]), int(0), T1, int(0)); // (T, D)
    return { cos: cut(`rope_cos_${base}`, cos), sin: cut(`rope_sin_${base}`, sin) };
  };
  const bases = modernBertRopeBases(cfg);
  const ropeGlobal = tables(bases.global);
  const ropeLocal = bases.local === bases.global ? ropeGlobal : tables(bases.local);
  const rotate = (x: string, r: { cos: string; sin: string }) => {
    const x1 = g.slice(x, int(0), int(D / 2), int(3));
    const x2 = g.slice(x, int(D / 2), int(D), int(3));
    const rotated = g.op('Concat', [g.op('Neg', [x2]), x1], [{ name: 'axis', kind: 'int', value: 3 }]);
    return g.add(g.mul(x, r.cos), g.mul(rotated, r.sin));
  };

  // Masks: global (B, 1, 1, T) additive; local = Where(|i - j| <= W/2, global, min), (B, 1, T, T).
  const m = g.cast('attention_mask', OnnxDataType.FLOAT);
  const globalMask = g.unsqueeze(g.mul(g.sub(g.scalar(1), m), g.scalar(FLOAT32_MIN)), [1, 2]);
  const r = g.op('Range', [g.int64([0], []), Ts, g.int64([1], [])]);
  const dist = g.op('Abs', [g.sub(g.unsqueeze(r, [1]), g.unsqueeze(r, [0]))]);
  const inWindow = g.op('LessOrEqual', [dist, g.int64([Math.floor(cfg.local_attention / 2)], [])]);
  const localMask = g.op('Where', [inWindow, globalMask, g.scalar(FLOAT32_MIN)]);

  let h = norm(g.gather(raw(`${p}embeddings.tok_embeddings.weight`), 'input_ids'), `${p}embeddings.norm`);
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const l = `${p}layers.${i}`;
    const local = i % cfg.global_attn_every_n_layers !== 0;
    const x = i === 0 ? h : norm(h, `${l}.attn_norm`);
    const qkv = g.transpose(g.reshape(linear(x, `${l}.attn.Wqkv`), [0, 0, 3, H, D]), [2, 0, 3, 1, 4]); // (3, B, H, T, D)
    const rope = local ? ropeLocal : ropeGlobal;
    const q = rotate(g.gather(qkv, g.int64([0], []), 0), rope);
    const k = rotate(g.gather(qkv, g.int64([1], []), 0), rope);
    const v = g.gather(qkv, g.int64([2], []), 0);
    const scores = g.add(g.mul(g.matmul(q, g.transpose(k, [0, 1, 3, 2])), g.scalar(D ** -0.5)), local ? localMask : globalMask);
    const ctx = g.reshape(g.transpose(g.matmul(g.softmax(scores, -1), v), [0, 2, 1, 3]), [0, 0, C]);
    h = g.add(h, linear(ctx, `${l}.attn.Wo`));
    const wi = linear(norm(h, `${l}.mlp_norm`), `${l}.mlp.Wi`);
    const input = g.slice(wi, int(0), int(I), int(2));
    const gate = g.slice(wi, int(I), int(2 * I), int(2));
    h = g.add(h, linear(g.mul(act(g, input, cfg.hidden_activation), gate), `${l}.mlp.Wo`));
  }
  h = norm(h, `${p}final_norm`);

  const B = 'batch_size';
  const T = 'sequence_length';
  const f32 = (name: string, shape: Array<number | string>): OnnxValueInfo => ({ name, elemType: OnnxDataType.FLOAT, shape });
  const predictionHead = (x: string) => norm(act(g, linear(x, 'head.dense'), cfg.classifier_activation), 'head.norm');
  const outputs: OnnxValueInfo[] = [];
  if (head === 'base') {
    g.op('Identity', [h], [], 'last_hidden_state');
    outputs.push(f32('last_hidden_state', [B, T, C]));
  } else if (head === 'sequence-classification') {
    let pooled: string;
    if (cfg.classifier_pooling === 'mean') {
      const m3 = g.unsqueeze(m, [2]);
      const sum = (t: string) => g.op('ReduceSum', [t, g.int64([1])], [{ name: 'keepdims', kind: 'int', value: 0 }]);
      pooled = g.div(sum(g.mul(h, m3)), sum(m3));
    } else {
      pooled = g.gather(h, g.int64([0], []), 1);
    }
    outputs.push(f32(linear(predictionHead(pooled), 'classifier', 'logits'), [B, cfg.num_labels]));
  } else if (head === 'token-classification') {
    outputs.push(f32(linear(predictionHead(h), 'classifier', 'logits'), [B, T, cfg.num_labels]));
  } else if (head === 'masked-lm') {
    const w = transposed(tensors.has('decoder.weight') ? 'decoder.weight' : `${p}embeddings.tok_embeddings.weight`);
    const bias = tensors.has('decoder.bias') ? raw('decoder.bias') : null;
    outputs.push(f32(g.linear(predictionHead(h), w, bias, 'logits'), [B, T, cfg.vocab_size]));
  } else {
    const both = linear(predictionHead(h), 'classifier');
    g.gather(both, g.int64([0], []), 2, 'start_logits');
    g.gather(both, g.int64([1], []), 2, 'end_logits');
    outputs.push(f32('start_logits', [B, T]), f32('end_logits', [B, T]));
  }
  const i64 = (name: string): OnnxValueInfo => ({ name, elemType: OnnxDataType.INT64, shape: [B, T] });
  const inputs = [i64('input_ids'), i64('attention_mask')];
  return { graph: g.build(`modernbert-${head}`, inputs, outputs), family: 'modernbert', head, inputNames: inputs.map((x) => x.name), outputNames: outputs.map((o) => o.name) };
}
