// The config.json fields we model for each supported model_type, with the defaults Python
// `transformers` fills when a field is absent (from configuration_bert.py, configuration_roberta.py,
// configuration_xlm_roberta.py, configuration_distilbert.py, configuration_gpt2.py,
// configuration_llama.py, configuration_mistral.py, configuration_qwen2.py, configuration_qwen3.py,
// configuration_gemma2.py, configuration_gemma3.py, configuration_phi3.py, configuration_deberta_v2.py,
// configuration_modernbert.py and PreTrainedConfig).
// Field names are Hugging Face's spelling. Not here: parsing, validation, writing (hf-config.ts).

import type { JsonObject } from '../io/json.ts';

/** Value kinds a config field can hold. `ids` is a token id or a list of them (eos_token_id). */
export type FieldKind = 'int' | 'float' | 'bool' | 'string' | 'int?' | 'float?' | 'string?' | 'object?' | 'ids?';

/** TypeScript type of a field kind. */
export type KindType<K extends FieldKind> =
  K extends 'int' | 'float' ? number
  : K extends 'bool' ? boolean
  : K extends 'string' ? string
  : K extends 'int?' | 'float?' ? number | null
  : K extends 'string?' ? string | null
  : K extends 'object?' ? JsonObject | null
  : K extends 'ids?' ? number | number[] | null
  : never;

/** One field: its kind, its default, and an alias Python maps onto it (`attribute_map`). */
export interface FieldSpec<K extends FieldKind = FieldKind> {
  kind: K;
  default: KindType<K>;
  alias?: string;
}

const f = <K extends FieldKind>(kind: K, dflt: KindType<K>, alias?: string): FieldSpec<K> =>
  alias === undefined ? { kind, default: dflt } : { kind, default: dflt, alias };

/** Object type holding one value per field of a schema. */
export type FieldsOf<S> = { -readonly [K in keyof S]: S[K] extends FieldSpec<infer T> ? KindType<T> : never };

/** PreTrainedConfig fields every model has (labels and architectures are handled apart). */
const COMMON = {
  pad_token_id: f('int?', null), // padding token id
  bos_token_id: f('int?', null), // beginning-of-sequence token id
  eos_token_id: f('ids?', null), // end-of-sequence token id(s)
  tie_word_embeddings: f('bool', true), // output projection shares the input embedding matrix
};

/** BERT (configuration_bert.py). RoBERTa and XLM-RoBERTa use the same fields. */
export const BERT_FIELDS = {
  ...COMMON,
  pad_token_id: f('int?', 0),
  vocab_size: f('int', 30522), // rows of the word embedding
  hidden_size: f('int', 768), // width of every layer
  num_hidden_layers: f('int', 12), // encoder layers
  num_attention_heads: f('int', 12), // heads per attention layer
  intermediate_size: f('int', 3072), // feed-forward inner width
  hidden_act: f('string', 'gelu'), // feed-forward activation (erf GELU)
  hidden_dropout_prob: f('float', 0.1), // dropout on embeddings and sublayer outputs
  attention_probs_dropout_prob: f('float', 0.1), // dropout on attention probabilities
  max_position_embeddings: f('int', 512), // rows of the position embedding
  type_vocab_size: f('int', 2), // rows of the token-type (segment) embedding
  initializer_range: f('float', 0.02), // std of the normal init
  layer_norm_eps: f('float', 1e-12), // LayerNorm epsilon
  position_embedding_type: f('string', 'absolute'), // only "absolute" is used by the checkpoints we load
  use_cache: f('bool', true), // decoder KV cache (unused by encoders)
  classifier_dropout: f('float?', null), // head dropout; null = hidden_dropout_prob
};

/** RoBERTa / XLM-RoBERTa (configuration_roberta.py): BERT fields with RoBERTa's special ids. */
export const ROBERTA_FIELDS = {
  ...BERT_FIELDS,
  pad_token_id: f('int?', 1),
  bos_token_id: f('int?', 0),
  eos_token_id: f('ids?', 2),
};

