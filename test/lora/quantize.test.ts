// LoRA on a quantised frozen base (QLoRA): on a tiny Llama, the NF4 (double quant) / int8 / bf16 base gives
// the same logits as the fp32 model whose weights were replaced by the dequantised values, the fp32 base
// weights are released, a few AdamW steps on a fixed batch lower the loss (with --bf16 autocast too),
// merging refuses, and the settings refuse quantisation without LoRA.
// Not here: the formats and kernels (test/backend/mixed-precision.test.ts).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { nativeAvailable, nativeBackend } from '../../src/backend/native.ts';
import { dequantize, type QuantFormat } from '../../src/backend/quant.ts';
import { ConfigError, ModelError } from '../../src/errors.ts';
import { makeHfConfig } from '../../src/models/hf-config.ts';
import { loraConfig } from '../../src/lora/config.ts';
import { applyLora, loraState, mergeLora } from '../../src/lora/inject.ts';
import { quantizeLoraBase } from '../../src/lora/quantize.ts';
import { createModel } from '../../src/models/pretrained.ts';
import { AdamW } from '../../src/optim/adamw.ts';
import { resolveSettings } from '../../src/tasks/config.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';

const V = 64;
const build = () => {
  const m = createModel(makeHfConfig('llama', { vocab_size: V, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 64 }), 'text-generation', { seed: 3 });
  applyLora(m, loraConfig({ target_modules: 'all-linear', r: 4, lora_alpha: 8 }));
  return m;
};
const ids = (() => {
  const a = new Int32Array(2 * 16);
  for (let i = 0; i < a.length; i++) a[i] = (i * 13 + 5) % V;
  return a;
})();
const batch = () => ({ inputIds: Tensor.from(ids, [2, 16], 'int32'), labels: Tensor.from(ids, [2, 16], 'int32') });

const run = <T>(fn: () => T): T => (nativeAvailable() ? F.withBackend(nativeBackend, fn) : fn());

describe('LoRA with a quantised base', () => {
  for (const format of ['nf4', 'int8', 'bf16'] as QuantFormat[]) {
    it(`${format}: logits equal the fp32 model holding the dequantised weights`, () =>
      run(() => {
        const q = build();
        const ref = build();
        // Put each quantised layer's dequantised values into the reference model's fp32 weights.
        const report = quantizeLoraBase(q, format, { doubleQuant: format === 'nf4' });
        assert.equal(report.layers, 2 * 7);
        assert.ok(report.storedBytes < report.fp32Bytes * (format === 'nf4' ? 0.14 : format === 'int8' ? 0.3 : 0.51)); // int8: + a 4-byte absmax per 32-wide row here
        for (const [path, layer] of loraState(q)!.layers) {
          assert.ok(layer.weight.isDisposed, `${path}: fp32 base weight released`);
          const target = loraState(ref)!.layers.get(path)!;
          (target.weight.data as Float32Array).set(dequantize(layer.quantizedWeight!));
        }
        q.eval();
        ref.eval();
        const a = F.noGrad(() => Float32Array.from(q.forward(batch()).logits.floatData));
        const b = F.noGrad(() => Float32Array.from(ref.forward(batch()).logits.floatData));
        let worst = 0;
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
        assert.ok(worst < 1e-5, `max logit difference ${worst}`);
      }));
  }

  for (const bf16 of [false, true]) {
    it(`NF4 + double quant: LoRA training steps lower the loss${bf16 ? ' (bf16 autocast)' : ''}`, () =>
      run(() => {
        const m = build();
        quantizeLoraBase(m, 'nf4', { doubleQuant: true });
        m.train();
        const params = m.trainableParameters().map(([, t]) => t);
        assert.ok(params.length === 2 * 2 * 7, 'only the adapters train');
        const opt = new AdamW([{ params, weightDecay: 0 }], { lr: 1e-2 });
        const losses: number[] = [];
        for (let s = 0; s < 8; s++) {
          losses.push(
            F.tidy(() => {
              const out = F.autocast(bf16 ? 'bf16' : 'fp32', () => m.forward(batch()));
              out.loss!.backward();
              return out.loss!.item();
            }),
          );
          opt.update();
          opt.zeroGrad();
        }
        assert.ok(losses[7] < losses[0] - 0.05, `loss ${losses[0]} -> ${losses[7]}`);
      }));
  }

  it('merging into a quantised base refuses', () => {
    const m = build();
    quantizeLoraBase(m, 'int8');
    assert.throws(() => mergeLora(m), ModelError);
  });

  it('settings: quantisation needs LoRA, one format, and no merge', () => {
    assert.throws(() => resolveSettings([{ values: { load_in_4bit: true }, source: 'test' }]), (e: unknown) => e instanceof ConfigError && /--lora-r/.test(e.message));
    const lora = { task: 'text-generation', lora_r: 8, model: './base-model' };
    assert.throws(() => resolveSettings([{ values: { ...lora, load_in_4bit: true, load_in_8bit: true }, source: 'test' }]), ConfigError);
    assert.throws(() => resolveSettings([{ values: { ...lora, load_in_8bit: true, merge_lora: true }, source: 'test' }]), ConfigError);
    assert.throws(() => resolveSettings([{ values: { ...lora, load_in_4bit: true, bnb_4bit_quant_type: 'fp4' }, source: 'test' }]), /fp4 is not supported/);
    const ok = resolveSettings([{ values: { ...lora, load_in_4bit: true, bnb_4bit_use_double_quant: true, bf16: true, gradient_checkpointing: true }, source: 'test' }]);
    assert.equal(ok.pipeline.load_in_4bit, true);
    assert.equal(ok.args.bf16, true);
    assert.equal(ok.args.gradient_checkpointing, true);
  });
});
