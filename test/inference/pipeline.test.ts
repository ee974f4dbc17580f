// Inference pipelines end to end (tokenizer + model + post-processing). References: transformers'
// logits for the golden batch (tiny BERT + the goldens' tokenizer, whose tokenization of these texts is
// golden_tokenization.json) for text and token classification; brute-force recomputation from the
// model's raw outputs for QA, fill-mask and embeddings; and batching invariance.

import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError, ModelError } from '../../src/errors.ts';
import type { PretrainedTaskModel } from '../../src/models/family.ts';
import type { TaskName } from '../../src/models/types.ts';
import { PipelineInputError, TextPipeline, softmax, sigmoid } from '../../src/inference/index.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';
import { charSlice, loadTokenizer } from '../../src/tokenizers/index.ts';
import {
  GOLDEN_ROW_TEXTS,
  GOLDEN_TOKENIZER_DIR,
  HAVE_GOLDEN_TOKENIZER,
  NO_SHARED,
  SEQCLS_DIR,
  TOKCLS_DIR,
  goldenReference,
  makeModelFolder,
  tmpDir,
  withGoldenTokenizer,
} from './fixtures.ts';

const quiet = { warn: () => undefined };

function near(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected}`);
}

/** The model's raw outputs for one encoded row. */
function rawForward(model: PretrainedTaskModel, ids: number[], typeIds?: number[]) {
  const T = ids.length;
  return F.noGrad(() =>
    F.tidy(() => {
      const o = model.forward({
        inputIds: Tensor.wrap(Int32Array.from(ids), [1, T]),
        attentionMask: Tensor.wrap(new Int32Array(T).fill(1), [1, T]),
        tokenTypeIds: typeIds ? Tensor.wrap(Int32Array.from(typeIds), [1, T]) : undefined,
      });
      return { logits: o.logits.toArray(), start: o.startLogits?.toArray(), end: o.endLogits?.toArray() };
    }),
  );
}

describe('against transformers (golden logits, golden tokenizer)', { skip: HAVE_GOLDEN_TOKENIZER ? false : NO_SHARED }, () => {
  let work: Awaited<ReturnType<typeof tmpDir>>;
  before(async () => {
    work = await tmpDir();
  });
  after(async () => work.cleanup());

  async function folder(src: string, name: string, configEdit?: (c: Record<string, unknown>) => void): Promise<string> {
    const dir = join(work.dir, name);
    await (await import('node:fs/promises')).mkdir(dir);
    await withGoldenTokenizer(src, dir);
    if (configEdit) {
      const c = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      configEdit(c);
      await writeFile(join(dir, 'config.json'), JSON.stringify(c));
    }
    return dir;
  }

  const labelsOf = (n: number) => Array.from({ length: n }, (_, i) => `LABEL_${i}`);

  for (const [kind, edit, fn] of [
    ['single-label: softmax', undefined, softmax],
    ['multi-label: sigmoid', (c: Record<string, unknown>) => (c['problem_type'] = 'multi_label_classification'), sigmoid],
    ['regression: raw values', (c: Record<string, unknown>) => (c['problem_type'] = 'regression'), (x: ArrayLike<number>) => Float64Array.from(x)],
  ] as const) {
    test(`text-classification ${kind} of transformers' logits`, async () => {
      const dir = await folder(SEQCLS_DIR, kind.split(':')[0]!, edit);
      const ref = await goldenReference(SEQCLS_DIR);
      const pipe = await TextPipeline.load(dir, quiet);
      try {
        const out = pipe.run(GOLDEN_ROW_TEXTS.map(([, t]) => t)) as Array<{ label: string; score: number; scores: Array<{ label: string; score: number }> }>;
        GOLDEN_ROW_TEXTS.forEach(([row], i) => {
          const want = fn(ref.logits.subarray(row * 3, row * 3 + 3));
          for (const [k, name] of labelsOf(3).entries()) {
            near(out[i]!.scores.find((s) => s.label === name)!.score, want[k]!, 1e-5, `row ${row} ${name}`);
          }
          const best = Array.from(want).indexOf(Math.max(...want));
          assert.equal(out[i]!.label, `LABEL_${best}`);
          assert.equal(out[i]!.score, Math.max(...out[i]!.scores.map((s) => s.score)));
        });
      } finally {
        pipe.dispose();
      }
    });
  }

  test('token-classification: one entity per token with transformers\' label, score, word and offsets', async () => {
    const dir = await folder(TOKCLS_DIR, 'tokcls');
    const ref = await goldenReference(TOKCLS_DIR);
    const golden = JSON.parse(await readFile(join(GOLDEN_TOKENIZER_DIR, 'golden_tokenization.json'), 'utf8')) as {
      single: Array<{ text: string; tokens: string[]; offsets: Array<[number, number]> }>;
    };
    const pipe = await TextPipeline.load(dir, quiet);
    try {
      for (const [row, text] of GOLDEN_ROW_TEXTS) {
        const g = golden.single.find((s) => s.text === text)!;
        const out = pipe.run(text, { ignore_labels: [] })[0] as Array<{ entity: string; score: number; index: number; word: string; start: number; end: number }>;
        assert.equal(out.length, g.tokens.length, text);
        out.forEach((e, t) => {
          const p = softmax(ref.logits.subarray((row * ref.T + t) * 5, (row * ref.T + t + 1) * 5));
          const best = Array.from(p).indexOf(Math.max(...p));
          assert.equal(e.entity, `LABEL_${best}`, `${text} token ${t}`);
          near(e.score, p[best]!, 1e-5, `${text} token ${t}`);
          assert.equal(e.index, t);
          assert.deepEqual([e.word, e.start, e.end], [g.tokens[t] === '[UNK]' ? charSlice(text, g.offsets[t]![0], g.offsets[t]![1]) : g.tokens[t], ...g.offsets[t]!]);
        });
      }
    } finally {
      pipe.dispose();
    }
  });
});

