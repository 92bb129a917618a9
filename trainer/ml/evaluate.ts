// Evaluation of a trained model on a held-out split, and batched prediction.
import * as tf from '@tensorflow/tfjs-core'
import type * as tfl from '@tensorflow/tfjs-layers'
import type { EvaluationResult, Metrics, PreparedData, Split, Task } from './types.ts'

/** Probabilities are clipped to this before log(), as Keras does, so that a confident mistake costs a finite loss. */
export const PROBABILITY_EPSILON = 1e-7

/** The rows [start, end) of a flat input array as one tensor. */
export function inputTensor(x: Float32Array | Int32Array, start: number, end: number, inputShape: number[]): tf.Tensor {
  const rowSize = inputShape.reduce((a, b) => a * b, 1)
  const dtype = x instanceof Int32Array ? 'int32' : 'float32'
  return tf.tensor(x.subarray(start * rowSize, end * rowSize), [end - start, ...inputShape], dtype)
}

/**
 * Runs the model in inference mode over `count` rows of `x`, `batchSize` at a
 * time. Returns the outputs row-major: class probabilities (count × classes)
 * or, for regression, the standardized predictions (count × 1); map those to
 * original units with `toOriginalUnits`.
 */
export async function predictBatches(
  model: tfl.LayersModel,
  x: Float32Array | Int32Array,
  count: number,
  inputShape: number[],
  batchSize: number,
): Promise<Float32Array> {
  const outputShape = model.outputs[0].shape
  const width = Number(outputShape[outputShape.length - 1] ?? 1)
  const result = new Float32Array(count * width)
  const size = Math.max(1, batchSize)
  for (let start = 0; start < count; start += size) {
    const end = Math.min(count, start + size)
    const output = tf.tidy(() => {
      const input = inputTensor(x, start, end, inputShape)
      return model.predict(input, { batchSize: end - start }) as tf.Tensor
    })
    try {
      // data(), not dataSync(): it lets the event loop run between batches.
      result.set((await output.data()) as Float32Array, start * width)
    } finally {
      output.dispose()
    }
  }
  return result
}

/** Standardized regression outputs back in the target's original units. */
export function toOriginalUnits(values: Float32Array, target: { mean: number; std: number } | null): Float32Array {
  if (!target) return values
  return values.map((v) => v * target.std + target.mean)
}

/** Evaluates `model` on `split` (the test split): the metrics, and for classification the per-class report and confusion matrix. */
export async function evaluate(model: tfl.LayersModel, split: Split, data: PreparedData, task: Task): Promise<Omit<EvaluationResult, 'checkpointId'>> {
  const labels: string[] | null = data.preprocessing.labels
  const base = { split: 'test' as const, sampleCount: split.count }
  if (split.count === 0) return { ...base, metrics: {}, perClass: null, confusionMatrix: null, labels: labels ?? null }
  // 64 rows bound the attention matrices of long sequences (rows × heads × length²).
  const outputs = await predictBatches(model, split.x, split.count, data.inputShape, 64)
  if (task === 'tabular-regression') {
    const target = data.preprocessing.kind === 'tabular' ? data.preprocessing.target : null
    return { ...base, metrics: regressionMetrics(split.y, outputs, target), perClass: null, confusionMatrix: null, labels: null }
  }
  const numClasses = data.numClasses ?? outputs.length / split.count
  const names = labels ?? Array.from({ length: numClasses }, (_, i) => String(i))
  const predicted = argMaxRows(outputs, numClasses)
  const report = classificationReport(split.y, predicted, numClasses, names)
  let lossSum = 0
  for (let i = 0; i < split.count; i++) {
    const p = outputs[i * numClasses + split.y[i]]
    lossSum -= Math.log(Math.min(1, Math.max(PROBABILITY_EPSILON, p)))
  }
  return {
    ...base,
    metrics: { loss: lossSum / split.count, ...report.metrics },
    perClass: report.perClass,
    confusionMatrix: report.confusionMatrix,
    labels: names,
  }
}

/** Index of the largest value in each row of a row-major matrix. */
export function argMaxRows(values: Float32Array, width: number): Int32Array {
  const rows = values.length / width
  const result = new Int32Array(rows)
  for (let r = 0; r < rows; r++) {
    let best = 0
    for (let c = 1; c < width; c++) if (values[r * width + c] > values[r * width + best]) best = c
    result[r] = best
  }
  return result
}

/**
 * Accuracy, macro precision/recall/F1, per-class report and confusion matrix
 * ([actual][predicted]). Zero divisions count as 0, as scikit-learn's
 * default does: precision of a class never predicted, recall of a class
 * absent from the split, F1 when both are 0. Macro averages run over the
 * classes that occur in the split or in the predictions (scikit-learn's
 * default label set), so a class absent from both does not drag them down.
 */
export function classificationReport(
  actual: ArrayLike<number>,
  predicted: ArrayLike<number>,
  numClasses: number,
  labels: string[],
): { metrics: Metrics; perClass: NonNullable<EvaluationResult['perClass']>; confusionMatrix: number[][] } {
  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0))
  let correct = 0
  for (let i = 0; i < actual.length; i++) {
    confusion[actual[i]][predicted[i]] += 1
    if (actual[i] === predicted[i]) correct += 1
  }
  const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b)
  const perClass = labels.map((label, c) => {
    const truePositives = confusion[c][c]
    const support = confusion[c].reduce((a, b) => a + b, 0)
    const predictedCount = confusion.reduce((sum, row) => sum + row[c], 0)
    const precision = ratio(truePositives, predictedCount)
    const recall = ratio(truePositives, support)
    const f1 = ratio(2 * precision * recall, precision + recall)
    return { label, precision, recall, f1, support, predictedCount }
  })
  const present = perClass.filter((c) => c.support > 0 || c.predictedCount > 0)
  const mean = (key: 'precision' | 'recall' | 'f1') =>
    ratio(
      present.reduce((sum, c) => sum + c[key], 0),
      present.length,
    )
  return {
    metrics: { accuracy: ratio(correct, actual.length), precision: mean('precision'), recall: mean('recall'), f1: mean('f1') },
    perClass: perClass.map(({ label, precision, recall, f1, support }) => ({ label, precision, recall, f1, support })),
    confusionMatrix: confusion,
  }
}

/**
 * Regression metrics. `loss` is the training loss: MSE on standardized
 * targets. mae, rmse are in the target's original units; r2 is unit-free
 * (1 for a perfect fit, 0 for predicting the mean; when the targets are all
 * equal it is 1 for a perfect fit, else 0, as scikit-learn reports).
 */
export function regressionMetrics(
  actualStandardized: ArrayLike<number>,
  predictedStandardized: ArrayLike<number>,
  target: { mean: number; std: number } | null,
): Metrics {
  const n = actualStandardized.length
  const std = target?.std ?? 1
  let squared = 0
  let absolute = 0
  let mean = 0
  for (let i = 0; i < n; i++) mean += actualStandardized[i] / n
  let total = 0
  for (let i = 0; i < n; i++) {
    const error = predictedStandardized[i] - actualStandardized[i]
    squared += error * error
    absolute += Math.abs(error)
    total += (actualStandardized[i] - mean) ** 2
  }
  const r2 = total === 0 ? (squared === 0 ? 1 : 0) : 1 - squared / total
  return { loss: squared / n, mae: (absolute / n) * std, rmse: Math.sqrt(squared / n) * std, r2 }
}