/** DistilBERT (configuration_distilbert.py); aliases are its `attribute_map`. */
export const DISTILBERT_FIELDS = {
  ...COMMON,
  pad_token_id: f('int?', 0),
  vocab_size: f('int', 30522), // rows of the word embedding
  max_position_embeddings: f('int', 512), // rows of the position embedding
  sinusoidal_pos_embds: f('bool', false), // fixed sinusoidal instead of learned positions
  n_layers: f('int', 6, 'num_hidden_layers'), // transformer blocks
  n_heads: f('int', 12, 'num_attention_heads'), // heads per attention layer
  dim: f('int', 768, 'hidden_size'), // width of every layer
  hidden_dim: f('int', 4 * 768), // feed-forward inner width
  dropout: f('float', 0.1), // dropout on embeddings and sublayer outputs
  attention_dropout: f('float', 0.1), // dropout on attention probabilities
  activation: f('string', 'gelu'), // feed-forward activation
  initializer_range: f('float', 0.02), // std of the normal init
  qa_dropout: f('float', 0.1), // question-answering head dropout
  seq_classif_dropout: f('float', 0.2), // sequence-classification head dropout
};

/** GPT-2 (configuration_gpt2.py); aliases are its `attribute_map`. */
export const GPT2_FIELDS = {
  ...COMMON,
  bos_token_id: f('int?', 50256),
  eos_token_id: f('ids?', 50256),
  vocab_size: f('int', 50257), // rows of the token embedding
  n_positions: f('int', 1024, 'max_position_embeddings'), // rows of the position embedding
  n_embd: f('int', 768, 'hidden_size'), // width of every layer
  n_layer: f('int', 12, 'num_hidden_layers'), // transformer blocks
  n_head: f('int', 12, 'num_attention_heads'), // heads per attention layer
  n_inner: f('int?', null), // feed-forward inner width; null = 4 * n_embd
  activation_function: f('string', 'gelu_new'), // feed-forward activation (tanh GELU)
  resid_pdrop: f('float', 0.1), // dropout on sublayer outputs
  embd_pdrop: f('float', 0.1), // dropout on embeddings
  attn_pdrop: f('float', 0.1), // dropout on attention probabilities
  layer_norm_epsilon: f('float', 1e-5), // LayerNorm epsilon
  initializer_range: f('float', 0.02), // std of the normal init
  summary_type: f('string', 'cls_index'), // GPT2DoubleHeads summary settings (unused by our heads)
  summary_use_proj: f('bool', true),
  summary_activation: f('string?', null),
  summary_proj_to_labels: f('bool', true),
  summary_first_dropout: f('float', 0.1),
  scale_attn_weights: f('bool', true), // divide attention scores by sqrt(head_dim)
  use_cache: f('bool', true), // KV cache during generation
  scale_attn_by_inverse_layer_idx: f('bool', false), // also divide scores by layer_idx + 1
  reorder_and_upcast_attn: f('bool', false), // float32 attention (numerics only)
};

