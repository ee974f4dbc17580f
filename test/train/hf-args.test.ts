// Every transformers TrainingArguments name (training_args.py, v5 fields plus v4 names still found in
// configs) is known to finetune: the ones it implements act, the rest give "not supported: X (use Y)",
// never "is not a setting"; values that match finetune's behaviour pass. And no error message finetune
// builds for settings has doubled punctuation ("?.", "..", ". ."), checked on the generated messages
// and on the literal text of every error in src/.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { DEFAULT_PIPELINE_CONFIG, resolveSettings } from '../../src/tasks/config.ts';
import { DEFAULT_TRAINING_ARGUMENTS } from '../../src/train/args.ts';
import { UNSUPPORTED_TRAINING_ARGUMENTS } from '../../src/train/hf-args.ts';

/** transformers' TrainingArguments fields (src/transformers/training_args.py, main branch, 2025), in file order. */
const HF_V5 = `output_dir per_device_train_batch_size num_train_epochs max_steps learning_rate lr_scheduler_type lr_scheduler_kwargs
warmup_steps optim optim_args weight_decay adam_beta1 adam_beta2 adam_epsilon optim_target_modules gradient_accumulation_steps
average_tokens_across_devices max_grad_norm label_smoothing_factor bf16 fp16 bf16_full_eval fp16_full_eval tf32
gradient_checkpointing gradient_checkpointing_kwargs torch_compile torch_compile_backend torch_compile_mode use_liger_kernel
liger_kernel_config use_cache neftune_noise_alpha torch_empty_cache_steps auto_find_batch_size logging_strategy logging_steps
logging_first_step log_on_each_node logging_nan_inf_filter include_num_input_tokens_seen log_level log_level_replica disable_tqdm
report_to run_name project trackio_space_id eval_strategy eval_steps eval_delay per_device_eval_batch_size prediction_loss_only
eval_on_start eval_do_concat_batches eval_use_gather_object eval_accumulation_steps include_for_metrics batch_eval_metrics
save_only_model save_strategy save_steps save_on_each_node save_total_limit enable_jit_checkpoint push_to_hub hub_token
hub_private_repo hub_model_id hub_strategy hub_always_push hub_revision load_best_model_at_end metric_for_best_model
greater_is_better ignore_data_skip restore_callback_states_from_checkpoint full_determinism seed data_seed use_cpu
accelerator_config parallelism_config dataloader_drop_last dataloader_num_workers dataloader_pin_memory
dataloader_persistent_workers dataloader_prefetch_factor remove_unused_columns label_names train_sampling_strategy
length_column_name ddp_find_unused_parameters ddp_bucket_cap_mb ddp_broadcast_buffers ddp_backend ddp_timeout fsdp fsdp_config
deepspeed debug skip_memory_metrics do_train do_eval do_predict resume_from_checkpoint warmup_ratio logging_dir local_rank`.split(/\s+/);

/** Names of transformers 4.x that configs still carry. */
const HF_V4 = `overwrite_output_dir evaluation_strategy per_gpu_train_batch_size per_gpu_eval_batch_size no_cuda use_mps_device
fp16_opt_level half_precision_backend fp16_backend jit_mode_eval use_ipex tpu_num_cores tpu_metrics_debug past_index group_by_length
ray_scope save_safetensors include_inputs_for_metrics include_tokens_per_second split_batches dispatch_batches push_to_hub_model_id
push_to_hub_organization push_to_hub_token torchdynamo sharded_ddp fsdp_min_num_params fsdp_transformer_layer_cls_to_wrap
mp_parameters adafactor use_legacy_prediction_loop xpu_backend`.split(/\s+/);

const IMPLEMENTED = new Set([...Object.keys(DEFAULT_TRAINING_ARGUMENTS), ...Object.keys(DEFAULT_PIPELINE_CONFIG), 'evaluation_strategy']);

function errorOf(values: Record<string, unknown>, source = 'settings.yaml'): string | null {
  try {
    resolveSettings([{ values, source }]);
    return null;
  } catch (err) {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
    return err.message;
  }
}

/** Doubled punctuation: two marks in a row ("?.", ".,", ";."), or ". ." — but not an ellipsis or a decimal. */
const DOUBLED = /(?<!\.)[.?!;:,]\s?[.;:,](?!\.)|\.\s\./;

