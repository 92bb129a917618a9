// The tensor work of the training loop: one optimizer step on a batch of rows,
// and a validation pass. A step reads its loss and metric back with one small
// dataSync; validation sums on the device and reads once per pass.
import * as tf from '@tensorflow/tfjs-core'
import type * as tfl from '@tensorflow/tfjs-layers'
import { inputTensor, PROBABILITY_EPSILON } from './evaluate.ts'
import type { AdamW } from './optimizer.ts'
import type { Metrics, PreparedData, Split } from './types.ts'

/** What every step of a run trains with; built once per run. */
export interface StepTarget {
  model: tfl.LayersModel
  variables: tf.Variable[]
  optimizer: AdamW
  split: Split
  inputShape: number[]
  regression: boolean
  numClasses: number
}

/** One optimizer update on the given rows; returns [loss, accuracy] or [mse, mae] (standardized) from one small read. */
export function trainStep(target: StepTarget, rows: Uint32Array, learningRate: number): Float32Array {
  const { model, variables, optimizer, split, inputShape, regression, numClasses } = target
  const packed = tf.tidy(() => {
    const xs = gatherRows(split.x, rows, inputShape)
    const ys = gatherLabels(split.y, rows, regression)
    let outputs: tf.Tensor | null = null
    const { value, grads } = tf.variableGrads(() => {
      const out = model.apply(xs, { training: true }) as tf.Tensor
      // Kept past the gradient's inner scopes for the metrics below; disposed by hand.
      outputs = tf.keep(out)
      return regression ? meanSquaredError(out, ys) : crossEntropy(out, ys, numClasses)
    }, variables)
    optimizer.apply(
      variables.map((v) => grads[v.name] ?? null),
      learningRate,
    )
    const out = outputs as unknown as tf.Tensor
    const metrics = regression ? tf.stack([value, tf.mean(tf.abs(tf.sub(tf.reshape(out, [-1]), ys)))]) : tf.stack([value, accuracy(out, ys)])
    out.dispose()
    return metrics
  })
  try {
    return packed.dataSync() as Float32Array
  } finally {
    packed.dispose()
  }
}

function crossEntropy(probabilities: tf.Tensor, labels: tf.Tensor, numClasses: number): tf.Scalar {
  // Negating before the sum keeps a perfect prediction's loss at +0, not -0.
  const negativeLogs = tf.neg(tf.log(tf.clipByValue(probabilities, PROBABILITY_EPSILON, 1)))
  return tf.mean(tf.sum(tf.mul(tf.oneHot(labels, numClasses), negativeLogs), 1)) as tf.Scalar
}

function meanSquaredError(predictions: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  return tf.mean(tf.square(tf.sub(tf.reshape(predictions, [-1]), targets))) as tf.Scalar
}

function accuracy(probabilities: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.mean(tf.cast(tf.equal(tf.argMax(probabilities, 1), labels), 'float32')) as tf.Scalar
}

/** Validation in inference mode, batch by batch, summed on the device and read once; `split` must have rows. */
export async function validate(
  model: tfl.LayersModel,
  data: PreparedData,
  split: Split,
  regression: boolean,
  batchSize: number,
  targetStd: number,
): Promise<Metrics> {
  let sums: tf.Tensor | null = null
  for (let start = 0; start < split.count; start += batchSize) {
    const end = Math.min(split.count, start + batchSize)
    const batchSums = tf.tidy(() => {
      const xs = inputTensor(split.x, start, end, data.inputShape)
      const ys = labelTensor(split.y.subarray(start, end), regression)
      const out = model.predict(xs, { batchSize: end - start }) as tf.Tensor
      const n = end - start
      if (regression) {
        const errors = tf.sub(tf.reshape(out, [-1]), ys)
        return tf.stack([tf.sum(tf.square(errors)), tf.sum(tf.abs(errors))])
      }
      return tf.stack([tf.mul(crossEntropy(out, ys, data.numClasses ?? 1), n), tf.mul(accuracy(out, ys), n)])
    })
    if (sums == null) {
      sums = batchSums
    } else {
      const previous: tf.Tensor = sums
      sums = tf.add(previous, batchSums)
      tf.dispose([previous, batchSums])
    }
    await yieldToEventLoop()
  }
  // The loop validates only a split with rows; an empty one has no metrics to give.
  if (sums == null) throw new Error('validate needs a split with at least one row')
  const totals = sums.dataSync()
  sums.dispose()
  const n = split.count
  if (regression) {
    return { valLoss: totals[0] / n, valMae: (totals[1] / n) * targetStd, valRmse: Math.sqrt(totals[0] / n) * targetStd }
  }
  return { valLoss: totals[0] / n, valAccuracy: totals[1] / n }
}

/** The given rows of a split's inputs as one batch tensor. */
function gatherRows(x: Float32Array | Int32Array, rows: Uint32Array, inputShape: number[]): tf.Tensor {
  const rowSize = inputShape.reduce((a, b) => a * b, 1)
  const batch = x instanceof Int32Array ? new Int32Array(rows.length * rowSize) : new Float32Array(rows.length * rowSize)
  for (let i = 0; i < rows.length; i++) batch.set(x.subarray(rows[i] * rowSize, (rows[i] + 1) * rowSize), i * rowSize)
  return tf.tensor(batch, [rows.length, ...inputShape], x instanceof Int32Array ? 'int32' : 'float32')
}

function gatherLabels(y: Float32Array | Int32Array, rows: Uint32Array, regression: boolean): tf.Tensor {
  const batch = regression ? new Float32Array(rows.length) : new Int32Array(rows.length)
  for (let i = 0; i < rows.length; i++) batch[i] = y[rows[i]]
  return labelTensor(batch, regression)
}

function labelTensor(y: Float32Array | Int32Array, regression: boolean): tf.Tensor {
  return tf.tensor1d(y, regression ? 'float32' : 'int32')
}

/** Lets stop requests and IPC through between steps and validation batches. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
