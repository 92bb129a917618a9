// Prediction from a trained job's checkpoint, for the API process: raw inputs
// are checked against what the model was trained on (E1108 naming every
// problem), encoded exactly as the training rows were, and run through the
// checkpoint's model in chunks small enough to keep the event loop answering.
// Models stay loaded in a small least-recently-used cache.
import { readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { setImmediate as nextTurn } from 'node:timers/promises'
import type * as tfl from '@tensorflow/tfjs-layers'
import { NotFoundError } from '../src/errors/index.ts'
import { onnxUnsupported } from './export/onnx.ts'
import { tfjsUnsupported } from './export/tfjs.ts'
import { selectBackend } from './ml/backend.ts'
import { loadModelFromCheckpoint } from './ml/checkpoint.ts'
import { argMaxRows, predictBatches, toOriginalUnits } from './ml/evaluate.ts'
import type { Preprocessing, Task } from './ml/types.ts'
import { checkBatch, createInputEncoder, describeInputs, summarizeInputs, type EncodedInputs, type ModelInputs } from './serving/inputs.ts'
import { ModelCache } from './serving/model-cache.ts'

export type { ModelInputs }

export interface PredictorOptions {
  dataDir: string
  /** Models kept loaded, least recently used evicted and disposed (default 4). */
  maxModels?: number
  /** Inputs per call at most. */
  maxBatch: number
  /** TensorFlow.js backend ('auto' or unset: the fastest present). */
  backend?: string | null
  /** Told after each model load, for the log. */
  onModelLoaded?: (load: { jobId: string; checkpointId: string; ms: number }) => void
}

export interface ModelRef {
  jobId: string
  task: Task
  /** Checkpoint folder relative to dataDir, e.g. checkpoints/job-x/ckpt-120. */
  checkpointPath: string
  checkpointId: string
}

/**
 * Classification: the most probable class and every class's probability, in label order. Regression: the value in the target's original units.
 * `warnings`: what of the input the model did not learn from (a missing feature, an unseen category, a text of unknown tokens).
 */
export type Prediction = ({ label: string; index: number; probabilities: Record<string, number> } | { value: number }) & { warnings: string[] }

export interface PredictResult {
  predictions: Prediction[]
  model: { jobId: string; checkpointId: string; task: Task; inputs: string }
}

export interface Predictor {
  /** Predictions for `inputs` (an array of raw inputs); throws InvalidInputError (E1108) listing every problem. */
  predict(ref: ModelRef, inputs: unknown): Promise<PredictResult>
  /** What a model expects, for error messages and docs. */
  describe(ref: ModelRef): Promise<ModelInputs>
  /** Why the model cannot be exported in `format` (a layer with no mapping), or null. */
  exportProblem(ref: ModelRef, format: 'onnx' | 'tfjs'): Promise<string | null>
  /** Drops cached models of a job (after it is deleted). */
  forget(jobId: string): void
  close(): void
}

interface ServedModel {
  model: tfl.LayersModel
  preprocessing: Preprocessing
  encodeInputs: (items: unknown[]) => EncodedInputs
  inputShape: number[]
  outputWidth: number
  inputs: ModelInputs
  summary: string
  /** Rows per inference chunk, learned from this model's speed. */
  rowsPerChunk: number
}

/** About the longest one inference chunk may block the event loop. */
const chunkBudgetMs = 15
const firstChunkRows = 1
const maxChunkRows = 256

export function createPredictor(options: PredictorOptions): Predictor {
  const dataDir = path.resolve(options.dataDir)
  const maxBatch = options.maxBatch
  if (!(Number.isInteger(maxBatch) && maxBatch >= 1)) throw new Error(`maxBatch must be a positive integer, not ${maxBatch}`)
  const cache = new ModelCache<ServedModel>(options.maxModels ?? 4, (served) => served.model.dispose())
  let backendReady: Promise<unknown> | undefined
  let closed = false

  const selectBackendOnce = () =>
    (backendReady ??= selectBackend(options.backend ? { prefer: options.backend } : {}).catch((error: unknown) => {
      backendReady = undefined
      throw error
    }))

  const load = async (ref: ModelRef, dir: string): Promise<ServedModel> => {
    await selectBackendOnce()
    const began = performance.now()
    const served = await loadServedModel(ref, dir)
    options.onModelLoaded?.({ jobId: ref.jobId, checkpointId: ref.checkpointId, ms: performance.now() - began })
    return served
  }

  const withModel = async <R>(ref: ModelRef, use: (served: ServedModel) => Promise<R>): Promise<R> => {
    if (closed) throw new Error('the predictor is closed')
    const dir = checkpointDir(dataDir, ref.checkpointPath)
    return cache.use(dir, ref.jobId, () => load(ref, dir), use)
  }

  return {
    async predict(ref, inputs) {
      const items = checkBatch(inputs, maxBatch)
      return withModel(ref, async (served) => {
        const encoded = served.encodeInputs(items)
        const outputs = await infer(served, encoded)
        return {
          predictions: toPredictions(served, outputs, encoded.warnings),
          model: { jobId: ref.jobId, checkpointId: ref.checkpointId, task: ref.task, inputs: served.summary },
        }
      })
    },
    describe: (ref) => withModel(ref, async (served) => served.inputs),
    exportProblem: (ref, format) => withModel(ref, async (served) => (format === 'onnx' ? onnxUnsupported(served.model) : tfjsUnsupported(served.model))),
    forget: (jobId) => cache.forget(jobId),
    close() {
      closed = true
      cache.clear()
    },
  }
}

/** The absolute checkpoint folder; a path leading out of the data directory is refused. */
function checkpointDir(dataDir: string, checkpointPath: string): string {
  const dir = path.resolve(dataDir, checkpointPath)
  const inside = path.relative(dataDir, dir)
  if (inside === '' || path.isAbsolute(inside) || inside.split(path.sep)[0] === '..') {
    throw new Error(`checkpoint path ${JSON.stringify(checkpointPath)} is not inside the data directory`)
  }
  return dir
}

async function loadServedModel(ref: ModelRef, dir: string): Promise<ServedModel> {
  try {
    await stat(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError('checkpoint', ref.checkpointId)
    throw error
  }
  // The job's preprocessing sits beside its checkpoint folders (trainer/worker/child.ts).
  const preprocessing = JSON.parse(await readFile(path.join(path.dirname(dir), 'preprocessing.json'), 'utf8')) as Preprocessing
  const model = await loadModelFromCheckpoint(dir)
  try {
    const outputWidth = Number(model.outputs[0].shape.at(-1))
    checkModelServes(ref, preprocessing, outputWidth)
    const inputs = describeInputs(preprocessing)
    const inputShape = model.inputs[0].shape.slice(1).map(Number)
    return {
      model,
      preprocessing,
      encodeInputs: createInputEncoder(preprocessing),
      inputShape,
      outputWidth,
      inputs,
      summary: summarizeInputs(inputs),
      rowsPerChunk: firstChunkRows,
    }
  } catch (error) {
    model.dispose()
    throw error
  }
}

/** The stored job and its checkpoint must agree: a mismatch is a server fault, not the caller's. */
function checkModelServes(ref: ModelRef, preprocessing: Preprocessing, outputWidth: number): void {
  const regression = preprocessing.kind === 'tabular' && preprocessing.labels === null
  const kind = ref.task === 'text-classification' ? 'text' : ref.task === 'image-classification' ? 'image' : 'tabular'
  if (preprocessing.kind !== kind || regression !== (ref.task === 'tabular-regression')) {
    throw new Error(
      `checkpoint ${ref.checkpointId} of ${ref.jobId} holds a ${regression ? 'regression' : `${preprocessing.kind} classification`} model, not ${ref.task}`,
    )
  }
  const expected = preprocessing.labels?.length ?? 1
  if (outputWidth !== expected) {
    throw new Error(`checkpoint ${ref.checkpointId} of ${ref.jobId} predicts ${outputWidth} values per input, its preprocessing needs ${expected}`)
  }
}

/**
 * The model's outputs for the encoded inputs, row-major. Chunks are sized to
 * take about chunkBudgetMs each, and the event loop gets a turn between them:
 * tfjs' `data()` resolves in microtasks on wasm and cpu, which lets no timer
 * or socket run.
 */
async function infer(served: ServedModel, { x, count }: { x: Float32Array | Int32Array; count: number }): Promise<Float32Array> {
  const rowSize = served.inputShape.reduce((a, b) => a * b, 1)
  const outputs = new Float32Array(count * served.outputWidth)
  for (let start = 0; start < count; ) {
    if (start > 0) await nextTurn()
    const end = Math.min(count, start + served.rowsPerChunk)
    const began = performance.now()
    const chunk = await predictBatches(served.model, x.subarray(start * rowSize, end * rowSize), end - start, served.inputShape, end - start)
    served.rowsPerChunk = nextChunkRows(end - start, performance.now() - began)
    outputs.set(chunk, start * served.outputWidth)
    start = end
  }
  return outputs
}

function nextChunkRows(rows: number, ms: number): number {
  const fitting = Math.floor((rows * chunkBudgetMs) / Math.max(ms, 0.01))
  // Grow at most 4x a chunk: one fast chunk (a warm cache, a quiet machine) should not promise too much.
  return Math.max(1, Math.min(maxChunkRows, rows * 4, fitting))
}

function toPredictions(served: ServedModel, outputs: Float32Array, warnings: string[][]): Prediction[] {
  const { preprocessing } = served
  if (preprocessing.labels === null) {
    const target = preprocessing.kind === 'tabular' ? preprocessing.target : null
    return Array.from(toOriginalUnits(outputs, target), (value, r) => ({ value, warnings: warnings[r] }))
  }
  const labels = preprocessing.labels
  const width = labels.length
  return Array.from(argMaxRows(outputs, width), (index, r) => ({
    label: labels[index],
    index,
    // fromEntries defines own properties, so even a class named "__proto__" is an ordinary key.
    probabilities: Object.fromEntries(labels.map((label, c) => [label, outputs[r * width + c]])),
    warnings: warnings[r],
  }))
}
