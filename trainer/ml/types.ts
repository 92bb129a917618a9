// Types shared by the trainer's parts: data preparation (trainer/data), the
// models (trainer/ml/models), the training loop (trainer/ml/train-loop) and
// the job runner that drives them in a child process (trainer/worker).
// Everything that crosses a process boundary or lands in a checkpoint is
// plain JSON.
import type { Architecture, Task } from '../../src/domain/catalog.ts'
import type { JobConfig } from '../../src/domain/job-config.ts'

export type { Architecture, Task, JobConfig }

/** How raw rows become model inputs; fitted on the training split only and saved with every checkpoint. */
export type Preprocessing = TextPreprocessing | TabularPreprocessing | ImagePreprocessing

export interface TextPreprocessing {
  kind: 'text'
  textColumn: string
  labelColumn: string
  /** Tokenizer settings: CJK characters become one token each; other scripts split into lower-cased words. */
  tokenizer: { lowercase: boolean; cjkCharacters: boolean }
  /** Index 0 is padding, 1 is out-of-vocabulary; the rest by training-split frequency. */
  vocabulary: string[]
  maxSequenceLength: number
  /** Class names; the model's output index i means labels[i]. */
  labels: string[]
}

export interface TabularFeature {
  column: string
  /** numeric: (value - mean) / std, missing → 0 after normalization. categorical: one-hot over `categories` (+1 slot for unseen). */
  type: 'numeric' | 'categorical'
  mean?: number
  std?: number
  categories?: string[]
}

export interface TabularPreprocessing {
  kind: 'tabular'
  labelColumn: string
  features: TabularFeature[]
  /** Width of the encoded feature vector. */
  inputSize: number
  /** Classification: class names. Regression: null. */
  labels: string[] | null
  /** Regression targets are standardized for training; predictions are mapped back with these. */
  target: { mean: number; std: number } | null
}

export interface ImagePreprocessing {
  kind: 'image'
  labelColumn: string
  pixelColumns: string[]
  width: number
  height: number
  channels: number
  /** Pixels are divided by this (255 for 0-255 data, 1 for data already in 0-1). */
  scale: number
  labels: string[]
}

/** One split as flat typed arrays, ready for tf.tensor. */
export interface Split {
  /** Row-major inputs: count × inputShape (Int32 token ids for text, Float32 otherwise). */
  x: Float32Array | Int32Array
  /** Class index (Int32) for classification, standardized target (Float32) for regression. */
  y: Float32Array | Int32Array
  count: number
  /** Indices of these rows in the dataset file, in split order (for reproducibility checks). */
  rows: number[]
}

export interface PreparedData {
  preprocessing: Preprocessing
  inputShape: number[]
  inputDtype: 'int32' | 'float32'
  /** Classes for classification, null for regression. */
  numClasses: number | null
  train: Split
  validation: Split
  test: Split
  /** Problems worth a `warn` log line (dropped rows, rare classes, truncated texts, ...). */
  warnings: string[]
}

/** Thrown for a dataset or configuration the task cannot use: a failure that retrying cannot fix. */
export class BadInputError extends Error {
  readonly badInput = true
  constructor(message: string) {
    super(message)
    this.name = 'BadInputError'
  }
}

/** Latest training metrics at a step (names as in the spec's §1.2 / §4.2). */
export type Metrics = Record<string, number>

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

/** What the training loop tells the outside world. Calls are synchronous and cheap; the runner batches. */
export interface TrainingReporter {
  log(level: LogLevel, message: string, extra?: { step?: number; epoch?: number; metrics?: Metrics }): void
  /** After every optimizer step: trainLoss, trainAccuracy (classification) or trainMae/trainRmse, learningRate. */
  step(point: { step: number; epoch: number; metrics: Metrics; samples: number }): void
  /** After every validation pass (each epoch): valLoss, valAccuracy or valMae/valRmse. */
  validation(point: { step: number; epoch: number; metrics: Metrics }): void
  checkpoint(info: CheckpointInfo): void
  /** Polled once per step: a reason to stop now, or null to go on. */
  stopRequested(): 'stop' | 'timeout' | null
}

export interface CheckpointInfo {
  id: string
  step: number
  /** Fractional epochs completed when saved. */
  epoch: number
  /** Absolute folder holding model.json, weights.bin, optimizer.bin, state.json. */
  dir: string
  sizeBytes: number
  metrics: Metrics
  isBest: boolean
  /** Checkpoints no longer kept (saveBestOnly replaced them); the runner deletes their rows. */
  removed: string[]
}

export interface EvaluationResult {
  split: 'test'
  sampleCount: number
  checkpointId: string | null
  /** Classification: loss, accuracy, precision, recall, f1 (macro). Regression: loss, mae, rmse, r2. */
  metrics: Metrics
  perClass: { label: string; precision: number; recall: number; f1: number; support: number }[] | null
  /** confusionMatrix[actual][predicted], rows and columns in `labels` order. */
  confusionMatrix: number[][] | null
  labels: string[] | null
}