/** Llama (configuration_llama.py). Mistral and Qwen2 map onto these fields with their own defaults. */
export const LLAMA_FIELDS = {
  ...COMMON,
  bos_token_id: f('int?', 1),
  eos_token_id: f('ids?', 2),
  tie_word_embeddings: f('bool', false),
  vocab_size: f('int', 32000), // rows of the token embedding
  hidden_size: f('int', 4096), // width of every layer
  intermediate_size: f('int', 11008), // SwiGLU inner width
  num_hidden_layers: f('int', 32), // decoder layers
  num_attention_heads: f('int', 32), // query heads
  num_key_value_heads: f('int?', null), // key/value heads (GQA); null = num_attention_heads
  head_dim: f('int?', null), // per-head width; null = hidden_size / num_attention_heads
  hidden_act: f('string', 'silu'), // gate activation
  max_position_embeddings: f('int', 2048), // longest sequence the RoPE was trained for
  initializer_range: f('float', 0.02), // std of the normal init
  rms_norm_eps: f('float', 1e-6), // RMSNorm epsilon
  use_cache: f('bool', true), // KV cache during generation
  pretraining_tp: f('int', 1), // tensor-parallel rank used in pretraining (numerics only)
  rope_theta: f('float', 10000.0), // RoPE base
  rope_scaling: f('object?', null), // RoPE scaling ({rope_type, factor, ...}); null = plain RoPE
  attention_bias: f('bool', false), // bias on q, k, v and o projections
  attention_dropout: f('float', 0.0), // dropout on attention probabilities
  mlp_bias: f('bool', false), // bias on gate, up and down projections
  sliding_window: f('int?', null), // local attention window (Mistral, Qwen2)
  use_sliding_window: f('bool', false), // Qwen2: whether sliding_window applies at all
  max_window_layers: f('int?', null), // Qwen2: layers below this use full attention
};

/** Mistral (configuration_mistral.py). */
export const MISTRAL_FIELDS = {
  ...LLAMA_FIELDS,
  intermediate_size: f('int', 14336),
  num_key_value_heads: f('int?', 8),
  max_position_embeddings: f('int', 4096 * 32),
  sliding_window: f('int?', 4096),
};

/** Qwen2 (configuration_qwen2.py). q/k/v projections always carry a bias, o_proj never. */
export const QWEN2_FIELDS = {
  ...LLAMA_FIELDS,
  bos_token_id: f('int?', null),
  eos_token_id: f('ids?', null),
  vocab_size: f('int', 151936),
  intermediate_size: f('int', 22016),
  num_key_value_heads: f('int?', 32),
  max_position_embeddings: f('int', 32768),
  sliding_window: f('int?', 4096),
  max_window_layers: f('int?', 28),
};

/** Qwen3 (configuration_qwen3.py): Llama-shaped with per-head q/k RMSNorm and `attention_bias` on all four projections. */
export const QWEN3_FIELDS = {
  ...COMMON,
  tie_word_embeddings: f('bool', false),
  vocab_size: f('int', 151936), // rows of the token embedding
  hidden_size: f('int', 4096), // width of every layer
  intermediate_size: f('int', 22016), // SwiGLU inner width
  num_hidden_layers: f('int', 32), // decoder layers
  num_attention_heads: f('int', 32), // query heads
  num_key_value_heads: f('int?', 32), // key/value heads (GQA); null = num_attention_heads
  head_dim: f('int', 128), // per-head width (independent of hidden_size)
  hidden_act: f('string', 'silu'), // gate activation
  max_position_embeddings: f('int', 32768), // longest sequence the RoPE was trained for
  initializer_range: f('float', 0.02), // std of the normal init
  rms_norm_eps: f('float', 1e-6), // RMSNorm epsilon (also of q_norm / k_norm)
  use_cache: f('bool', true), // KV cache during generation
  rope_theta: f('float', 10000.0), // RoPE base
  rope_scaling: f('object?', null), // RoPE scaling ({rope_type, factor, ...}); null = plain RoPE
  attention_bias: f('bool', false), // bias on q, k, v and o projections
  attention_dropout: f('float', 0.0), // dropout on attention probabilities
  use_sliding_window: f('bool', false), // whether sliding_window applies at all
  sliding_window: f('int?', 4096), // local attention window of the sliding layers
  max_window_layers: f('int', 28), // layers from this index on use the sliding window (when layer_types is absent)
};

