// Trained TF.js layers models as one self-contained TensorFlow.js archive (a
// zip): model.json and weight shards that tf.loadLayersModel reads, with the
// preprocessing TF.js layers can absorb folded into the weights (raw numeric
// features and raw pixels in, original units out; tfjs-folds.ts), weights
// stored as float32, uint8 or float16 (tfjs-weights.ts), preprocessing.json
// and a README (tfjs-docs.ts), and custom-layers.js for models that use the
// service's own layers.
import { fileURLToPath } from 'node:url'
import * as tf from '@tensorflow/tfjs-core'
import * as tfl from '@tensorflow/tfjs-layers'
import { build } from 'esbuild'
import { strToU8, zipSync } from 'fflate'
import * as serviceLayers from '../ml/layers/index.ts'
import type { Preprocessing } from '../ml/types.ts'
import { inputSpec, outputSpec, preprocessingDocument, readme, type ArchiveDescription, type TfjsTensorSpec } from './tfjs-docs.ts'
import { foldPreprocessing, TfjsExportError } from './tfjs-folds.ts'
import { withoutInferenceNoOps, type TopologyJson } from './tfjs-topology.ts'
import { encodeWeights, floatWeights, shardWeights, splitWeights, type NamedWeight } from './tfjs-weights.ts'

export type { TfjsTensorSpec } from './tfjs-docs.ts'
export { TfjsExportError } from './tfjs-folds.ts'

export interface TfjsExportOptions {
  /** Drop inference no-ops (Dropout layers rewired away) and the training config from model.json. */
  optimize: boolean
  /**
   * Weight quantization as tensorflowjs_converter writes it in the weights manifest: int8 → affine 'uint8'
   * ({ dtype: 'uint8', scale, min }, one pair per tensor: the finest the manifest has), float16 → 'float16'.
   * Matrices and tables are quantized; vectors and the kernel that absorbed the tabular standardization stay float32.
   */
  quantize: 'int8' | 'float16' | null
  /** Extra fields for the archive's metadata (job id, export id, created time...). */
  metadata?: Record<string, unknown>
}

export interface TfjsExport {
  /** One zip archive. */
  archive: Uint8Array
  /** Names inside the archive. */
  files: string[]
  inputs: TfjsTensorSpec[]
  outputs: TfjsTensorSpec[]
  /** Bytes of the weight file(s) alone, to compare fp32 with quantized. */
  weightBytes: number
}

// Classes registered once tfjs-layers and the service's layers (imported above) have loaded:
// what a TF.js app with custom-layers.js can rebuild. Classes an application registers later are not.
const loadableClasses = new Set(Object.keys(tf.serialization.SerializationMap.getMap().classNameMap))
const customLayerClasses = new Set<string>(Object.values(serviceLayers).map((layer) => layer.className))
const layersEntry = fileURLToPath(new URL('../ml/layers/index.ts', import.meta.url))

/** Why a model cannot be exported in this format (a layer a TF.js app could not rebuild), or null. The message names the layer. */
export function tfjsUnsupported(model: tfl.LayersModel): string | null {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    return `the model has ${model.inputs.length} inputs and ${model.outputs.length} outputs; TF.js export takes models with one of each`
  }
  for (const layer of model.layers) {
    const className = layer.getClassName()
    if (!loadableClasses.has(className)) {
      return `layer "${layer.name}" (${className}) is neither a TF.js layer nor one of the service's custom layers, so a TF.js app could not load it`
    }
    const nested = unloadableClassIn(layer.getConfig())
    if (nested != null) return `layer "${layer.name}" (${className}) uses ${nested}, which a TF.js app could not load`
  }
  return null
}

