// Phi-3 (and Phi-4-mini, which shares model_type "phi3") as in transformers' modeling_phi3.py: one fused
// qkv_proj and one gate_up_proj (gate first), partial rotary (partial_rotary_factor of each head rotated),
// longrope ("su") scaling — short_factor while max(position_ids) + 1 <= original_max_position_embeddings,
// long_factor beyond, cos/sin scaled by the attention factor √(1 + ln(s) / ln(original)) with
// s = max_position_embeddings / original_max_position_embeddings — residual dropout, and a sliding window
// on every layer when config.json sets one. Heads: causal LM, sequence and token classification.
// Generation drops the KV cache once when the sequence crosses the switch (cacheInvalidAt), as transformers
// does. Not here: the block itself (rope-decoder.ts).

import { ModelError } from '../errors.ts';
import type { HfConfig, Phi3Config } from './hf-config.ts';
import type { JsonObject } from '../io/json.ts';
import { expectModelType, type ModelFamily, type PretrainedTaskModel } from './family.ts';
import { classifierDropout } from './qwen3.ts';
import { buildDecoder, idList, plainInvFreq, type DecoderSpec, type RopeSpec } from './rope-decoder.ts';
import type { TaskName } from './types.ts';

function factorList(scaling: JsonObject, key: string, n: number): number[] {
  const v = scaling[key];
  if (!Array.isArray(v) || v.length !== n || !v.every((x) => typeof x === 'number')) {
    throw new ModelError(`config.json "rope_scaling.${key}" must be a list of ${n} numbers (rotary dim / 2), got ${JSON.stringify(v)?.slice(0, 80)}`);
  }
  return v as number[];
}

/** Phi-3's RoPE: plain, or longrope with short/long factors and the attention factor (transformers' _compute_longrope_parameters). */
export function phi3Rope(cfg: Phi3Config, rotaryDim: number): RopeSpec {
  const scaling = cfg.rope_scaling;
  const type = scaling === null ? 'default' : String(scaling['rope_type'] ?? scaling['type'] ?? 'default');
  if (scaling === null || type === 'default') {
    return { invFreq: plainInvFreq(cfg.rope_theta, rotaryDim), longInvFreq: null, originalMax: cfg.max_position_embeddings, attentionFactor: 1 };
  }
  if (type !== 'longrope' && type !== 'su') {
    throw new ModelError(`config.json "rope_scaling": rope type "${type}" is not supported for Phi-3 (supported: longrope, su, or none)`);
  }
  const half = rotaryDim / 2;
  const fromScaling = scaling['original_max_position_embeddings'];
  const original = typeof fromScaling === 'number' ? fromScaling : cfg.original_max_position_embeddings;
  const factor = cfg.max_position_embeddings / original;
  const given = scaling['attention_factor'];
  const attentionFactor = typeof given === 'number' ? given : factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(original));
  return {
    invFreq: plainInvFreq(cfg.rope_theta, rotaryDim, factorList(scaling, 'short_factor', half)),
    longInvFreq: plainInvFreq(cfg.rope_theta, rotaryDim, factorList(scaling, 'long_factor', half)),
    originalMax: original,
    attentionFactor,
  };
}

/** The DecoderSpec of a Phi-3 config. */
export function phi3Spec(cfg: Phi3Config): DecoderSpec {
  const D = cfg.head_dim;
  const rotaryDim = Math.trunc(D * cfg.partial_rotary_factor);
  if (rotaryDim % 2 !== 0 || rotaryDim <= 0) throw new ModelError(`config.json "partial_rotary_factor" ${cfg.partial_rotary_factor} gives an odd or empty rotary dim ${rotaryDim} of head_dim ${D}`);
  const rope = phi3Rope(cfg, rotaryDim);
  return {
    prefix: 'Phi3',
    classes: { model: 'Phi3Model', causal: 'Phi3ForCausalLM', seqCls: 'Phi3ForSequenceClassification', tokenCls: 'Phi3ForTokenClassification' },
    hidden: cfg.hidden_size, heads: cfg.num_attention_heads, kvHeads: cfg.num_key_value_heads, headDim: D,
    intermediate: cfg.intermediate_size, layers: cfg.num_hidden_layers, vocab: cfg.vocab_size, eps: cfg.rms_norm_eps,
    std: cfg.initializer_range, padId: cfg.pad_token_id, eosIds: idList(cfg.eos_token_id), act: cfg.hidden_act, actKey: 'hidden_act',
    attentionBias: false, fused: true, qkNorm: false, onePlusNorm: false, sandwich: false, embedScale: null,
    attnScale: D ** -0.5, attnSoftcap: null, finalSoftcap: null,
    layerTypes: Array.from({ length: cfg.num_hidden_layers }, () => (cfg.sliding_window === null ? 'full_attention' : 'sliding_attention')),
    slidingWindow: cfg.sliding_window,
    rope: { full_attention: rope, sliding_attention: rope }, rotaryDim, tieEmbeddings: cfg.tie_word_embeddings,
    residDropout: cfg.resid_pdrop, attentionDropout: cfg.attention_dropout, classifierDropout: classifierDropout(cfg),
  };
}

const PHI3_TASKS: readonly TaskName[] = ['text-generation', 'text-classification', 'token-classification', 'feature-extraction'];

/** The Phi-3 family for pretrained.ts. */
export const PHI3_FAMILY: ModelFamily = {
  modelTypes: ['phi3'],
  baseModelPrefix: 'model',
  tasks: PHI3_TASKS,
  architectures: {
    Phi3ForCausalLM: 'text-generation', Phi3ForSequenceClassification: 'text-classification',
    Phi3ForTokenClassification: 'token-classification', Phi3Model: 'feature-extraction',
  },
  build(task: TaskName, config: HfConfig): PretrainedTaskModel {
    const cfg = expectModelType(config, 'Phi-3', ['phi3']);
    return buildDecoder(task, cfg, phi3Spec(cfg), 'Phi-3', PHI3_TASKS);
  },
};