/** Gemma 2 (configuration_gemma2.py). */
export const GEMMA2_FIELDS = {
  ...COMMON,
  pad_token_id: f('int?', 0),
  eos_token_id: f('ids?', 1),
  bos_token_id: f('int?', 2),
  vocab_size: f('int', 256000), // rows of the token embedding
  hidden_size: f('int', 2304), // width of every layer
  intermediate_size: f('int', 9216), // GeGLU inner width
  num_hidden_layers: f('int', 26), // decoder layers
  num_attention_heads: f('int', 8), // query heads
  num_key_value_heads: f('int?', 4), // key/value heads (GQA)
  head_dim: f('int', 256), // per-head width
  hidden_activation: f('string', 'gelu_pytorch_tanh'), // gate activation
  max_position_embeddings: f('int', 8192), // longest sequence the RoPE was trained for
  initializer_range: f('float', 0.02), // std of the normal init
  rms_norm_eps: f('float', 1e-6), // (1 + weight) RMSNorm epsilon
  use_cache: f('bool', true), // KV cache during generation
  rope_theta: f('float', 10000.0), // RoPE base
  attention_bias: f('bool', false), // bias on q, k, v and o projections
  attention_dropout: f('float', 0.0), // dropout on attention probabilities
  query_pre_attn_scalar: f('int', 256), // attention scores are scaled by query_pre_attn_scalar^-0.5
  sliding_window: f('int?', 4096), // window of the sliding (even-numbered) layers
  final_logit_softcapping: f('float?', 30.0), // logits = cap * tanh(logits / cap)
  attn_logit_softcapping: f('float?', 50.0), // scores = cap * tanh(scores / cap)
};

/** Gemma 3 text (configuration_gemma3.py, Gemma3TextConfig, model_type "gemma3_text"). */
export const GEMMA3_TEXT_FIELDS = {
  ...GEMMA2_FIELDS,
  vocab_size: f('int', 262208),
  max_position_embeddings: f('int', 131072),
  rope_theta: f('float', 1000000.0), // RoPE base of the global (full-attention) layers
  rope_scaling: f('object?', null), // RoPE scaling of the global layers
  rope_local_base_freq: f('float', 10000.0), // RoPE base of the sliding (local) layers
  final_logit_softcapping: f('float?', null),
  attn_logit_softcapping: f('float?', null),
};

/** Phi-3 (configuration_phi3.py): fused qkv_proj and gate_up_proj, partial rotary, longrope scaling. */
export const PHI3_FIELDS = {
  ...COMMON,
  bos_token_id: f('int?', 1),
  eos_token_id: f('ids?', 32000),
  pad_token_id: f('int?', 32000),
  tie_word_embeddings: f('bool', false),
  vocab_size: f('int', 32064), // rows of the token embedding
  hidden_size: f('int', 3072), // width of every layer
  intermediate_size: f('int', 8192), // SwiGLU inner width (gate_up_proj holds 2x this)
  num_hidden_layers: f('int', 32), // decoder layers
  num_attention_heads: f('int', 32), // query heads
  num_key_value_heads: f('int?', null), // key/value heads (GQA); null = num_attention_heads
  head_dim: f('int?', null), // per-head width; null = hidden_size / num_attention_heads
  resid_pdrop: f('float', 0.0), // dropout on sublayer outputs
  embd_pdrop: f('float', 0.0), // dropout on embeddings (unused by transformers' Phi3Model)
  attention_dropout: f('float', 0.0), // dropout on attention probabilities
  hidden_act: f('string', 'silu'), // gate activation
  max_position_embeddings: f('int', 4096), // longest sequence (longrope: the extended length)
  original_max_position_embeddings: f('int', 4096), // pretraining length; longrope switches factors beyond it
  initializer_range: f('float', 0.02), // std of the normal init
  rms_norm_eps: f('float', 1e-5), // RMSNorm epsilon
  use_cache: f('bool', true), // KV cache during generation
  rope_theta: f('float', 10000.0), // RoPE base
  rope_scaling: f('object?', null), // {type|rope_type: "longrope", short_factor, long_factor} or null
  partial_rotary_factor: f('float', 1.0), // fraction of head_dim that is rotated
  sliding_window: f('int?', null), // local attention window of every layer, or null
};

