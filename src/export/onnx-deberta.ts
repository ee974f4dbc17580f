// ONNX graph of DeBERTa-v2/v3 with its heads, as transformers' modeling_deberta_v2.py computes it in eval
// mode: embeddings (+ position / token type / embed_proj) → LayerNorm → × mask; disentangled attention with
// c2p and p2c terms gathered (GatherElements) by the relative index δ(i, j) = clamp(bucket(i − j) + S),
// precomputed for max_position_embeddings and sliced to T; scores masked_fill'ed with float32.min where the
// query or the key is padding; ContextPooler + classifier, token classification, QA, masked LM (both
// head layouts, by config.json "legacy" as the model picks them).
// Not here: the ConvLayer of v2-xlarge (refused by the model too), other encoders (onnx-encoders.ts).

import { ModelError } from '../errors.ts';
import type { DebertaV2Config } from '../models/hf-config.ts';
import { toFloat32, type SafetensorsEntry } from '../io/safetensors.ts';
import { posAttTypes, relativeIndex } from '../models/deberta-v2.ts';
import { FLOAT32_MIN, GraphBuilder } from './onnx-graph.ts';
import { OnnxDataType, type OnnxGraph, type OnnxValueInfo } from './onnx-proto.ts';

export interface DebertaGraph {
  graph: OnnxGraph;
  family: 'deberta-v2';
  head: 'sequence-classification' | 'token-classification' | 'question-answering' | 'masked-lm' | 'base';
  inputNames: string[];
  outputNames: string[];
}

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
    case 'relu':
      return g.relu(x);
    case 'tanh':
      return g.tanh(x);
    default:
      throw new ModelError(`activation "${name}" is not supported by the ONNX exporter for DeBERTa (supported: gelu, gelu_new, gelu_pytorch_tanh, relu, tanh)`);
  }
}

/**
 * Builds the ONNX graph of a DeBERTa-v2/v3 checkpoint; the head comes from config.json `architectures`.
 * @example const { graph } = buildDebertaGraph(cfg, (await loadCheckpointTensors(dir)).tensors);
 */
