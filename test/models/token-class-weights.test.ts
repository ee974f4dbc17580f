// Class weights for token classification (--class-weights with --task token-classification): the weighted
// token loss equals PyTorch's CrossEntropyLoss(weight=w, ignore_index=-100) written out by hand,
// sum_i w[y_i] (lse_i - z[i, y_i]) / sum_i w[y_i] over the non-ignored positions, with the hand-derived
// gradient w[y_i] (softmax_ij - [j = y_i]) / sum w (float64, reference backend); a BERT token classifier
// wrapped by useTokenClassWeights gives that loss and classifier-bias gradient; "auto" counts only the tags
// the loss sees (-100 skipped); with torch present, also checked against torch. Also the pipeline end to end.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { buildLabelMap } from '../../src/data/index.ts';
import { makeHfConfig, setLabels } from '../../src/models/hf-config.ts';
import { BERT_FAMILY } from '../../src/models/bert.ts';
import { setClassWeights, tokenLevelLoss, useTokenClassWeights } from '../../src/models/heads.ts';
import { DEFAULT_PIPELINE_CONFIG } from '../../src/tasks/config.ts';
import { tokenClassWeights, trainTokenClassifier } from '../../src/tasks/token-classification.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';
import { DEFAULT_TRAINING_ARGUMENTS } from '../../src/train/args.ts';
import { tempDir } from '../helpers/cli.ts';
import { rand64 } from '../helpers/gradcheck.ts';
import { nerRows, writeJsonl } from '../tasks/tiny-data.ts';

F.setDefaultBackend(referenceBackend);

const B = 2;
const T = 5;
const C = 3;
const ys = [-100, 0, 2, 1, -100, -100, 0, 0, 2, -100];
const w = [0.5, 3, 1.25];

/** Loss and gradient of the weighted token cross-entropy, written out from the definition. */
function byHand(z: number[]): { loss: number; grad: number[] } {
  const W = ys.reduce((s, y) => s + (y === -100 ? 0 : (w[y] as number)), 0);
  let num = 0;
  const grad = new Array<number>(B * T * C).fill(0);
  ys.forEach((y, i) => {
    if (y === -100) return;
    const row = z.slice(i * C, (i + 1) * C);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    num += (w[y] as number) * (lse - (row[y] as number));
    for (let j = 0; j < C; j++) grad[i * C + j] = ((w[y] as number) * (Math.exp((row[j] as number) - lse) - (j === y ? 1 : 0))) / W;
  });
  return { loss: num / W, grad };
}