describe('every TrainingArguments name', () => {
  for (const key of [...HF_V5, ...HF_V4]) {
    it(key, () => {
      if (IMPLEMENTED.has(key)) return; // acts (tested with its feature)
      const arg = UNSUPPORTED_TRAINING_ARGUMENTS[key];
      assert.ok(arg, `${key} is neither implemented nor in the unsupported table`);
      const bad = 'something-else';
      const msg = errorOf({ [key]: bad });
      assert.ok(msg, `${key}: ${bad} was accepted`);
      assert.match(msg, new RegExp(`not supported: ${key}( \\(.+\\))? \\(in settings\\.yaml\\)$`));
      assert.doesNotMatch(msg, /is not a setting/);
      assert.doesNotMatch(msg, DOUBLED, msg);
      for (const h of arg.harmless) assert.equal(errorOf({ [key]: h }), null, `${key}: ${JSON.stringify(h)} should pass`);
    });
  }
});

describe('settings Trainer users bring', () => {
  it('report_to: tensorboard acts, all = tensorboard, none = nothing, others are not supported', () => {
    assert.deepEqual(resolveSettings([{ values: { report_to: 'tensorboard' }, source: 'f' }]).args.report_to, ['tensorboard']);
    assert.deepEqual(resolveSettings([{ values: { report_to: ['all'] }, source: 'f' }]).args.report_to, ['tensorboard']);
    assert.deepEqual(resolveSettings([{ values: { report_to: 'none' }, source: 'f' }]).args.report_to, []);
    assert.match(errorOf({ report_to: ['tensorboard', 'wandb'] }) ?? '', /not supported: report_to wandb \(use tensorboard or none/);
  });
  it('warmup_steps below 1 is a ratio, as in transformers v5', () => {
    const { args } = resolveSettings([{ values: { warmup_steps: 0.1 }, source: 'f' }]);
    assert.equal(args.warmup_ratio, 0.1);
    assert.equal(args.warmup_steps, 0);
  });
  it('evaluation_strategy (the v4 name) sets eval_strategy', () => {
    assert.equal(resolveSettings([{ values: { evaluation_strategy: 'steps' }, source: 'f' }]).args.eval_strategy, 'steps');
  });
});

describe('error text has no doubled punctuation', () => {
  it('in the messages settings produce', () => {
    const cases: Record<string, unknown>[] = [
      { learning_rat: 1 }, { zzzz_qqqq: 1 }, { learning_rate: 'fast' }, { learning_rate: 2 }, { eval_strategy: 'sometimes' },
      { per_device_train_batch_size: 0 }, { max_steps: 0 }, { warmup_ratio: 1.5 }, { load_best_model_at_end: 'maybe' },
      { task: 'translation' }, { format: 'xml' }, { lora_alpha: 16 }, { problem_type: 'x' }, { blank_labels: 'keep' },
      { validation_split: 0.95 }, { lora_r: 1.5 }, { mlm_probability: 0 }, { early_stopping_patience: 2, eval_strategy: 'no' },
    ];
    for (const c of cases) {
      for (const source of ['settings.yaml', 'command line', '']) {
        const msg = errorOf(c, source);
        assert.ok(msg, `accepted ${JSON.stringify(c)}`);
        assert.doesNotMatch(msg, DOUBLED, msg);
      }
    }
  });

  it('in the literal text of every error thrown in src/', () => {
    const files: string[] = [];
    const walk = (d: string): void => {
      for (const n of readdirSync(d)) {
        const p = join(d, n);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts')) files.push(p);
      }
    };
    walk(new URL('../../src', import.meta.url).pathname);
    const bad: string[] = [];
    for (const f of files) {
      const lines = readFileSync(f, 'utf8').split('\n');
      lines.forEach((line, i) => {
        if (!/Error\(|new \w+Error/.test(line)) return;
        // the text between quotes/backticks, with ${...} parts removed
        for (const m of line.matchAll(/(['"`])((?:\\.|(?!\1).)*)\1/g)) {
          // ranges ("0..n") and property names (": .data") are not punctuation
          const text = m[2].replace(/\$\{[^}]*\}/g, 'X').replace(/(\w)\.\.(?=\w)/g, '$1-').replace(/: \.(?=\w)/g, ': ');
          if (DOUBLED.test(text) && !/\.\.\.|\d\.\d/.test(text)) bad.push(`${f}:${i + 1}: ${text}`);
        }
      });
    }
    assert.deepEqual(bad, []);
  });
});