/** DeBERTa-v2 / v3 (configuration_deberta_v2.py; the kwargs-only settings it reads with getattr too). */
export const DEBERTA_V2_FIELDS = {
  ...COMMON,
  pad_token_id: f('int?', 0),
  vocab_size: f('int', 128100), // rows of the word embedding
  hidden_size: f('int', 1536), // width of every layer
  num_hidden_layers: f('int', 24), // encoder layers
  num_attention_heads: f('int', 24), // heads per attention layer
  intermediate_size: f('int', 6144), // feed-forward inner width
  hidden_act: f('string', 'gelu'), // feed-forward activation
  hidden_dropout_prob: f('float', 0.1), // dropout on embeddings, sublayer outputs and relative embeddings
  attention_probs_dropout_prob: f('float', 0.1), // dropout on attention probabilities
  max_position_embeddings: f('int', 512), // absolute positions (and relative span when max_relative_positions < 1)
  type_vocab_size: f('int', 0), // token-type rows; 0 = no token-type embedding
  initializer_range: f('float', 0.02), // std of the normal init
  layer_norm_eps: f('float', 1e-7), // LayerNorm epsilon
  relative_attention: f('bool', false), // disentangled relative-position attention
  max_relative_positions: f('int', -1), // relative span; < 1 = max_position_embeddings
  position_biased_input: f('bool', true), // add absolute position embeddings to the input
  pooler_dropout: f('float', 0), // dropout before the ContextPooler's dense layer
  pooler_hidden_act: f('string', 'gelu'), // ContextPooler activation
  pooler_hidden_size: f('int?', null), // ContextPooler width; null = hidden_size
  position_buckets: f('int', -1), // log-bucketed relative positions (v3: 256); -1 = none
  share_att_key: f('bool', false), // relative positions projected by query_proj/key_proj (v3) instead of pos_*_proj
  norm_rel_ebd: f('string', 'none'), // "layer_norm": LayerNorm over the relative embeddings
  embedding_size: f('int?', null), // word-embedding width; null = hidden_size (else embed_proj)
  conv_kernel_size: f('int', 0), // ConvLayer after the first layer (v2 xlarge); 0 = none
  attention_head_size: f('int?', null), // per-head width; null = hidden_size / num_attention_heads
  cls_dropout: f('float?', null), // sequence-classification dropout; null = hidden_dropout_prob
  legacy: f('bool', true), // masked-LM head layout (cls.predictions vs lm_predictions)
};

/** ModernBERT (configuration_modernbert.py). */
export const MODERNBERT_FIELDS = {
  ...COMMON,
  pad_token_id: f('int?', 50283),
  eos_token_id: f('ids?', 50282),
  bos_token_id: f('int?', 50281),
  cls_token_id: f('int?', 50281), // [CLS] id
  sep_token_id: f('int?', 50282), // [SEP] id
  vocab_size: f('int', 50368), // rows of the token embedding
  hidden_size: f('int', 768), // width of every layer
  intermediate_size: f('int', 1152), // GeGLU inner width (Wi holds 2x this)
  num_hidden_layers: f('int', 22), // encoder layers
  num_attention_heads: f('int', 12), // heads per attention layer
  hidden_activation: f('string', 'gelu'), // GeGLU activation
  max_position_embeddings: f('int', 8192), // longest sequence
  initializer_range: f('float', 0.02), // std of the (truncated) normal init
  initializer_cutoff_factor: f('float', 2.0), // truncation of the init at ± factor · std
  norm_eps: f('float', 1e-5), // LayerNorm epsilon
  norm_bias: f('bool', false), // LayerNorms carry a bias
  global_rope_theta: f('float', 160000.0), // RoPE base of the global layers
  attention_bias: f('bool', false), // bias on Wqkv and Wo
  attention_dropout: f('float', 0.0), // dropout on attention probabilities and the attention output
  global_attn_every_n_layers: f('int', 3), // layer i is global when i % n == 0, else local
  local_attention: f('int', 128), // local layers attend within |i - j| <= local_attention / 2
  local_rope_theta: f('float?', 10000.0), // RoPE base of the local layers; null = global_rope_theta
  embedding_dropout: f('float', 0.0), // dropout after the embedding norm
  mlp_bias: f('bool', false), // bias on Wi and Wo
  mlp_dropout: f('float', 0.0), // dropout inside the MLP
  decoder_bias: f('bool', true), // masked-LM decoder bias
  classifier_pooling: f('string', 'cls'), // sequence classification pooling: "cls" or "mean"
  classifier_dropout: f('float', 0.0), // dropout before the classifier
  classifier_bias: f('bool', false), // bias on the prediction head's dense layer
  classifier_activation: f('string', 'gelu'), // prediction head activation
  deterministic_flash_attn: f('bool', false), // flash-attention setting (numerics only)
  sparse_prediction: f('bool', false), // masked LM: logits only at labelled positions
  sparse_pred_ignore_index: f('int', -100), // label ignored by sparse prediction
  repad_logits_with_grad: f('bool', false), // flash-attention repadding (unused here)
};