describe('tokenLevelLoss with class weights', () => {
  it('matches the weighted loss and gradient by hand, -100 positions ignored', () => {
    const logits = rand64([B, T, C], 11);
    const ref = byHand(logits.toArray());
    let loss = NaN;
    F.tidy(() => {
      const l = tokenLevelLoss('token-classification', logits, Tensor.from(ys, [B, T], 'int32'), w);
      loss = l.item();
      l.backward();
    });
    assert.ok(Math.abs(loss - ref.loss) < 1e-12, `${loss} vs ${ref.loss}`);
    logits.grad!.toArray().forEach((g, k) => assert.ok(Math.abs(g - (ref.grad[k] as number)) < 1e-12, `grad[${k}] ${g} vs ${ref.grad[k]}`));
  });

  it('equal weights give the unweighted loss', () => {
    const logits = rand64([B, T, C], 12);
    const labels = Tensor.from(ys, [B, T], 'int32');
    const a = F.tidy(() => tokenLevelLoss('token-classification', logits, labels, [2, 2, 2]).item());
    const b = F.tidy(() => tokenLevelLoss('token-classification', logits, labels).item());
    assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
  });

  const torch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
  it('matches torch cross_entropy(weight=w, ignore_index=-100)', { skip: torch ? false : 'needs /usr/bin/python3 with torch' }, () => {
    const logits = rand64([B, T, C], 13);
    const py = `import torch, json
z = torch.tensor(${JSON.stringify(logits.toArray())}, dtype=torch.float64).reshape(${B * T}, ${C})
l = torch.nn.functional.cross_entropy(z, torch.tensor(${JSON.stringify(ys)}), weight=torch.tensor(${JSON.stringify(w)}, dtype=torch.float64), ignore_index=-100)
print(json.dumps(l.item()))`;
    const r = spawnSync('/usr/bin/python3', ['-c', py], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const loss = F.tidy(() => tokenLevelLoss('token-classification', logits, Tensor.from(ys, [B, T], 'int32'), w).item());
    assert.ok(Math.abs(loss - (JSON.parse(r.stdout) as number)) < 1e-12);
  });
});

describe('useTokenClassWeights on a BERT token classifier', () => {
  it('its loss and classifier-bias gradient are the weighted ones computed from its logits', () => {
    const cfg = setLabels(makeHfConfig('bert', { vocab_size: 20, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16, max_position_embeddings: 16 }), ['A', 'B', 'C']);
    const model = BERT_FAMILY.build('token-classification', cfg);
    model.eval(); // no dropout: the two forwards see the same logits
    setClassWeights(model.hfConfig, w);
    useTokenClassWeights(model);
    const inputIds = Tensor.from([2, 5, 6, 7, 3, 2, 8, 9, 10, 3], [B, T], 'int32');
    const logits = F.tidy(() => F.keep(F.noGrad(() => model.forward({ inputIds }).logits)));
    const z = Array.from(F.contiguous(logits).floatData);
    const ref = byHand(z);
    let loss = NaN;
    F.tidy(() => {
      const l = model.forward({ inputIds, labels: Tensor.from(ys, [B, T], 'int32') }).loss!;
      loss = l.item();
      l.backward();
    });
    assert.ok(Math.abs(loss - ref.loss) < 1e-5, `${loss} vs ${ref.loss}`);
    const bias = model.namedParameters().find(([n]) => n === 'classifier.bias');
    assert.ok(bias, 'classifier.bias');
    const g = bias[1].grad!.toArray();
    for (let j = 0; j < C; j++) {
      let want = 0;
      for (let i = 0; i < B * T; i++) want += ref.grad[i * C + j] as number; // d loss / d bias_j = sum over positions
      assert.ok(Math.abs((g[j] as number) - want) < 1e-5, `bias grad[${j}] ${g[j]} vs ${want}`);
    }
  });

  it('refuses a model that is not a token classifier', () => {
    const cfg = makeHfConfig('bert', { vocab_size: 20, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16, max_position_embeddings: 16 });
    assert.throws(() => useTokenClassWeights(BERT_FAMILY.build('fill-mask', cfg)), /class_weights.*not fill-mask/);
  });
});

describe('tokenClassWeights', () => {
  it('"auto" is sklearn\'s balanced rule over the tags the loss sees (-100 not counted)', () => {
    const map = buildLabelMap(['B-PER', 'O', 'B-LOC'], ['B-PER', 'O', 'B-LOC']);
    const feats = [
      { inputIds: [2, 5, 6, 7, 3], tokenLabels: [-100, 0, 1, -100, -100] },
      { inputIds: [2, 5, 6, 7, 8, 3], tokenLabels: [-100, 1, 1, 2, 1, -100] },
    ];
    // counts B-PER 1, O 4, B-LOC 1 over n = 6 tags: 6 / (3 * count)
    assert.deepEqual(tokenClassWeights('auto', map, feats), [2, 0.5, 2]);
  });
});

describe('trainTokenClassifier --class-weights auto', () => {
  it('logs the weights per tag and saves them in training_args.json', async () => {
    const dir = tempDir('finetune-ner-cw-');
    const messages: string[] = [];
    const run = await trainTokenClassifier(
      { ...DEFAULT_PIPELINE_CONFIG, task: 'token-classification', train_file: writeJsonl(dir, 'ner.jsonl', nerRows(32)), scratch_vocab_size: 80, scratch_hidden_size: 16, scratch_intermediate_size: 32, scratch_num_heads: 2, scratch_num_layers: 1 },
      { ...DEFAULT_TRAINING_ARGUMENTS, output_dir: join(dir, 'out'), max_steps: 2, per_device_train_batch_size: 8, max_length: 24, save_strategy: 'no', report: false, class_weights: 'auto' },
      { message: (m) => messages.push(m) },
    );
    assert.ok(run.classWeights, 'the run reports its class weights');
    // Tags of the train split's words: O is the commonest, so it weighs least.
    const cw = run.classWeights;
    assert.ok((cw.O as number) < (cw['B-PER'] as number) && (cw.O as number) < (cw['I-LOC'] as number), JSON.stringify(cw));
    assert.ok(messages.some((m) => /^class weights \(auto\): B-LOC [\d.]+, B-PER [\d.]+, I-LOC [\d.]+, O [\d.]+$/.test(m)), messages.join('\n'));
    assert.equal(readFileSync(join(dir, 'out', 'config.json'), 'utf8').includes('class_weights'), false, 'weights are not saved in the model');
  });
});
