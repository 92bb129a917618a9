// Checkpoint folders: `<checkpointDir>/ckpt-<step>/` holding
//   model.json     TF.js layers format: topology + weights manifest
//   weights.bin    the weights the manifest describes
//   optimizer.bin  AdamW's m and v (float32, layout in state.json)
//   state.json     where training stands (CheckpointState)
// A folder is written under a temporary name and renamed when complete, so a
// crash never leaves a half-written ckpt-<step>.
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs-core'
import * as tfl from '@tensorflow/tfjs-layers'
import './layers/index.ts'
import type { AdamWState } from './optimizer.ts'
import type { CheckpointInfo, Metrics } from './types.ts'

const MODEL_FILE = 'model.json'
const WEIGHTS_FILE = 'weights.bin'
const OPTIMIZER_FILE = 'optimizer.bin'
const STATE_FILE = 'state.json'

/** What state.json holds: enough to resume exactly where training stopped. */
export interface CheckpointState {
  version: 1
  id: string
  /** Optimizer updates completed. */
  step: number
  /** The epoch (0-based) training continues in, and how many of its batches are done. */
  epoch: number
  batchInEpoch: number
  /** Fractional epochs completed (what CheckpointInfo.epoch reports). */
  epochsCompleted: number
  /** The seed that, with the epoch number, recomputes each epoch's shuffle. */
  seed: number
  /** The metric that decides "best" (the early-stopping metric). */
  monitor: string
  bestValue: number | null
  bestCheckpointId: string | null
  epochsWithoutImprovement: number
  /** Latest training and validation metrics when saved. */
  metrics: Metrics
  isBest: boolean
  /** Layout of optimizer.bin; null when saved without an optimizer. */
  optimizer: { step: number; shapes: number[][] } | null
}

export interface ModelJson {
  format: 'layers-model'
  generatedBy: string
  convertedBy: null
  modelTopology: object
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[]
}

/** The folder name (and id) of the checkpoint taken after `step` updates. */
export function checkpointId(step: number): string {
  return `ckpt-${step}`
}

/** Writes a checkpoint folder atomically; returns its path and size on disk. */
export async function saveCheckpoint(
  checkpointDir: string,
  model: tfl.LayersModel,
  optimizer: AdamWState | null,
  state: CheckpointState,
): Promise<{ dir: string; sizeBytes: number }> {
  await mkdir(checkpointDir, { recursive: true })
  const finalDir = join(checkpointDir, state.id)
  const tempDir = join(checkpointDir, `.tmp-${state.id}-${process.pid}-${Date.now()}`)
  await mkdir(tempDir)
  try {
    const { json, weights } = await serializeModel(model)
    let sizeBytes = 0
    sizeBytes += await writeSynced(join(tempDir, WEIGHTS_FILE), weights)
    sizeBytes += await writeSynced(join(tempDir, MODEL_FILE), JSON.stringify(json))
    if (optimizer) {
      const bytes = new Uint8Array(optimizer.buffer.buffer, optimizer.buffer.byteOffset, optimizer.buffer.byteLength)
      sizeBytes += await writeSynced(join(tempDir, OPTIMIZER_FILE), bytes)
    }
    const fullState: CheckpointState = { ...state, optimizer: optimizer ? { step: optimizer.step, shapes: optimizer.shapes } : null }
    sizeBytes += await writeSynced(join(tempDir, STATE_FILE), JSON.stringify(fullState, null, 2))
    // A folder of the same name (a resumed run saving the same step again) is replaced.
    if (await exists(finalDir)) {
      const old = `${tempDir}-replaced`
      await rename(finalDir, old)
      await rename(tempDir, finalDir)
      await rm(old, { recursive: true, force: true })
    } else {
      await rename(tempDir, finalDir)
    }
    return { dir: finalDir, sizeBytes }
  } catch (error) {
    await rm(tempDir, { recursive: true, force: true })
    throw error
  }
}

