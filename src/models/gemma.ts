// Gemma 2 and Gemma 3 (text) as in transformers' modeling_gemma2.py / modeling_gemma3.py: embeddings
// scaled by √hidden_size (a float32 scalar), (1 + weight) RMSNorm, norms before and after both attention
// and MLP, GeGLU (gelu_pytorch_tanh), scores scaled by query_pre_attn_scalar^-0.5, sliding-window and
// global layers (Gemma 2 alternates; Gemma 3 per layer_types / sliding_window_pattern, its local layers
// with their own RoPE base rope_local_base_freq, q/k RMSNorm per head), tanh soft-capping of attention
// scores and final logits (Gemma 2), tied embeddings. Not here: the multimodal Gemma3ForConditionalGeneration
// (model_type "gemma3"), bidirectional EmbeddingGemma (refused), the block itself (rope-decoder.ts).

import { ModelError } from '../errors.ts';
import type { Gemma2Config, Gemma3TextConfig, HfConfig } from './hf-config.ts';
import { expectModelType, type ModelFamily, type PretrainedTaskModel } from './family.ts';
import { ropeInverseFrequencies } from './llama.ts';
import { classifierDropout } from './qwen3.ts';
import { buildDecoder, idList, layerTypesFromConfig, plainInvFreq, type DecoderSpec, type LayerType, type RopeSpec } from './rope-decoder.ts';
import type { TaskName } from './types.ts';

const plainRope = (invFreq: Float64Array, max: number): RopeSpec => ({ invFreq, longInvFreq: null, originalMax: max, attentionFactor: 1 });

/** The DecoderSpec of a Gemma 2 or Gemma 3 text config. */
export function gemmaSpec(cfg: Gemma2Config | Gemma3TextConfig): DecoderSpec {
  const n = cfg.num_hidden_layers;
  const g3 = cfg.model_type === 'gemma3_text';
  if (g3 && cfg.extra['use_bidirectional_attention'] === true) {
    throw new ModelError('config.json "use_bidirectional_attention": true (EmbeddingGemma) is not supported; only causal Gemma 3 models are');
  }
  let layerTypes = layerTypesFromConfig(cfg, n);
  if (layerTypes === null) {
    const p = g3 ? cfg.extra['sliding_window_pattern'] ?? 6 : 2;
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 1) throw new ModelError(`config.json "sliding_window_pattern" must be a positive integer, got ${JSON.stringify(p)}`);
    layerTypes = Array.from({ length: n }, (_, i): LayerType => ((i + 1) % p !== 0 ? 'sliding_attention' : 'full_attention'));
  }
  const D = cfg.head_dim;
  const global = g3
    ? plainRope(ropeInverseFrequencies({ head_dim: D, rope_theta: cfg.rope_theta, rope_scaling: cfg.rope_scaling }), cfg.max_position_embeddings)
    : plainRope(plainInvFreq(cfg.rope_theta, D), cfg.max_position_embeddings);
  const local = g3 ? plainRope(plainInvFreq(cfg.rope_local_base_freq, D), cfg.max_position_embeddings) : global;
  const prefix = g3 ? 'Gemma3' : 'Gemma2';
  return {
    prefix,
    classes: g3
      ? { model: 'Gemma3TextModel', causal: 'Gemma3ForCausalLM', seqCls: 'Gemma3TextForSequenceClassification', tokenCls: null }
      : { model: 'Gemma2Model', causal: 'Gemma2ForCausalLM', seqCls: 'Gemma2ForSequenceClassification', tokenCls: 'Gemma2ForTokenClassification' },
    hidden: cfg.hidden_size, heads: cfg.num_attention_heads, kvHeads: cfg.num_key_value_heads, headDim: D,
    intermediate: cfg.intermediate_size, layers: n, vocab: cfg.vocab_size, eps: cfg.rms_norm_eps,
    std: cfg.initializer_range, padId: cfg.pad_token_id, eosIds: idList(cfg.eos_token_id), act: cfg.hidden_activation, actKey: 'hidden_activation',
    attentionBias: cfg.attention_bias, fused: false, qkNorm: g3, onePlusNorm: true, sandwich: true,
    embedScale: Math.fround(Math.sqrt(cfg.hidden_size)),
    attnScale: cfg.query_pre_attn_scalar ** -0.5, attnSoftcap: cfg.attn_logit_softcapping, finalSoftcap: cfg.final_logit_softcapping,
    layerTypes, slidingWindow: cfg.sliding_window,
    rope: { full_attention: global, sliding_attention: local }, rotaryDim: D, tieEmbeddings: cfg.tie_word_embeddings,
    residDropout: 0, attentionDropout: cfg.attention_dropout, classifierDropout: classifierDropout(cfg),
  };
}

const GEMMA2_TASKS: readonly TaskName[] = ['text-generation', 'text-classification', 'token-classification', 'feature-extraction'];
const GEMMA3_TASKS: readonly TaskName[] = ['text-generation', 'text-classification', 'feature-extraction'];

/** Gemma 2 and Gemma 3 text for pretrained.ts. */
export const GEMMA_FAMILY: ModelFamily = {
  modelTypes: ['gemma2', 'gemma3_text'],
  baseModelPrefix: 'model',
  tasks: GEMMA2_TASKS,
  architectures: {
    Gemma2ForCausalLM: 'text-generation', Gemma2ForSequenceClassification: 'text-classification',
    Gemma2ForTokenClassification: 'token-classification', Gemma2Model: 'feature-extraction',
    Gemma3ForCausalLM: 'text-generation', Gemma3TextForSequenceClassification: 'text-classification', Gemma3TextModel: 'feature-extraction',
  },
  build(task: TaskName, config: HfConfig): PretrainedTaskModel {
    const cfg = expectModelType(config, 'Gemma', ['gemma2', 'gemma3_text']);
    const g3 = cfg.model_type === 'gemma3_text';
    return buildDecoder(task, cfg, gemmaSpec(cfg), g3 ? 'Gemma 3' : 'Gemma 2', g3 ? GEMMA3_TASKS : GEMMA2_TASKS);
  },
};
