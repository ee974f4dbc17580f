// Define-by-run autograd: ops record a GradNode on their output; backward() walks the graph in
// reverse topological order and applies the gradient rules of gradients.ts (the one table).
//
// Accumulation convention: backward() ADDS (+=) into `leaf.grad` of every leaf that requires grad,
// so several backward calls accumulate (gradient accumulation relies on this). Nobody zeroes
// gradients implicitly: the optimizer's zeroGrad() (or the trainer, after each optimizer step) does.
// Intermediate gradients are freed as soon as they have been propagated, and each node's saved
// tensors right after its rule ran (retain_graph = false): a graph can be backpropagated once.

import { AutogradError, ShapeError } from '../errors.ts';
import type { OpRecord } from './op-records.ts';
import { keep, tidy, untracked } from './memory.ts';
import { Tensor, shapeStr } from './tensor.ts';

let gradEnabled = true;

/** Whether ops currently record for autograd. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording any op (inference, optimizer updates, metric computation). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Runs fn with recording on, even inside backward() (gradient checkpointing's recompute). */
export function enableGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

export interface GradNode {
  readonly record: OpRecord;
  /** The inputs gradients flow to, in the order the rule returns their gradients. */
  readonly inputs: readonly (Tensor | null)[];
  /** Tensors held for the backward (aliases owned by the node, disposed after use). */
  readonly saved: Tensor[];
  freed: boolean;
}

/** A view owned by a GradNode, so the user may dispose their handle without breaking backward. */
export function save(t: Tensor): Tensor {
  return t.viewOf(t.shape, t.strides, t.offset);
}

/** Whether an op on these inputs must record (grad enabled and some input requires grad). */
export function needsGrad(...inputs: readonly (Tensor | null | undefined)[]): boolean {
  if (!gradEnabled) return false;
  for (const t of inputs) if (t && t.requiresGrad) return true;
  return false;
}

/** Attaches the node to `out`. Ops call this only when needsGrad() said so. */
export function record(out: Tensor, rec: OpRecord, inputs: readonly (Tensor | null)[], saved: Tensor[]): Tensor {
  out.requiresGrad = true;
  out.gradFn = { record: rec, inputs, saved, freed: false };
  return out;
}

type RuleTable = (rec: OpRecord, g: Tensor) => (Tensor | null)[];
interface GradientOps {
  rule: RuleTable;
  /** Leaf accumulation: copies g into a new persistent tensor when `into` is null, else into += g in place. */
  accumulateLeaf: (into: Tensor | null, g: Tensor) => Tensor;
  /** Out-of-place a + b (intermediate gradients may share storage with views, so never in place). */
  add: (a: Tensor, b: Tensor) => Tensor;
}
let gradientOps: GradientOps | null = null;

/** gradients.ts installs the rule table and the accumulation ops (this breaks the import cycle). */
export function installGradientRules(ops: GradientOps): void {
  gradientOps = ops;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<number>();
  // Iterative DFS (deep models make recursion risky).
  const stack: [Tensor, number][] = [[root, 0]];
  visited.add(root.id);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.gradFn?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const child = inputs[i];
      if (child && child.requiresGrad && !visited.has(child.id)) {
        visited.add(child.id);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse(); // root first
}

let leafGradHook: ((leaf: Tensor) => void) | null = null;

/**
 * Called during backward() as soon as a leaf's `.grad` is final for this backward (data-parallel
 * training starts a bucket's allreduce from it while backward goes on); null to stop.
 */
export function setLeafGradHook(hook: ((leaf: Tensor) => void) | null): void {
  leafGradHook = hook;
}

/**
 * Backpropagates from `root`. With no `gradient`, root must hold one element (a loss) and the seed is 1.
 * Adds into `.grad` of every reachable leaf that requires grad.
 */
export function backward(root: Tensor, gradient?: Tensor): void {
  if (!gradientOps) throw new AutogradError('gradient rules not installed (import src/tensor/index.ts)');
  if (!root.requiresGrad) {
    throw new AutogradError(
      `backward() on ${root.describe()}, which does not require grad: it was computed under noGrad() or from tensors without requiresGrad`,
    );
  }
  if (root.gradFn?.freed) throw new AutogradError('backward() through a graph that was already backpropagated (graphs are freed after one backward)');
  let seed: Tensor;
  if (gradient) {
    if (shapeStr(gradient.shape) !== shapeStr(root.shape)) {
      throw new ShapeError(`backward(): gradient ${shapeStr(gradient.shape)} does not match ${root.describe()}`);
    }
    seed = gradient;
  } else {
    if (root.size !== 1) throw new AutogradError(`backward() without a gradient needs a one-element loss, got ${root.describe()}`);
    seed = Tensor.full(root.shape, 1, root.dtype, root.backend);
  }
  const { rule, accumulateLeaf, add } = gradientOps;
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    const grads = new Map<number, Tensor>([[root.id, seed]]);
    for (const t of topoOrder(root)) {
      const g = grads.get(t.id);
      if (!g) continue;
      grads.delete(t.id);
      const node = t.gradFn;
      if (!node) {
        // A leaf: accumulate into its persistent .grad. The first gradient of a leaf whose .grad is
        // empty (after zeroGrad) is adopted as is when nothing else can see its buffer: no copy.
        const into = t.grad;
        if (!into && g !== gradient && adoptable(g, t)) {
          t.grad = keep(g);
          leafGradHook?.(t);
          continue;
        }
        t.grad = untracked(() => accumulateLeaf(into, g));
        if (g !== gradient) g.dispose();
        leafGradHook?.(t);
        continue;
      }
      if (node.freed) throw new AutogradError('backward() through a graph that was already backpropagated');
      // tidy frees the rule's temporaries; the returned gradients survive.
      const inGrads = tidy(() => rule(node.record, g));
      node.freed = true;
      for (const s of node.saved) s.dispose();
      if (g !== gradient) g.dispose();
      node.inputs.forEach((input, i) => {
        const gi = inGrads[i];
        if (!input || !input.requiresGrad || !gi) {
          gi?.dispose();
          return;
        }
        const prevG = grads.get(input.id);
        if (prevG) {
          grads.set(input.id, add(prevG, gi));
          prevG.dispose();
          gi.dispose();
        } else {
          grads.set(input.id, gi);
        }
      });
    }
  } finally {
    gradEnabled = prev;
  }
}

/** A gradient can become leaf.grad itself: same shape and dtype, contiguous, the whole of a buffer no other tensor shares. */
function adoptable(g: Tensor, leaf: Tensor): boolean {
  return (
    g.dtype === leaf.dtype &&
    shapeStr(g.shape) === shapeStr(leaf.shape) &&
    g.offset === 0 &&
    g.isContiguous() &&
    g.storage.unshared &&
    g.storage.length === g.size
  );
}
