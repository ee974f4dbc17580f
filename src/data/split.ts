// Seeded train/validation(/test) splits, stratified by class when asked: the same seed and data always
// give the same split on every machine. Each split keeps the original file order (training shuffles
// later, in the sampler).
// Not here: k-fold cross-validation or group-aware splits.

import { ConfigError, DataError } from '../errors.ts';
import { Rng } from '../rng.ts';
import type { Dataset } from './types.ts';

/** Fractions of the data held out; the rest is training. Each in [0, 1); together below 1. */
export interface SplitOptions {
  validation?: number;
  test?: number;
  seed: number;
  /** Class of item i, for a stratified split (same class proportions in every split). */
  stratifyBy?: (index: number) => string;
}

/** Index sets of a split, each in ascending order. */
export interface SplitIndices {
  train: number[];
  validation: number[];
  test: number[];
}

function checkFraction(name: string, f: number | undefined): number {
  const v = f ?? 0;
  if (!Number.isFinite(v) || v < 0 || v >= 1) throw new ConfigError(name, `must be a fraction in [0, 1), got ${f}`);
  return v;
}

/**
 * Split `n` items into train/validation/test index sets. Held-out sizes round up (as scikit-learn's
 * `train_test_split` does); a stratified split gives each class its share by largest remainder, so
 * per-class counts differ from exact proportions by less than one.
 *
 * @example
 * const { train, validation } = splitIndices(1000, { validation: 0.1, seed: 42 });
 */
export function splitIndices(n: number, opts: SplitOptions): SplitIndices {
  const fVal = checkFraction('validation fraction', opts.validation);
  const fTest = checkFraction('test fraction', opts.test);
  if (fVal + fTest >= 1) throw new ConfigError('split fractions', `validation (${fVal}) + test (${fTest}) must leave some training data`);
  const nTest = Math.ceil(n * fTest - 1e-9);
  const nVal = Math.ceil(n * fVal - 1e-9);
  if (n - nTest - nVal < 1) throw new DataError(`only ${n} examples: too few to hold out ${nVal} for validation and ${nTest} for test`);
  const rng = Rng.fromSeed(opts.seed);

  // Groups: one per class (stratified) or a single group.
  const groups = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const key = opts.stratifyBy ? opts.stratifyBy(i) : '';
    let g = groups.get(key);
    if (g === undefined) groups.set(key, (g = []));
    g.push(i);
  }
  const keys = [...groups.keys()].sort();
  for (const k of keys) rng.shuffle(groups.get(k) as number[]);

  // How many of each group go to test, then validation: floor of the exact share, then the remaining
  // slots to the largest fractional remainders (ties: the larger group, then key order).
  const allocate = (want: number, avail: Map<string, number>, total: number): Map<string, number> => {
    const out = new Map<string, number>();
    if (want === 0 || total === 0) {
      for (const k of keys) out.set(k, 0);
      return out;
    }
    const rema: { k: string; r: number; size: number }[] = [];
    let given = 0;
    for (const k of keys) {
      const size = avail.get(k) as number;
      const exact = (size * want) / total;
      const base = Math.min(Math.floor(exact + 1e-9), size);
      out.set(k, base);
      given += base;
      rema.push({ k, r: exact - base, size });
    }
    rema.sort((a, b) => b.r - a.r || b.size - a.size || (a.k < b.k ? -1 : 1));
    for (let j = 0; given < want && j < rema.length * 2; j++) {
      const e = rema[j % rema.length] as { k: string; r: number; size: number };
      if ((out.get(e.k) as number) < (avail.get(e.k) as number)) {
        out.set(e.k, (out.get(e.k) as number) + 1);
        given++;
      }
    }
    return out;
  };

  const avail = new Map(keys.map((k) => [k, (groups.get(k) as number[]).length]));
  const testCounts = allocate(nTest, avail, n);
  const afterTest = new Map(keys.map((k) => [k, (avail.get(k) as number) - (testCounts.get(k) as number)]));
  const valCounts = allocate(nVal, afterTest, n - nTest);

  const res: SplitIndices = { train: [], validation: [], test: [] };
  for (const k of keys) {
    const g = groups.get(k) as number[];
    const t = testCounts.get(k) as number;
    const v = valCounts.get(k) as number;
    res.test.push(...g.slice(0, t));
    res.validation.push(...g.slice(t, t + v));
    res.train.push(...g.slice(t + v));
  }
  const asc = (a: number, b: number): number => a - b;
  res.train.sort(asc);
  res.validation.sort(asc);
  res.test.sort(asc);
  return res;
}

/** A dataset cut into parts (test is absent when no test fraction was asked). */
export interface DatasetSplits<D extends Dataset> {
  train: D;
  validation: D;
  test?: D;
}

/** The class used to stratify an example, or undefined when the task has no single class per row. */
function stratumOf(ds: Dataset, i: number): string {
  if (ds.task === 'single_label_classification') return ds.examples[i]?.label ?? '';
  if (ds.task === 'multi_label_classification') return [...(ds.examples[i]?.labels ?? [])].sort().join('\u0000');
  return '';
}

/**
 * Split a dataset; classification data is stratified by label unless `stratify` is false.
 *
 * @example
 * const { train, validation } = splitDataset(ds, { validation: 0.1, seed: 42 });
 */
export function splitDataset<D extends Dataset>(ds: D, opts: Omit<SplitOptions, 'stratifyBy'> & { stratify?: boolean }): DatasetSplits<D> {
  const stratify = (opts.stratify ?? true) && (ds.task === 'single_label_classification' || ds.task === 'multi_label_classification');
  const idx = splitIndices(ds.examples.length, {
    seed: opts.seed,
    ...(opts.validation !== undefined ? { validation: opts.validation } : {}),
    ...(opts.test !== undefined ? { test: opts.test } : {}),
    ...(stratify ? { stratifyBy: (i: number) => stratumOf(ds, i) } : {}),
  });
  const pick = (ids: number[]): D => ({ ...ds, examples: ids.map((i) => ds.examples[i]) } as D);
  const out: DatasetSplits<D> = { train: pick(idx.train), validation: pick(idx.validation) };
  if ((opts.test ?? 0) > 0) out.test = pick(idx.test);
  return out;
}