/** Loads the model, state and optimizer state of a checkpoint folder. */
export async function loadCheckpoint(dir: string): Promise<{ model: tfl.LayersModel; state: CheckpointState; optimizerState: AdamWState | null }> {
  const state = await readCheckpointState(dir)
  const model = await loadModelFromCheckpoint(dir)
  let optimizerState: AdamWState | null = null
  if (state.optimizer) {
    const bytes = await readFile(join(dir, OPTIMIZER_FILE))
    // Copy into a fresh, aligned buffer: a Node Buffer may sit at any offset of a shared pool.
    const buffer = new Float32Array(bytes.byteLength / 4)
    new Uint8Array(buffer.buffer).set(bytes)
    optimizerState = { step: state.optimizer.step, shapes: state.optimizer.shapes, buffer }
  }
  return { model, state, optimizerState }
}

/** Loads only the model of a checkpoint folder (fine-tuning from another job, evaluation, prediction). */
export async function loadModelFromCheckpoint(dir: string): Promise<tfl.LayersModel> {
  let json: ModelJson
  try {
    json = JSON.parse(await readFile(join(dir, MODEL_FILE), 'utf8')) as ModelJson
  } catch (error) {
    throw new Error(`${dir} is not a readable checkpoint: ${(error as Error).message}`)
  }
  const weightSpecs = json.weightsManifest.flatMap((group) => group.weights)
  const parts = await Promise.all(json.weightsManifest.flatMap((group) => group.paths).map((path) => readFile(join(dir, path))))
  const weightData = tf.io.CompositeArrayBuffer.join(parts.map((part) => toArrayBuffer(part)))
  return tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }))
}

export async function readCheckpointState(dir: string): Promise<CheckpointState> {
  const state = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as CheckpointState
  if (state.version !== 1) throw new Error(`${dir}: unsupported checkpoint version ${String(state.version)}`)
  return state
}

/** The complete checkpoint folders under `checkpointDir`, oldest step first. */
export async function listCheckpoints(checkpointDir: string): Promise<{ id: string; step: number; dir: string }[]> {
  let names: string[]
  try {
    names = await readdir(checkpointDir)
  } catch {
    return []
  }
  return names
    .flatMap((name) => {
      const match = /^ckpt-(\d+)$/.exec(name)
      return match === null ? [] : [{ id: name, step: Number(match[1]), dir: join(checkpointDir, name) }]
    })
    .sort((a, b) => a.step - b.step)
}

/** The CheckpointInfo of a folder already on disk (a resumed run's latest and best). */
export async function readCheckpointInfo(dir: string): Promise<CheckpointInfo> {
  const state = await readCheckpointState(dir)
  let sizeBytes = 0
  for (const name of await readdir(dir)) sizeBytes += (await stat(join(dir, name))).size
  return { id: state.id, step: state.step, epoch: state.epochsCompleted, dir, sizeBytes, metrics: state.metrics, isBest: state.isBest, removed: [] }
}

/** Deletes the temporary folders a crash left mid-save (complete checkpoints are never under these names). */
export async function removeIncompleteCheckpoints(checkpointDir: string): Promise<void> {
  let names: string[]
  try {
    names = await readdir(checkpointDir)
  } catch {
    return
  }
  for (const name of names.filter((n) => n.startsWith('.tmp-ckpt-'))) await rm(join(checkpointDir, name), { recursive: true, force: true })
}

export async function removeCheckpoint(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}

/** The model as TF.js layers-format JSON plus its weights, via the standard save path. */
export async function serializeModel(model: tfl.LayersModel): Promise<{ json: ModelJson; weights: Uint8Array }> {
  let artifacts: tf.io.ModelArtifacts | null = null
  await model.save(
    tf.io.withSaveHandler(async (saved) => {
      artifacts = saved
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }
    }),
  )
  const saved = artifacts as tf.io.ModelArtifacts | null
  if (!saved?.modelTopology || !saved.weightSpecs) throw new Error('model.save produced no topology or weights')
  const weightData = saved.weightData == null ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(saved.weightData)
  const json: ModelJson = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tfl.version_layers}`,
    convertedBy: null,
    modelTopology: saved.modelTopology as object,
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: saved.weightSpecs }],
  }
  return { json, weights: new Uint8Array(weightData) }
}

async function writeSynced(path: string, data: Uint8Array | string): Promise<number> {
  const handle = await open(path, 'w')
  try {
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }
  return typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
}
