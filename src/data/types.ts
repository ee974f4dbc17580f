// The shapes of a prepared dataset: one example type per task family, the dataset wrapper that remembers
// which file and line each example came from, and the record of what preparation dropped or changed.
// Not here: any reading or processing logic.

import type { OriginKind } from './read.ts';

/** Sequence-level problem types, spelled as transformers' `config.problem_type`. */
export type ClassificationProblem = 'single_label_classification' | 'multi_label_classification' | 'regression';

/** Every task this data layer prepares. */
export type DataTask = ClassificationProblem | 'token_classification' | 'question_answering';

/** A text (or text pair) with a label of the dataset's kind. `origin` locates it in the source file. */
export interface TextExample {
  text: string;
  textPair?: string;
  /** single_label_classification */
  label?: string;
  /** multi_label_classification (possibly empty: no label applies) */
  labels?: string[];
  /** regression */
  target?: number;
  origin: number;
}

/** A pre-split word sequence with one tag per word (NER, POS...). */
export interface TokenExample {
  tokens: string[];
  tags?: string[];
  origin: number;
}

/** SQuAD-style answers: parallel arrays; `answerStart` are character offsets into the context. */
export interface QaAnswers {
  text: string[];
  answerStart: number[];
}

/** An extractive question-answering example. Empty answers = unanswerable (SQuAD v2). */
export interface QaExample {
  id: string;
  context: string;
  question: string;
  answers: QaAnswers;
  origin: number;
}

/** One thing preparation did to the data, with a count and the first few origins (lines or records). */
export interface PrepStep {
  /** Short name, e.g. 'blank label', 'duplicate text', 'whitespace cleanup'. */
  step: string;
  /** 'dropped' rows were removed; 'changed' rows were rewritten; 'warning' rows were kept as they are. */
  action: 'dropped' | 'changed' | 'warning';
  count: number;
  /** Up to {@link MAX_PREP_ORIGINS} origins, in file order. */
  origins: number[];
  /** Optional extra explanation. */
  detail?: string;
}

/** How many example origins a PrepStep keeps. */
export const MAX_PREP_ORIGINS = 10;

interface DatasetBase {
  file: string;
  originKind: OriginKind;
  /** Everything that was dropped or changed since the file was read, in order. */
  steps: PrepStep[];
}

export interface TextDataset extends DatasetBase {
  task: ClassificationProblem;
  /** False when no label column was mapped (data for prediction). */
  labelled: boolean;
  examples: TextExample[];
}

export interface TokenDataset extends DatasetBase {
  task: 'token_classification';
  labelled: boolean;
  examples: TokenExample[];
}

export interface QaDataset extends DatasetBase {
  task: 'question_answering';
  labelled: boolean;
  examples: QaExample[];
}

/** A prepared dataset of any task. */
export type Dataset = TextDataset | TokenDataset | QaDataset;

/** Collects origins for a PrepStep (keeps the count, and the first few origins). */
export class StepCounter {
  count = 0;
  readonly origins: number[] = [];

  constructor(
    readonly step: string,
    readonly action: PrepStep['action'],
    readonly detail?: string,
  ) {}

  add(origin: number): void {
    this.count++;
    if (this.origins.length < MAX_PREP_ORIGINS) this.origins.push(origin);
  }

  /** The step, or nothing when it never happened. */
  toSteps(): PrepStep[] {
    if (this.count === 0) return [];
    const s: PrepStep = { step: this.step, action: this.action, count: this.count, origins: [...this.origins] };
    if (this.detail !== undefined) s.detail = this.detail;
    return [s];
  }
}
