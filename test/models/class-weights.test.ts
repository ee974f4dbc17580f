// Class-weighted cross-entropy (models/heads.ts weightedCrossEntropy, used through setClassWeights by
// --class-weights): the loss equals PyTorch's CrossEntropyLoss(weight=w) written out by hand,
// sum_i w[y_i] (lse_i - z[i, y_i]) / sum_i w[y_i], and the gradient equals the hand-derived
// w[y_i] (softmax_ij - [j = y_i]) / sum w (float64, reference backend); with torch present, also
// checked against torch.nn.functional.cross_entropy(weight=...). resolveClassWeights("auto") is
// scikit-learn's "balanced" rule n / (K * count), and a JSON file maps labels to weights.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { buildLabelMap } from '../../src/data/index.ts';
import { weightedCrossEntropy } from '../../src/models/heads.ts';
import { resolveClassWeights } from '../../src/tasks/class-weights.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';
import { tempDir } from '../helpers/cli.ts';
import { rand64 } from '../helpers/gradcheck.ts';

F.setDefaultBackend(referenceBackend);

const B = 7;
const C = 3;
const ys = [0, 2, 1, 0, 0, 2, 0];
const w = [0.5, 3, 1.25];

function byHand(z: number[]): { loss: number; grad: number[] } {
  let num = 0;
  let den = 0;
  const grad = new Array<number>(B * C).fill(0);
  const W = ys.reduce((s, y) => s + (w[y] as number), 0);
  for (let i = 0; i < B; i++) {
    const row = z.slice(i * C, (i + 1) * C);
    const m = Math.max(...row);
    const sum = row.reduce((s, v) => s + Math.exp(v - m), 0);
    const lse = m + Math.log(sum);
    const y = ys[i] as number;
    num += (w[y] as number) * (lse - (row[y] as number));
    den += w[y] as number;
    for (let j = 0; j < C; j++) grad[i * C + j] = ((w[y] as number) * (Math.exp((row[j] as number) - lse) - (j === y ? 1 : 0))) / W;
  }
  return { loss: num / den, grad };
}

describe('weightedCrossEntropy', () => {
  it('matches the weighted loss and its gradient computed by hand', () => {
    const logits = rand64([B, C], 3);
    const z = logits.toArray();
    const targets = Tensor.from(ys, [B], 'int32');
    let loss = NaN;
    F.tidy(() => {
      const l = weightedCrossEntropy(logits, targets, w);
      loss = l.item();
      l.backward();
    });
    const ref = byHand(z);
    assert.ok(Math.abs(loss - ref.loss) < 1e-12, `${loss} vs ${ref.loss}`);
    logits.grad!.toArray().forEach((g, k) => assert.ok(Math.abs(g - (ref.grad[k] as number)) < 1e-12, `grad[${k}] ${g} vs ${ref.grad[k]}`));
  });

  it('equal weights give the plain mean cross-entropy', () => {
    const logits = rand64([B, C], 5);
    const targets = Tensor.from(ys, [B], 'int32');
    const a = F.tidy(() => weightedCrossEntropy(logits, targets, [2, 2, 2]).item());
    const b = F.tidy(() => F.crossEntropy(logits, targets).item());
    assert.ok(Math.abs(a - b) < 1e-12);
  });

  const torch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
  it('matches torch.nn.functional.cross_entropy(weight=w)', { skip: torch ? false : 'needs /usr/bin/python3 with torch' }, () => {
    const logits = rand64([B, C], 9);
    const z = logits.toArray();
    const py = `import torch, json
z = torch.tensor(${JSON.stringify(z)}, dtype=torch.float64).reshape(${B}, ${C}).requires_grad_()
l = torch.nn.functional.cross_entropy(z, torch.tensor(${JSON.stringify(ys)}), weight=torch.tensor(${JSON.stringify(w)}, dtype=torch.float64))
l.backward()
print(json.dumps([l.item(), z.grad.flatten().tolist()]))`;
    const r = spawnSync('/usr/bin/python3', ['-c', py], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const [tLoss, tGrad] = JSON.parse(r.stdout) as [number, number[]];
    let loss = NaN;
    F.tidy(() => {
      const l = weightedCrossEntropy(logits, Tensor.from(ys, [B], 'int32'), w);
      loss = l.item();
      l.backward();
    });
    assert.ok(Math.abs(loss - tLoss) < 1e-12, `${loss} vs torch ${tLoss}`);
    logits.grad!.toArray().forEach((g, k) => assert.ok(Math.abs(g - (tGrad[k] as number)) < 1e-12));
  });
});

describe('resolveClassWeights', () => {
  const labels = buildLabelMap(['ham', 'spam']);
  it('"auto" is n_samples / (n_classes * count), as sklearn\'s "balanced"', () => {
    const train = ['ham', 'ham', 'ham', 'ham', 'ham', 'ham', 'spam', 'spam'];
    const got = resolveClassWeights('auto', labels, train);
    assert.deepEqual(got.map((x) => +x.toFixed(12)), [8 / (2 * 6), 8 / (2 * 2)].map((x) => +x.toFixed(12)));
  });
  it('a JSON file maps labels to weights, and names what is wrong', () => {
    const dir = tempDir('finetune-cw-');
    const f = join(dir, 'w.json');
    writeFileSync(f, '{"spam": 4, "ham": 1}');
    assert.deepEqual(resolveClassWeights(f, labels, []), [1, 4]);
    writeFileSync(f, '{"spam": 4}');
    assert.throws(() => resolveClassWeights(f, labels, []), /no weight for label "ham"/);
    writeFileSync(f, '{"spam": 4, "ham": 1, "eggs": 2}');
    assert.throws(() => resolveClassWeights(f, labels, []), /eggs/);
  });
});