/** The model and its preprocessing as a zip a plain TF.js app can load and feed raw values (token ids for text). */
export async function exportTfjs(model: tfl.LayersModel, preprocessing: Preprocessing, options: TfjsExportOptions): Promise<TfjsExport> {
  const reason = tfjsUnsupported(model)
  if (reason != null) throw new TfjsExportError(`cannot export to TensorFlow.js: ${reason}`)
  checkFits(model, preprocessing)
  const { optimize, quantize } = options
  const saved = await saveModel(model, !optimize)
  const exact = foldPreprocessing(model, preprocessing, floatWeights(saved.weights))
  const { specs, data } = encodeWeights(saved.weights, quantize, exact)
  const shards = shardWeights(data)
  const modelJson: tf.io.ModelJSON = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tfl.version_layers}`,
    convertedBy: 'training-service TF.js export',
    modelTopology: optimize ? withoutInferenceNoOps(saved.topology) : saved.topology,
    weightsManifest: [{ paths: shards.map((s) => s.path), weights: specs }],
    ...(saved.trainingConfig ? { trainingConfig: saved.trainingConfig } : {}),
  }
  const customLayers = model.layers.some((layer) => customLayerClasses.has(layer.getClassName()))
  const description: ArchiveDescription = {
    modelName: model.name,
    preprocessing,
    inputs: [inputSpec(model.inputs[0].name, model.inputs[0].shape, preprocessing)],
    outputs: [outputSpec(preprocessing, outputWidth(model))],
    quantize,
    optimize,
    weightFiles: shards.map((s) => s.path),
    customLayers,
    metadata: options.metadata ?? {},
  }
  const files: Record<string, Uint8Array> = { 'model.json': strToU8(JSON.stringify(modelJson)) }
  for (const shard of shards) files[shard.path] = shard.bytes
  files['preprocessing.json'] = strToU8(JSON.stringify(preprocessingDocument(description), null, 2))
  if (customLayers) files['custom-layers.js'] = await customLayersModule()
  files['README.md'] = strToU8(readme(description))
  return { archive: zipSync(files), files: Object.keys(files), inputs: description.inputs, outputs: description.outputs, weightBytes: data.length }
}

/** Topology, training config (when asked and the model was compiled) and float32 weights, through the standard save path. */
async function saveModel(
  model: tfl.LayersModel,
  withTrainingConfig: boolean,
): Promise<{ topology: TopologyJson; trainingConfig?: tf.io.TrainingConfig; weights: NamedWeight[] }> {
  let artifacts: tf.io.ModelArtifacts | undefined
  await model.save(
    tf.io.withSaveHandler(async (saved) => {
      artifacts = saved
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }
    }),
  )
  if (artifacts?.modelTopology == null || artifacts.weightSpecs == null) throw new TfjsExportError('model.save produced no topology or weights')
  const data = artifacts.weightData == null ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData)
  return {
    topology: artifacts.modelTopology as unknown as TopologyJson,
    trainingConfig: withTrainingConfig && model.optimizer != null ? trainingConfigOf(model) : undefined,
    weights: splitWeights(artifacts.weightSpecs, data),
  }
}

/**
 * What model.save({ includeOptimizer: true }) would write as the training config, without the optimizer's
 * weights (which the archive leaves out, and whose iteration count save leaks as a tensor on every call).
 */
function trainingConfigOf(model: tfl.LayersModel): tf.io.TrainingConfig {
  // A typed boundary: getTrainingConfig is protected in the typings, public in the JavaScript.
  return (model as unknown as { getTrainingConfig(): tf.io.TrainingConfig }).getTrainingConfig()
}

/** The first registered-class name in a layer config that this process could not promise a TF.js app (a custom initializer, say). */
function unloadableClassIn(value: unknown): string | null {
  if (value == null || typeof value !== 'object') return null
  const { className } = value as { className?: unknown }
  if (typeof className === 'string' && !loadableClasses.has(className)) return className
  for (const item of Object.values(value)) {
    const found = unloadableClassIn(item)
    if (found != null) return found
  }
  return null
}

function outputWidth(model: tfl.LayersModel): number {
  const shape = model.outputs[0].shape
  return Number(shape[shape.length - 1])
}

function expectedShape(preprocessing: Preprocessing): number[] {
  switch (preprocessing.kind) {
    case 'tabular':
      return [preprocessing.inputSize]
    case 'text':
      return [preprocessing.maxSequenceLength]
    case 'image':
      return [preprocessing.height, preprocessing.width, preprocessing.channels]
  }
}

/** Throws when the model's input or output does not match what the preprocessing makes. */
function checkFits(model: tfl.LayersModel, preprocessing: Preprocessing): void {
  const shape = model.inputs[0].shape.slice(1)
  const expected = expectedShape(preprocessing)
  const size = (dims: (number | null)[]) => dims.reduce<number>((a, b) => a * (b ?? NaN), 1)
  // Image models may take flat pixel rows (a Reshape first).
  const flatImage = preprocessing.kind === 'image' && shape.length === 1 && size(shape) === size(expected)
  if (shape.join() !== expected.join() && !flatImage) {
    throw new TfjsExportError(`the model takes inputs of shape [${shape}], but the ${preprocessing.kind} preprocessing makes [${expected}]`)
  }
  const classes = preprocessing.labels?.length ?? 1
  if (outputWidth(model) !== classes) throw new TfjsExportError(`the model gives ${outputWidth(model)} values per row, the preprocessing expects ${classes}`)
}

let bundled: Promise<Uint8Array> | undefined

/** trainer/ml/layers as one ES module with TF.js left to the app (bundled once per process). */
function customLayersModule(): Promise<Uint8Array> {
  bundled ??= build({
    entryPoints: [layersEntry],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2020',
    external: ['@tensorflow/*'],
    write: false,
    legalComments: 'none',
    banner: { js: "// The training service's custom TF.js layers; importing this module registers them for tf.loadLayersModel." },
  }).then(
    // esbuild heads each module with a `// trainer/ml/layers/….ts` comment: no source path of this service goes out in an export.
    (result) => new TextEncoder().encode(result.outputFiles[0].text.replace(/^[ \t]*\/\/ [\w./-]+\.[cm]?[jt]s[ \t]*\n/gm, '')),
    (error: unknown) => {
      bundled = undefined
      throw error
    },
  )
  return bundled
}
