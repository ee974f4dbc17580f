// ONNX graph of the RoPE decoders built on rope-decoder.ts (Qwen3, Gemma 2, Gemma 3 text, Phi-3): the
// sequence-classification head (last non-padding token, no cache), the token-classification head, or the
// language-modelling head in the layout transformers.js and Optimum use for generation with a KV cache:
// inputs input_ids, attention_mask (past + new), position_ids, past_key_values.<i>.key/.value
// (B, Hkv, past, D; length 0 on the first step); outputs logits and present.<i>.key/.value. RoPE is
// computed in the graph from position_ids (longrope picks its factor set from max(position_ids) + 1),
// the causal / sliding-window / padding mask from the cache positions, as transformers does.
// Not here: Llama/Mistral/Qwen2 (not exported), the encoders (onnx-encoders.ts).

import { ModelError } from '../errors.ts';
import type { HfConfig } from '../models/hf-config.ts';
import { toFloat32, type SafetensorsEntry } from '../io/safetensors.ts';
import { gemmaSpec } from '../models/gemma.ts';
import { phi3Spec } from '../models/phi3.ts';
import { qwen3Spec } from '../models/qwen3.ts';
import type { DecoderSpec, LayerType, RopeSpec } from '../models/rope-decoder.ts';
import { FLOAT32_MIN, GraphBuilder } from './onnx-graph.ts';
import { OnnxDataType, type OnnxGraph, type OnnxValueInfo } from './onnx-proto.ts';

export interface DecoderGraph {
  graph: OnnxGraph;
  family: 'decoder';
  head: 'causal-lm' | 'sequence-classification' | 'token-classification';
  inputNames: string[];
  outputNames: string[];
}

function specOf(cfg: HfConfig): DecoderSpec {
  switch (cfg.model_type) {
    case 'qwen3': return qwen3Spec(cfg);
    case 'gemma2': case 'gemma3_text': return gemmaSpec(cfg);
    case 'phi3': return phi3Spec(cfg);
    default: throw new ModelError(`model_type "${cfg.model_type}" has no decoder ONNX exporter`);
  }
}

function act(g: GraphBuilder, x: string, name: string): string {
  switch (name) {
    case 'silu': case 'swish': return g.mul(x, g.sigmoid(x));
    case 'gelu': return g.mul(g.mul(x, g.scalar(0.5)), g.add(g.scalar(1), g.erf(g.mul(x, g.scalar(Math.SQRT1_2)))));
    case 'gelu_new': case 'gelu_pytorch_tanh': {
      const x3 = g.mul(g.mul(x, x), x);
      const inner = g.mul(g.add(x, g.mul(x3, g.scalar(0.044715))), g.scalar(Math.sqrt(2 / Math.PI)));
      return g.mul(g.mul(x, g.scalar(0.5)), g.add(g.scalar(1), g.tanh(inner)));
    }
    default: throw new ModelError(`activation "${name}" is not supported by the decoder ONNX exporter (supported: silu, gelu, gelu_pytorch_tanh)`);
  }
}

/**
 * Builds the generation graph (with KV cache inputs/outputs) of a Qwen3, Gemma 2/3 or Phi-3 causal LM.
 * @example const { graph } = buildDecoderGraph(cfg, (await loadCheckpointTensors(dir)).tensors);
 */