/** model_type → field schema, as AutoConfig dispatches. */
export const SCHEMAS = {
  bert: BERT_FIELDS,
  roberta: ROBERTA_FIELDS,
  'xlm-roberta': ROBERTA_FIELDS,
  distilbert: DISTILBERT_FIELDS,
  gpt2: GPT2_FIELDS,
  llama: LLAMA_FIELDS,
  mistral: MISTRAL_FIELDS,
  qwen2: QWEN2_FIELDS,
  qwen3: QWEN3_FIELDS,
  gemma2: GEMMA2_FIELDS,
  gemma3_text: GEMMA3_TEXT_FIELDS,
  phi3: PHI3_FIELDS,
  'deberta-v2': DEBERTA_V2_FIELDS,
  modernbert: MODERNBERT_FIELDS,
} as const;

/** The model types this project reads. */
export type ModelType = keyof typeof SCHEMAS;
export const SUPPORTED_MODEL_TYPES = Object.keys(SCHEMAS) as ModelType[];

/** Class name written to `architectures` when a config has none (the bare model or its LM head). */
export const DEFAULT_ARCHITECTURE: Record<ModelType, string> = {
  bert: 'BertModel',
  roberta: 'RobertaModel',
  'xlm-roberta': 'XLMRobertaModel',
  distilbert: 'DistilBertModel',
  gpt2: 'GPT2LMHeadModel',
  llama: 'LlamaForCausalLM',
  mistral: 'MistralForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  qwen3: 'Qwen3ForCausalLM',
  gemma2: 'Gemma2ForCausalLM',
  gemma3_text: 'Gemma3ForCausalLM',
  phi3: 'Phi3ForCausalLM',
  'deberta-v2': 'DebertaV2Model',
  modernbert: 'ModernBertModel',
};

/** Fields that must be positive integers when present. */
export const POSITIVE_INT_FIELDS = new Set([
  'vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size',
  'max_position_embeddings', 'type_vocab_size', 'n_layers', 'n_heads', 'dim', 'hidden_dim', 'n_positions',
  'n_embd', 'n_layer', 'n_head', 'n_inner', 'num_key_value_heads', 'head_dim', 'pretraining_tp', 'sliding_window',
  'original_max_position_embeddings',
]);

/** Fields that are probabilities. */
export const PROBABILITY_FIELDS = new Set([
  'hidden_dropout_prob', 'attention_probs_dropout_prob', 'classifier_dropout', 'dropout', 'attention_dropout',
  'qa_dropout', 'seq_classif_dropout', 'pooler_dropout', 'cls_dropout', 'embedding_dropout', 'mlp_dropout', 'resid_pdrop', 'embd_pdrop', 'attn_pdrop', 'summary_first_dropout',
]);
