// Qwen3 as in transformers' modeling_qwen3.py: Llama's block with an RMSNorm over each head of q and k
// before RoPE, head_dim from config.json, `attention_bias` on all four projections (off in every release),
// and sliding-window layers from `max_window_layers` on when use_sliding_window is set (or per
// `layer_types`). Heads: Qwen3ForCausalLM, Qwen3ForSequenceClassification, Qwen3ForTokenClassification.
// Not here: Qwen3ForQuestionAnswering (its base model is named "transformer" for backward compatibility;
// not built), the block itself (rope-decoder.ts).

import type { HfConfig, Qwen3Config } from './hf-config.ts';
import { expectModelType, type ModelFamily, type PretrainedTaskModel } from './family.ts';
import { ropeInverseFrequencies } from './llama.ts';
import { buildDecoder, idList, layerTypesFromConfig, type DecoderSpec, type LayerType, type RopeSpec } from './rope-decoder.ts';
import type { TaskName } from './types.ts';

/** The DecoderSpec of a Qwen3 config (transformers' Qwen3Config.__post_init__ for layer_types). */
export function qwen3Spec(cfg: Qwen3Config): DecoderSpec {
  const window = cfg.use_sliding_window ? cfg.sliding_window : null;
  const layerTypes: LayerType[] = layerTypesFromConfig(cfg, cfg.num_hidden_layers) ??
    Array.from({ length: cfg.num_hidden_layers }, (_, i) => (window !== null && i >= cfg.max_window_layers ? 'sliding_attention' : 'full_attention'));
  const rope: RopeSpec = { invFreq: ropeInverseFrequencies(cfg), longInvFreq: null, originalMax: cfg.max_position_embeddings, attentionFactor: 1 };
  return {
    prefix: 'Qwen3',
    classes: { model: 'Qwen3Model', causal: 'Qwen3ForCausalLM', seqCls: 'Qwen3ForSequenceClassification', tokenCls: 'Qwen3ForTokenClassification' },
    hidden: cfg.hidden_size, heads: cfg.num_attention_heads, kvHeads: cfg.num_key_value_heads, headDim: cfg.head_dim,
    intermediate: cfg.intermediate_size, layers: cfg.num_hidden_layers, vocab: cfg.vocab_size, eps: cfg.rms_norm_eps,
    std: cfg.initializer_range, padId: cfg.pad_token_id, eosIds: idList(cfg.eos_token_id), act: cfg.hidden_act, actKey: 'hidden_act',
    attentionBias: cfg.attention_bias, fused: false, qkNorm: true, onePlusNorm: false, sandwich: false, embedScale: null,
    attnScale: cfg.head_dim ** -0.5, attnSoftcap: null, finalSoftcap: null, layerTypes, slidingWindow: window,
    rope: { full_attention: rope, sliding_attention: rope }, rotaryDim: cfg.head_dim, tieEmbeddings: cfg.tie_word_embeddings,
    residDropout: 0, attentionDropout: cfg.attention_dropout, classifierDropout: classifierDropout(cfg),
  };
}

/** GenericForTokenClassification's dropout: classifier_dropout, else hidden_dropout, else 0.1. */
export function classifierDropout(cfg: HfConfig): number {
  for (const k of ['classifier_dropout', 'hidden_dropout']) {
    const v = cfg.extra[k];
    if (typeof v === 'number') return v;
  }
  return 0.1;
}

const QWEN3_TASKS: readonly TaskName[] = ['text-generation', 'text-classification', 'token-classification', 'feature-extraction'];

/** The Qwen3 family for pretrained.ts. */
export const QWEN3_FAMILY: ModelFamily = {
  modelTypes: ['qwen3'],
  baseModelPrefix: 'model',
  tasks: QWEN3_TASKS,
  architectures: {
    Qwen3ForCausalLM: 'text-generation', Qwen3ForSequenceClassification: 'text-classification',
    Qwen3ForTokenClassification: 'token-classification', Qwen3Model: 'feature-extraction',
  },
  build(task: TaskName, config: HfConfig): PretrainedTaskModel {
    const cfg = expectModelType(config, 'Qwen3', ['qwen3']);
    return buildDecoder(task, cfg, qwen3Spec(cfg), 'Qwen3', QWEN3_TASKS);
  },
};