export function buildDecoderGraph(cfg: HfConfig, tensors: Map<string, SafetensorsEntry>): DecoderGraph {
  const spec = specOf(cfg);
  const arch = cfg.architectures?.[0] ?? spec.classes.causal;
  const exportable = [spec.classes.causal, spec.classes.seqCls, ...(spec.classes.tokenCls === null ? [] : [spec.classes.tokenCls])];
  if (!exportable.includes(arch)) throw new ModelError(`architecture "${arch}": only ${exportable.join(', ')} can be exported to ONNX for ${spec.prefix}`);
  // Classification runs once over the whole (right-padded) input: no cache, positions 0..T-1.
  const tokenCls = spec.classes.tokenCls !== null && arch === spec.classes.tokenCls;
  const cls = arch === spec.classes.seqCls || tokenCls;
  const g = new GraphBuilder();
  const entry = (k: string): SafetensorsEntry => {
    const e = tensors.get(k);
    if (!e) throw new ModelError(`checkpoint has no tensor "${k}"; cannot export this model`);
    return e;
  };
  const transposed = (k: string, name: string) => {
    const e = entry(k);
    const [o, i] = e.shape as [number, number];
    const w = toFloat32(e);
    const t = new Float32Array(o * i);
    for (let r = 0; r < o; r++) for (let c = 0; c < i; c++) t[c * o + r] = w[r * i + c]!;
    return g.weight(name, t, [i, o]);
  };
  const linear = (x: string, prefix: string) => g.linear(x, transposed(`${prefix}.weight`, `${prefix}.weight.T`), tensors.has(`${prefix}.bias`) ? g.weight(`${prefix}.bias`, toFloat32(entry(`${prefix}.bias`)), entry(`${prefix}.bias`).shape) : null);
  const rms = (x: string, prefix: string) => {
    const w = toFloat32(entry(`${prefix}.weight`)).map((v) => (spec.onePlusNorm ? Math.fround(1 + v) : v));
    const ms = g.op('ReduceMean', [g.mul(x, x)], [{ name: 'axes', kind: 'ints', value: [-1] }, { name: 'keepdims', kind: 'int', value: 1 }]);
    const y = g.div(x, g.op('Sqrt', [g.add(ms, g.scalar(spec.eps))]));
    return g.mul(y, g.weight(`${prefix}.gamma`, w, [w.length]));
  };
  const int = (v: number) => g.int64([v]);
  const { heads: H, kvHeads: Hkv, headDim: D, rotaryDim: R } = spec;
  const G = H / Hkv;

  // Lengths: T new tokens, L = past + T keys.
  const T1 = g.shape('input_ids', 1, 2);
  const L1 = g.shape('attention_mask', 1, 2);
  const Ts = g.op('Squeeze', [T1]);
  const Ls = g.op('Squeeze', [L1]);
  // Masks per layer type: allowed = key is a token AND j <= i AND (sliding: i - j < W); (B, 1, T, L).
  const qIdx = g.unsqueeze(g.op('Range', [g.sub(Ls, Ts), Ls, g.int64([1], [])]), [1]); // (T, 1)
  const kIdx = g.unsqueeze(g.op('Range', [g.int64([0], []), Ls, g.int64([1], [])]), [0]); // (1, L)
  const keyOk = g.unsqueeze(g.cast('attention_mask', OnnxDataType.BOOL), [1, 2]); // (B, 1, 1, L)
  const causal = g.op('LessOrEqual', [kIdx, qIdx]);
  const maskFor = (window: number | null) => {
    let allowed = causal;
    if (window !== null) allowed = g.op('And', [allowed, g.op('Greater', [kIdx, g.sub(qIdx, g.int64([window], []))])]);
    return g.op('Where', [g.op('And', [keyOk, allowed]), g.scalar(0), g.scalar(FLOAT32_MIN)]);
  };
  const masks: Record<LayerType, string> = { full_attention: maskFor(null), sliding_attention: spec.slidingWindow === null ? maskFor(null) : maskFor(spec.slidingWindow) };

  // RoPE from position_ids: cos/sin (B, 1, T, R), scaled by the attention factor.
  const posIds = cls ? g.unsqueeze(g.op('Range', [g.int64([0], []), Ts, g.int64([1], [])]), [0]) : 'position_ids';
  const pos = g.cast(posIds, OnnxDataType.FLOAT);
  const ropeOf = (r: RopeSpec, name: string) => {
    const tables = (inv: Float64Array, n: string) => {
      const freqs = g.mul(g.unsqueeze(pos, [2]), g.weight(n, Float32Array.from(inv), [inv.length])); // (B, T, R/2)
      const emb = g.op('Concat', [freqs, freqs], [{ name: 'axis', kind: 'int', value: 2 }]);
      const scale = (t: string) => (r.attentionFactor === 1 ? t : g.mul(t, g.scalar(Math.fround(r.attentionFactor))));
      return { cos: g.unsqueeze(scale(g.op('Cos', [emb])), [1]), sin: g.unsqueeze(scale(g.op('Sin', [emb])), [1]) };
    };
    const short = tables(r.invFreq, `${name}_inv_freq`);
    if (r.longInvFreq === null) return short;
    const long = tables(r.longInvFreq, `${name}_long_inv_freq`);
    const maxPos = g.op('ReduceMax', [g.cast(posIds, OnnxDataType.INT64)], [{ name: 'keepdims', kind: 'int', value: 0 }]);
    const useLong = g.op('Greater', [g.add(maxPos, g.int64([1], [])), g.int64([r.originalMax], [])]);
    return { cos: g.op('Where', [useLong, long.cos, short.cos]), sin: g.op('Where', [useLong, long.sin, short.sin]) };
  };
  const ropeFull = ropeOf(spec.rope.full_attention, 'rope_full');
  const ropes: Record<LayerType, { cos: string; sin: string }> = {
    full_attention: ropeFull,
    sliding_attention: spec.rope.sliding_attention === spec.rope.full_attention ? ropeFull : ropeOf(spec.rope.sliding_attention, 'rope_local'),
  };
  const rotate = (x: string, r: { cos: string; sin: string }) => {
    const part = R === D ? x : g.slice(x, int(0), int(R), int(3));
    const x1 = g.slice(part, int(0), int(R / 2), int(3));
    const x2 = g.slice(part, int(R / 2), int(R), int(3));
    const rot = g.add(g.mul(part, r.cos), g.mul(g.op('Concat', [g.op('Neg', [x2]), x1], [{ name: 'axis', kind: 'int', value: 3 }]), r.sin));
    return R === D ? rot : g.op('Concat', [rot, g.slice(x, int(R), int(D), int(3))], [{ name: 'axis', kind: 'int', value: 3 }]);
  };
  const repeatKv = (t: string) => {
    if (G === 1) return t;
    const s = g.shape(t, 0, 4);
    const target = g.op('Concat', [g.slice(s, int(0), int(2), int(0)), int(G), g.slice(s, int(2), int(4), int(0))], [{ name: 'axis', kind: 'int', value: 0 }]);
    return g.reshape(g.op('Expand', [g.unsqueeze(t, [2]), target]), [0, H, -1, D]);
  };

  const embedKey = 'model.embed_tokens.weight';
  let h = g.gather(g.weight(embedKey, toFloat32(entry(embedKey)), entry(embedKey).shape), 'input_ids');
  if (spec.embedScale !== null) h = g.mul(h, g.scalar(spec.embedScale));
  const inputs: OnnxValueInfo[] = [
    { name: 'input_ids', elemType: OnnxDataType.INT64, shape: ['batch_size', 'sequence_length'] },
    { name: 'attention_mask', elemType: OnnxDataType.INT64, shape: ['batch_size', cls ? 'sequence_length' : 'total_sequence_length'] },
    ...(cls ? [] : [{ name: 'position_ids', elemType: OnnxDataType.INT64, shape: ['batch_size', 'sequence_length'] }]),
  ];
  const outputs: OnnxValueInfo[] = [];
  const presents: OnnxValueInfo[] = [];
  for (let i = 0; i < spec.layers; i++) {
    const l = `model.layers.${i}`;
    const type = spec.layerTypes[i]!;
    const x = rms(h, `${l}.input_layernorm`);
    let q: string;
    let k: string;
    let v: string;
    if (spec.fused) {
      const qkv = linear(x, `${l}.self_attn.qkv_proj`);
      q = g.slice(qkv, int(0), int(H * D), int(2));
      k = g.slice(qkv, int(H * D), int((H + Hkv) * D), int(2));
      v = g.slice(qkv, int((H + Hkv) * D), int((H + 2 * Hkv) * D), int(2));
    } else {
      q = linear(x, `${l}.self_attn.q_proj`);
      k = linear(x, `${l}.self_attn.k_proj`);
      v = linear(x, `${l}.self_attn.v_proj`);
    }
    let q4 = g.reshape(q, [0, 0, H, D]);
    let k4 = g.reshape(k, [0, 0, Hkv, D]);
    if (spec.qkNorm) {
      q4 = rms(q4, `${l}.self_attn.q_norm`);
      k4 = rms(k4, `${l}.self_attn.k_norm`);
    }
    const qh = rotate(g.transpose(q4, [0, 2, 1, 3]), ropes[type]);
    const kNew = rotate(g.transpose(k4, [0, 2, 1, 3]), ropes[type]);
    const vNew = g.transpose(g.reshape(v, [0, 0, Hkv, D]), [0, 2, 1, 3]);
    let kAll = kNew;
    let vAll = vNew;
    if (!cls) {
      for (const kind of ['key', 'value']) inputs.push({ name: `past_key_values.${i}.${kind}`, elemType: OnnxDataType.FLOAT, shape: ['batch_size', Hkv, 'past_sequence_length', D] });
      kAll = g.op('Concat', [`past_key_values.${i}.key`, kNew], [{ name: 'axis', kind: 'int', value: 2 }], `present.${i}.key`);
      vAll = g.op('Concat', [`past_key_values.${i}.value`, vNew], [{ name: 'axis', kind: 'int', value: 2 }], `present.${i}.value`);
      for (const kind of ['key', 'value']) presents.push({ name: `present.${i}.${kind}`, elemType: OnnxDataType.FLOAT, shape: ['batch_size', Hkv, 'total_sequence_length', D] });
    }
    let s = g.mul(g.matmul(qh, g.transpose(repeatKv(kAll), [0, 1, 3, 2])), g.scalar(spec.attnScale));
    if (spec.attnSoftcap !== null) s = g.mul(g.tanh(g.mul(s, g.scalar(1 / spec.attnSoftcap))), g.scalar(spec.attnSoftcap));
    s = g.add(s, masks[type]);
    const ctx = g.reshape(g.transpose(g.matmul(g.softmax(s, -1), repeatKv(vAll)), [0, 2, 1, 3]), [0, 0, H * D]);
    const a = linear(ctx, `${l}.self_attn.o_proj`);
    let hmid: string;
    let y: string;
    if (spec.sandwich) {
      hmid = g.add(h, rms(a, `${l}.post_attention_layernorm`));
      y = rms(hmid, `${l}.pre_feedforward_layernorm`);
    } else {
      hmid = g.add(h, a);
      y = rms(hmid, `${l}.post_attention_layernorm`);
    }
    let gate: string;
    let up: string;
    if (spec.fused) {
      const gu = linear(y, `${l}.mlp.gate_up_proj`);
      gate = g.slice(gu, int(0), int(spec.intermediate), int(2));
      up = g.slice(gu, int(spec.intermediate), int(2 * spec.intermediate), int(2));
    } else {
      gate = linear(y, `${l}.mlp.gate_proj`);
      up = linear(y, `${l}.mlp.up_proj`);
    }
    const mlp = linear(g.mul(act(g, gate, spec.act), up), `${l}.mlp.down_proj`);
    h = g.add(hmid, spec.sandwich ? rms(mlp, `${l}.post_feedforward_layernorm`) : mlp);
  }
  h = rms(h, 'model.norm');
  if (tokenCls) {
    // GenericForTokenClassification: `score` (with bias) on every token.
    g.op('Identity', [linear(h, 'score')], [], 'logits');
    outputs.push({ name: 'logits', elemType: OnnxDataType.FLOAT, shape: ['batch_size', 'sequence_length', cfg.num_labels] });
    return { graph: g.build(`${cfg.model_type}-token-classification`, inputs, outputs), family: 'decoder', head: 'token-classification', inputNames: inputs.map((x) => x.name), outputNames: outputs.map((o) => o.name) };
  }
  if (cls) {
    // GenericForSequenceClassification: the last non-padding token ((arange(T) * (ids != pad)).argmax), then `score`.
    const range = g.op('Range', [g.int64([0], []), Ts, g.int64([1], [])]);
    const last = spec.padId === null
      ? g.sub(T1, g.int64([1]))
      : g.op('ArgMax', [g.mul(g.unsqueeze(range, [0]), g.cast(g.op('Not', [g.op('Equal', ['input_ids', g.int64([spec.padId], [])])]), OnnxDataType.INT64))],
        [{ name: 'axis', kind: 'int', value: 1 }, { name: 'keepdims', kind: 'int', value: 0 }]);
    const onehot = g.cast(g.op('Equal', [g.unsqueeze(range, [0]), g.unsqueeze(last, [1])]), OnnxDataType.FLOAT); // (B, T)
    const pooled = g.op('Squeeze', [g.matmul(g.unsqueeze(onehot, [1]), h), g.int64([1])]); // (B, C)
    g.op('Identity', [g.matmul(pooled, transposed('score.weight', 'score.weight.T'))], [], 'logits');
    outputs.push({ name: 'logits', elemType: OnnxDataType.FLOAT, shape: ['batch_size', cfg.num_labels] });
    return { graph: g.build(`${cfg.model_type}-sequence-classification`, inputs, outputs), family: 'decoder', head: 'sequence-classification', inputNames: inputs.map((x) => x.name), outputNames: outputs.map((o) => o.name) };
  }
  const headKey = tensors.has('lm_head.weight') && !spec.tieEmbeddings ? 'lm_head.weight' : embedKey;
  let logits = g.matmul(h, transposed(headKey, 'lm_head.weight.T'));
  if (spec.finalSoftcap !== null) logits = g.mul(g.tanh(g.mul(logits, g.scalar(1 / spec.finalSoftcap))), g.scalar(spec.finalSoftcap));
  g.op('Identity', [logits], [], 'logits');
  outputs.push({ name: 'logits', elemType: OnnxDataType.FLOAT, shape: ['batch_size', 'sequence_length', spec.vocab] }, ...presents);
  return { graph: g.build(`${cfg.model_type}-causal-lm`, inputs, outputs), family: 'decoder', head: 'causal-lm', inputNames: inputs.map((x) => x.name), outputNames: outputs.map((o) => o.name) };
}
