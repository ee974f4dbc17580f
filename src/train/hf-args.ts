// Every Hugging Face `TrainingArguments` name (transformers' training_args.py, v4 and v5 fields) that
// finetune does not implement, with what to use instead, so a config file brought from a Trainer script
// gets "not supported: fp16 (...)" rather than "is not a setting". A value that already matches what
// finetune does (fp16: false, optim: adamw_torch, report_to: none...) is accepted and ignored.
// Not here: the settings finetune implements (args.ts) and the pipeline's own keys (pipeline/config.ts).

/** Why a Trainer argument does nothing here, what to use instead, and which values are harmless. */
export interface UnsupportedArgument {
  /** What to use instead ("use <setting>") or why there is none, or null. */
  use: string | null;
  /** Values that match finetune's own behaviour; given one, the key is accepted and ignored. */
  harmless: readonly unknown[];
}

const FP32 = 'use bf16 (bf16 mixed precision; fp16 has no fast CPU path)';
const NONE = null;
const off = [false, null, 'false'];

function u(use: string | null, harmless: readonly unknown[] = [null]): UnsupportedArgument {
  return { use, harmless };
}

/** Trainer arguments finetune does not implement (the keys it does are in args.ts and win over this table). */
export const UNSUPPORTED_TRAINING_ARGUMENTS: Readonly<Record<string, UnsupportedArgument>> = {
  // precision and compilation
  fp16: u(FP32, off),
  fp16_full_eval: u(FP32, off),
  bf16_full_eval: u('use bf16 (evaluation runs under bf16 autocast too)', off),
  tf32: u(FP32, off),
  fp16_opt_level: u(FP32, [null, 'O1']),
  fp16_backend: u(FP32, [null, 'auto']),
  half_precision_backend: u(FP32, [null, 'auto']),
  torch_compile: u(NONE, off),
  torch_compile_backend: u(NONE),
  torch_compile_mode: u(NONE),
  torchdynamo: u(NONE),
  jit_mode_eval: u(NONE, off),
  use_ipex: u(NONE, off),
  use_liger_kernel: u(NONE, off),
  liger_kernel_config: u(NONE),
  // memory
  gradient_checkpointing_kwargs: u('use gradient_checkpointing (every layer recomputed; no options)'),
  auto_find_batch_size: u('use per_device_train_batch_size', off),
  torch_empty_cache_steps: u(NONE),
  use_cache: u(NONE, off),
  // optimizer and schedule
  optim: u('use the built-in AdamW, tuned with adam_beta1, adam_beta2, adam_epsilon and weight_decay', [null, 'adamw_torch', 'adamw_torch_fused', 'adamw_hf']),
  optim_args: u('use adam_beta1, adam_beta2, adam_epsilon and weight_decay'),
  optim_target_modules: u('use lora_target_modules with lora_r'),
  adafactor: u('use the built-in AdamW', off),
  lr_scheduler_kwargs: u('use lr_scheduler_type and warmup_steps / warmup_ratio', [null, {}]),
  label_smoothing_factor: u(NONE, [0, 0.0, null]),
  neftune_noise_alpha: u(NONE),
  average_tokens_across_devices: u(NONE, [true, false, null]),
  // logging and tracking
  logging_strategy: u('use logging_steps', [null, 'steps']),
  logging_first_step: u('use logging_steps', off),
  logging_nan_inf_filter: u(NONE, [true, null]),
  logging_dir: u('use report_to: tensorboard (event files go beside report.html in output_dir)'),
  log_on_each_node: u(NONE, [true, false, null]),
  log_level: u(NONE, [null, 'passive', 'info', 'warning']),
  log_level_replica: u(NONE, [null, 'passive', 'info', 'warning']),
  disable_tqdm: u('the progress bar is drawn only in a terminal; pipe the output to hide it', off),
  run_name: u(NONE),
  project: u(NONE, [null, 'huggingface']),
  trackio_space_id: u(NONE, [null, 'trackio']),
  include_num_input_tokens_seen: u(NONE, [null, false, 'no']),
  include_tokens_per_second: u(NONE, off),
  skip_memory_metrics: u(NONE, [true, null]),
  debug: u(NONE, [null, '', []]),
  // evaluation
  eval_delay: u('use eval_strategy and eval_steps', [0, null]),
  eval_on_start: u(NONE, off),
  prediction_loss_only: u(NONE, off),
  eval_do_concat_batches: u(NONE, [true, null]),
  eval_use_gather_object: u(NONE, off),
  eval_accumulation_steps: u(NONE),
  include_for_metrics: u(NONE, [null, []]),
  include_inputs_for_metrics: u(NONE, off),
  batch_eval_metrics: u(NONE, off),
  use_legacy_prediction_loop: u(NONE, off),
  past_index: u(NONE, [-1, null]),
  // saving and the Hub
  save_only_model: u(NONE, off),
  save_on_each_node: u(NONE, off),
  save_safetensors: u(NONE, [true, null]),
  enable_jit_checkpoint: u('use the built-in Ctrl-C / SIGTERM handling, which saves a checkpoint at the next step', off),
  overwrite_output_dir: u('use a new output_dir', off),
  hub_strategy: u('use push_to_hub (the output folder is uploaded once, at the end)', [null, 'end']),
  hub_always_push: u(NONE, off),
  hub_revision: u(NONE),
  push_to_hub_model_id: u('use hub_model_id'),
  push_to_hub_organization: u('use hub_model_id: "organization/name"'),
  push_to_hub_token: u('use hub_token or the HF_TOKEN environment variable'),
  // resuming and reproducibility
  ignore_data_skip: u(NONE, off),
  restore_callback_states_from_checkpoint: u(NONE, off),
  full_determinism: u('use seed (runs with the same seed and threads are repeatable)', off),
  data_seed: u('use seed'),
  // hardware and distribution
  use_cpu: u(NONE, [true, false, null]),
  no_cuda: u(NONE, [true, false, null]),
  use_mps_device: u(NONE, off),
  tpu_num_cores: u(NONE),
  tpu_metrics_debug: u(NONE, off),
  xpu_backend: u(NONE),
  local_rank: u('launch with finetune launch (it sets LOCAL_RANK)', [-1, null]),
  accelerator_config: u(NONE),
  parallelism_config: u(NONE),
  split_batches: u(NONE, off),
  dispatch_batches: u(NONE),
  ddp_find_unused_parameters: u('finetune launch uses Gloo data parallelism (gradients all-reduced in buckets)'),
  ddp_bucket_cap_mb: u('set the FINETUNE_BUCKET_MB environment variable for finetune launch'),
  ddp_broadcast_buffers: u('finetune launch uses Gloo data parallelism (gradients all-reduced in buckets)'),
  ddp_backend: u('finetune launch uses Gloo data parallelism (gradients all-reduced in buckets)'),
  ddp_timeout: u('use finetune launch --timeout', [null, 1800]),
  fsdp: u(NONE, [null, '', false, []]),
  fsdp_config: u(NONE),
  fsdp_min_num_params: u(NONE, [0, null]),
  fsdp_transformer_layer_cls_to_wrap: u(NONE),
  sharded_ddp: u(NONE, [null, '', false, []]),
  deepspeed: u(NONE),
  mp_parameters: u(NONE, [null, '']),
  ray_scope: u(NONE, [null, 'last']),
  // data loading
  dataloader_drop_last: u(NONE, off),
  dataloader_num_workers: u('use --threads (data is prepared in the main process)', [0, null]),
  dataloader_pin_memory: u(NONE, [true, false, null]),
  dataloader_persistent_workers: u(NONE, off),
  dataloader_prefetch_factor: u(NONE),
  remove_unused_columns: u(NONE, [true, null]),
  train_sampling_strategy: u('use group_by_length: true', [null, 'random']),
  length_column_name: u(NONE, [null, 'length']),
  per_gpu_train_batch_size: u('use per_device_train_batch_size'),
  per_gpu_eval_batch_size: u('use per_device_eval_batch_size'),
  // script flags Trainer itself ignores
  do_train: u('use `finetune train` (it always trains)', [true, false, null]),
  do_eval: u('use eval_strategy', [true, false, null]),
  do_predict: u('use test_file or test_split', [true, false, null]),
};

/** Whether `value` is one of the harmless values (deep equality for [] and {}). */
export function isHarmless(arg: UnsupportedArgument, value: unknown): boolean {
  return arg.harmless.some((h) => JSON.stringify(h) === JSON.stringify(value));
}

/** The "not supported: X (use Y)" text for an unsupported Trainer argument. */
export function notSupportedMessage(key: string, arg: UnsupportedArgument): string {
  return `not supported: ${key}${arg.use ? ` (${arg.use})` : ''}`;
}