export function buildDebertaGraph(cfg: DebertaV2Config, tensors: Map<string, SafetensorsEntry>): DebertaGraph {
  if (cfg.conv_kernel_size > 0) throw new ModelError('config.json "conv_kernel_size": DeBERTa-v2\'s ConvLayer is not implemented; it cannot be exported');
  const g = new GraphBuilder();
  const arch = cfg.architectures?.[0] ?? 'DebertaV2Model';
  const heads: Record<string, DebertaGraph['head']> = {
    DebertaV2ForSequenceClassification: 'sequence-classification', DebertaV2ForTokenClassification: 'token-classification',
    DebertaV2ForQuestionAnswering: 'question-answering', DebertaV2ForMaskedLM: 'masked-lm', DebertaV2Model: 'base',
  };
  const head = heads[arch];
  if (head === undefined) throw new ModelError(`architecture "${arch}" is not supported by the ONNX exporter for DeBERTa-v2 (supported: ${Object.keys(heads).join(', ')})`);
  const p = tensors.has('deberta.embeddings.word_embeddings.weight') ? 'deberta.' : '';
  const entry = (k: string): SafetensorsEntry => {
    const e = tensors.get(k);
    if (!e) throw new ModelError(`checkpoint has no tensor "${k}"; cannot export this model`);
    return e;
  };
  const raw = (k: string) => g.weight(k, toFloat32(entry(k)), entry(k).shape);
  const linearT = (k: string) => {
    const e = entry(k);
    const [o, i] = e.shape as [number, number];
    const w = toFloat32(e);
    const t = new Float32Array(o * i);
    for (let r = 0; r < o; r++) for (let c = 0; c < i; c++) t[c * o + r] = w[r * i + c]!;
    return g.weight(`${k}.T`, t, [i, o]);
  };
  const linear = (x: string, prefix: string, out?: string) => g.linear(x, linearT(`${prefix}.weight`), tensors.has(`${prefix}.bias`) ? raw(`${prefix}.bias`) : null, out);
  const eps = cfg.layer_norm_eps;
  const norm = (x: string, prefix: string) => g.layerNorm(x, raw(`${prefix}.weight`), raw(`${prefix}.bias`), eps);
  const int = (v: number) => g.int64([v]);
  const H = cfg.num_attention_heads;
  const D = cfg.attention_head_size ?? cfg.hidden_size / H;
  const types = posAttTypes(cfg);
  const T1 = g.shape('input_ids', 1, 2);

  // Embeddings.
  const e = `${p}embeddings`;
  let x = g.gather(raw(`${e}.word_embeddings.weight`), 'input_ids');
  if (cfg.position_biased_input) x = g.add(x, g.slice(raw(`${e}.position_embeddings.weight`), int(0), T1, int(0)));
  if (cfg.type_vocab_size > 0) x = g.add(x, g.gather(raw(`${e}.token_type_embeddings.weight`), 'token_type_ids'));
  if (tensors.has(`${e}.embed_proj.weight`)) x = linear(x, `${e}.embed_proj`);
  const m = g.cast('attention_mask', OnnxDataType.FLOAT);
  let h = g.mul(norm(x, `${e}.LayerNorm`), g.unsqueeze(m, [2]));
  // Pairs where query and key are both tokens: (B, 1, T, T) bool.
  const pair = g.cast(g.mul(g.unsqueeze(m, [1, 3]), g.unsqueeze(m, [1, 2])), OnnxDataType.BOOL);

  // Relative index δ (T, T), and the relative embeddings (2S, C).
  let index = '';
  let rel = '';
  let S = 0;
  if (cfg.relative_attention) {
    const P = cfg.max_position_embeddings;
    const r = relativeIndex(cfg, P);
    S = r.span;
    const idx = g.int64(Array.from(r.index), [P, P]);
    index = g.slice(g.slice(idx, int(0), T1, int(0)), int(0), T1, int(1));
    rel = raw(`${p}encoder.rel_embeddings.weight`);
    if (cfg.norm_rel_ebd.toLowerCase().split('|').map((s) => s.trim()).includes('layer_norm')) rel = norm(rel, `${p}encoder.LayerNorm`);
    rel = g.slice(rel, int(0), int(2 * S), int(0));
  }
  const factor = 1 + types.length;
  const scale = Math.fround(Math.sqrt(Math.fround(D * factor)));
  const split = (t: string) => g.transpose(g.reshape(t, [0, 0, H, D]), [0, 2, 1, 3]); // (B, H, T, D)
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const l = `${p}encoder.layer.${i}`;
    const a = `${l}.attention.self`;
    const q = split(linear(h, `${a}.query_proj`));
    const k = split(linear(h, `${a}.key_proj`));
    const v = split(linear(h, `${a}.value_proj`));
    let scores = g.mul(g.matmul(q, g.transpose(k, [0, 1, 3, 2])), g.scalar(1 / scale));
    if (cfg.relative_attention && types.length > 0) {
      const posHeads = (name: string) => g.transpose(g.reshape(linear(g.unsqueeze(rel, [0]), name), [0, 0, H, D]), [0, 2, 3, 1]); // (1, H, D, 2S)
      const expandTo = (t: string, like: string) => g.op('Expand', [t, g.op('Shape', [like])]);
      if (types.includes('c2p')) {
        const c2pAll = g.matmul(q, posHeads(cfg.share_att_key ? `${a}.key_proj` : `${a}.pos_key_proj`)); // (B, H, T, 2S)
        const c2p = g.op('GatherElements', [c2pAll, expandTo(index, scores)], [{ name: 'axis', kind: 'int', value: 3 }]);
        scores = g.add(scores, g.mul(c2p, g.scalar(1 / scale)));
      }
      if (types.includes('p2c')) {
        const p2cAll = g.matmul(k, posHeads(cfg.share_att_key ? `${a}.query_proj` : `${a}.pos_query_proj`)); // (B, H, T_key, 2S)
        const gathered = g.op('GatherElements', [p2cAll, expandTo(g.transpose(index, [1, 0]), scores)], [{ name: 'axis', kind: 'int', value: 3 }]);
        scores = g.add(scores, g.mul(g.transpose(gathered, [0, 1, 3, 2]), g.scalar(1 / scale)));
      }
    }
    scores = g.op('Where', [pair, scores, g.scalar(FLOAT32_MIN)]);
    const ctx = g.reshape(g.transpose(g.matmul(g.softmax(scores, -1), v), [0, 2, 1, 3]), [0, 0, H * D]);
    const att = norm(g.add(linear(ctx, `${l}.attention.output.dense`), h), `${l}.attention.output.LayerNorm`);
    const inter = act(g, linear(att, `${l}.intermediate.dense`), cfg.hidden_act);
    h = norm(g.add(linear(inter, `${l}.output.dense`), att), `${l}.output.LayerNorm`);
  }

  const B = 'batch_size';
  const T = 'sequence_length';
  const f32 = (name: string, shape: Array<number | string>): OnnxValueInfo => ({ name, elemType: OnnxDataType.FLOAT, shape });
  const outputs: OnnxValueInfo[] = [];
  if (head === 'base') {
    g.op('Identity', [h], [], 'last_hidden_state');
    outputs.push(f32('last_hidden_state', [B, T, cfg.hidden_size]));
  } else if (head === 'sequence-classification') {
    const pooled = act(g, linear(g.gather(h, g.int64([0], []), 1), 'pooler.dense'), cfg.pooler_hidden_act);
    outputs.push(f32(linear(pooled, 'classifier', 'logits'), [B, cfg.num_labels]));
  } else if (head === 'token-classification') {
    outputs.push(f32(linear(h, 'classifier', 'logits'), [B, T, cfg.num_labels]));
  } else if (head === 'masked-lm') {
    // legacy: cls.predictions (transform C → E, decoder = its own weight or the word embeddings, bias);
    // not legacy: lm_predictions.lm_head (C → C, × word embeddings^T, bias).
    const words = `${p}embeddings.word_embeddings.weight`;
    const pre = cfg.legacy ? 'cls.predictions.transform' : 'lm_predictions.lm_head';
    const x = norm(act(g, linear(h, `${pre}.dense`), cfg.hidden_act), `${pre}.LayerNorm`);
    const decoder = linearT(cfg.legacy && tensors.has('cls.predictions.decoder.weight') ? 'cls.predictions.decoder.weight' : words);
    const biasKey = cfg.legacy ? (tensors.has('cls.predictions.bias') ? 'cls.predictions.bias' : 'cls.predictions.decoder.bias') : 'lm_predictions.lm_head.bias';
    outputs.push(f32(g.linear(x, decoder, raw(biasKey), 'logits'), [B, T, cfg.vocab_size]));
  } else {
    const both = linear(h, 'qa_outputs');
    g.gather(both, g.int64([0], []), 2, 'start_logits');
    g.gather(both, g.int64([1], []), 2, 'end_logits');
    outputs.push(f32('start_logits', [B, T]), f32('end_logits', [B, T]));
  }
  const i64 = (name: string): OnnxValueInfo => ({ name, elemType: OnnxDataType.INT64, shape: [B, T] });
  const inputs = [i64('input_ids'), i64('attention_mask'), ...(cfg.type_vocab_size > 0 ? [i64('token_type_ids')] : [])];
  return { graph: g.build(`deberta-v2-${head}`, inputs, outputs), family: 'deberta-v2', head, inputNames: inputs.map((x) => x.name), outputNames: outputs.map((o) => o.name) };
}