describe('pipelines on the fixture folders', () => {
  let clf: TextPipeline;
  let ner: TextPipeline;
  before(async () => {
    clf = await TextPipeline.load(SEQCLS_DIR, quiet);
    ner = await TextPipeline.load(TOKCLS_DIR, quiet);
  });
  after(() => {
    clf.dispose();
    ner.dispose();
  });

  test('batching does not change results: each text alone equals all texts in one padded batch', () => {
    const texts = ['hi', 'The quick brown fox jumps over the lazy dog.', { text: 'a question?', text_pair: 'an answer.' }, '微调是机器学习中一个常见的过程。'];
    const together = clf.run(texts) as Array<{ scores: Array<{ label: string; score: number }> }>;
    texts.forEach((t, i) => {
      const alone = clf.run(t)[0] as { scores: Array<{ label: string; score: number }> };
      alone.scores.forEach((s) => near(together[i]!.scores.find((x) => x.label === s.label)!.score, s.score, 1e-5, `text ${i} ${s.label}`));
    });
    const nerTogether = ner.run(['hello world', 'the lazy dog sleeps all day long']) as Array<Array<{ score: number }>>;
    const nerAlone = ner.run('the lazy dog sleeps all day long', { ignore_labels: ['O'] })[0] as Array<{ score: number }>;
    nerAlone.forEach((e, k) => near(nerTogether[1]![k]!.score, e.score, 1e-5, `token ${k}`));
  });

  test('a text pair is encoded as [CLS] a [SEP] b [SEP] with segment ids, as the model sees it', async () => {
    const tok = await loadTokenizer(SEQCLS_DIR);
    const enc = tok.encode('is it raining?', 'yes, heavily.');
    const raw = rawForward(clf.model, enc.ids, enc.typeIds);
    const out = clf.run({ text: 'is it raining?', text_pair: 'yes, heavily.' })[0] as { scores: Array<{ label: string; score: number }> };
    const p = softmax(raw.logits);
    p.forEach((v, k) => near(out.scores.find((s) => s.label === `LABEL_${k}`)!.score, v, 1e-6, `LABEL_${k}`));
  });

  test('aggregation "simple" groups tokens into words with character spans into the text', () => {
    const text = 'hello world, the quick brown fox';
    const groups = ner.run(text, { aggregation_strategy: 'simple', ignore_labels: [] })[0] as Array<{ entity_group: string; word: string; start: number; end: number }>;
    assert.ok(groups.length > 0, 'no groups');
    for (const g of groups) {
      assert.ok(/^LABEL_\d$/.test(g.entity_group), g.entity_group);
      // The span covers the grouped tokens: the text there equals the decoded word up to spacing (a group
      // that starts inside a word keeps WordPiece's "##", as transformers' convert_tokens_to_string does).
      assert.equal(charSlice(text, g.start, g.end).replace(/\s+/g, ''), g.word.replace(/^##/, '').replace(/\s+/g, ''), JSON.stringify(g));
    }
    // Spans are ordered and do not overlap.
    for (let i = 1; i < groups.length; i++) assert.ok(groups[i]!.start >= groups[i - 1]!.end, 'overlapping spans');
  });

  test('bad inputs name the field and what was expected', () => {
    const cases: Array<[unknown, unknown, RegExp]> = [
      [[], undefined, /^inputs: the list is empty/],
      [[3], undefined, /^inputs\[0\]: expected a string, got number 3/],
      [{ text: 'a', pair: 'b' }, undefined, /^inputs\.pair: unknown field/],
      ['', undefined, /^inputs: the text is empty/],
      ['x'.repeat(20_001), undefined, /20001 characters; the limit is 20000/],
      ['ok', { top_k: 'all' }, /^parameters\.top_k: expected an integer/],
      ['ok', { temperature: 1 }, /^parameters\.temperature: unknown parameter/],
      [null, undefined, /^inputs: is required/],
    ];
    for (const [inputs, params, re] of cases) {
      assert.throws(() => clf.run(inputs, params), (e: unknown) => e instanceof PipelineInputError && re.test(e.message), `${JSON.stringify(inputs)} ${JSON.stringify(params)}`);
    }
    assert.throws(() => ner.run('ok', { aggregation_strategy: 'longest' }), /aggregation_strategy: expected one of none, simple, first, average, max/);
  });
});

describe('question answering, fill-mask, feature extraction (random tiny models)', () => {
  let work: Awaited<ReturnType<typeof tmpDir>>;
  before(async () => {
    work = await tmpDir();
  });
  after(async () => work.cleanup());

  test('question answering: the answer is the best in-context span, mapped to characters of the context', async () => {
    const dir = join(work.dir, 'qa');
    const model = await makeModelFolder(dir, 'bert', 'question-answering');
    const pipe = await TextPipeline.load(dir, quiet);
    try {
      const question = 'who sleeps?';
      const context = 'the lazy dog sleeps all day long.';
      const ans = pipe.run({ question, context }, { align_to_words: false })[0] as { score: number; start: number; end: number; answer: string };
      assert.equal(ans.answer, charSlice(context, ans.start, ans.end));
      // Brute force over the model's raw logits, transformers' rules: softmax over context + CLS, CLS zeroed.
      const tok = pipe.tokenizer;
      const enc = tok.encode(question, context);
      const raw = rawForward(model, enc.ids, enc.typeIds);
      const keep = enc.sequenceIds.map((s, i) => s === 1 || i === 0);
      const ps = softmax(raw.start!.map((v, i) => (keep[i] ? v : -10000)));
      const pe = softmax(raw.end!.map((v, i) => (keep[i] ? v : -10000)));
      let best = { s: -1, e: -1, score: -1 };
      for (let s = 1; s < enc.ids.length; s++) {
        for (let e = s; e < Math.min(enc.ids.length, s + 15); e++) {
          if (enc.sequenceIds[s] === 1 && enc.sequenceIds[e] === 1 && ps[s]! * pe[e]! > best.score) best = { s, e, score: ps[s]! * pe[e]! };
        }
      }
      near(ans.score, best.score, 1e-9, 'score');
      assert.deepEqual([ans.start, ans.end], [enc.offsets[best.s]![0], enc.offsets[best.e]![1]]);

      // A context longer than one window: every answer still lies inside the context, best first.
      const long = Array.from({ length: 40 }, (_, i) => `word${i % 7} is number ${i}.`).join(' ');
      const many = pipe.run({ question, context: long }, { top_k: 5, max_seq_len: 32, doc_stride: 8 })[0] as Array<{ score: number; start: number; end: number; answer: string }>;
      assert.equal(many.length, 5);
      for (let i = 0; i < many.length; i++) {
        assert.equal(many[i]!.answer, charSlice(long, many[i]!.start, many[i]!.end));
        if (i > 0) assert.ok(many[i]!.score <= many[i - 1]!.score, 'not sorted');
      }
      // With handle_impossible_answer the empty answer is offered, scored p_start[CLS] × p_end[CLS].
      const withNull = pipe.run({ question, context }, { handle_impossible_answer: true, top_k: 100 })[0] as Array<{ answer: string; score: number; start: number; end: number }>;
      const nullAnswer = withNull.find((a) => a.answer === '');
      assert.ok(nullAnswer !== undefined, 'no null answer offered');
      assert.deepEqual([nullAnswer.start, nullAnswer.end], [0, 0]);
      near(nullAnswer.score, ps[0]! * pe[0]!, 1e-9, 'null score');
      assert.throws(() => pipe.run({ question: 'q '.repeat(30), context }, { max_seq_len: 32 }), (e: unknown) => e instanceof PipelineInputError && /question/.test(e.message));
      assert.throws(() => pipe.run({ question }), /inputs\.context: is required/);
    } finally {
      pipe.dispose();
      model.dispose();
    }
  });

  test('fill-mask: top_k fillers with the model\'s probabilities, decoded tokens and sequences', async () => {
    const dir = join(work.dir, 'mlm');
    const model = await makeModelFolder(dir, 'bert', 'fill-mask');
    const pipe = await TextPipeline.load(dir, quiet);
    try {
      const tok = pipe.tokenizer;
      const text = 'the lazy [MASK] sleeps.';
      const out = pipe.run(text, { top_k: 4 })[0] as Array<{ score: number; token: number; token_str: string; sequence: string }>;
      const enc = tok.encode(text);
      const pos = enc.ids.indexOf(tok.maskTokenId!);
      const raw = rawForward(model, enc.ids, enc.typeIds);
      const V = raw.logits.length / enc.ids.length;
      const p = softmax(raw.logits.slice(pos * V, (pos + 1) * V));
      const order = Array.from(p.keys()).sort((a, b) => p[b]! - p[a]!).slice(0, 4);
      assert.deepEqual(out.map((c) => c.token), order);
      out.forEach((c) => {
        near(c.score, p[c.token]!, 1e-9, `token ${c.token}`);
        assert.equal(c.token_str, tok.decode([c.token]));
        const ids = enc.ids.slice();
        ids[pos] = c.token;
        assert.equal(c.sequence, tok.decode(ids, { skipSpecialTokens: true }));
      });
      const two = pipe.run('[MASK] and [MASK]', { top_k: 2 })[0] as unknown[][];
      assert.equal(two.length, 2);
      assert.equal(two[0]!.length, 2);
      assert.throws(() => pipe.run('no mask here'), (e: unknown) => e instanceof PipelineInputError && /\[MASK\]/.test(e.message));
    } finally {
      pipe.dispose();
      model.dispose();
    }
  });

  test('feature-extraction: the model\'s mean-pooled embedding, optionally unit length', async () => {
    const dir = join(work.dir, 'fe');
    const model = await makeModelFolder(dir, 'distilbert', 'feature-extraction');
    const pipe = await TextPipeline.load(dir, quiet);
    try {
      const enc = pipe.tokenizer.encode('hello there');
      const raw = rawForward(model, enc.ids);
      const v = pipe.run('hello there')[0] as number[];
      v.forEach((x, i) => near(x, raw.logits[i]!, 1e-6, `dim ${i}`));
      const u = pipe.run('hello there', { normalize: true })[0] as number[];
      near(Math.hypot(...u), 1, 1e-9, 'norm');
    } finally {
      pipe.dispose();
      model.dispose();
    }
  });
});

describe('loading', () => {
  test('a missing folder is a ModelError naming it', async () => {
    await assert.rejects(TextPipeline.load('/no/such/model'), (e: unknown) => e instanceof ModelError && /\/no\/such\/model/.test(e.message));
  });

  test('asking a sequence classifier for token classification is refused (the head would be random)', async () => {
    await assert.rejects(TextPipeline.load(SEQCLS_DIR, { task: 'token-classification', ...quiet }), (e: unknown) => e instanceof ModelError && /saved as BertForSequenceClassification \(text-classification\)/.test(e.message));
  });

  test('a task without a pipeline is a ConfigError listing the supported ones', async () => {
    const summarization = 'summarization' as TaskName; // not a TaskName: as an untyped caller (CLI, JSON) might send it
    await assert.rejects(TextPipeline.load(SEQCLS_DIR, { task: summarization }), (e: unknown) => e instanceof ConfigError && /text-classification, .*text-generation/.test(e.message));
  });

  test('asking an encoder classifier for text-generation is refused', async () => {
    await assert.rejects(TextPipeline.load(SEQCLS_DIR, { task: 'text-generation', ...quiet }), (e: unknown) => e instanceof ModelError && /serving it as text-generation/.test(e.message));
  });
});
