// The preprocessing a TF.js layers model can absorb into its own weights, so
// that it takes raw values: the tabular standardization (into the first
// Dense), the image scale (into the first Dense or convolution) and the
// regression target's mean and std (into the output Dense). The model is left
// as it is; the saved weights are rewritten.
import type * as tfl from '@tensorflow/tfjs-layers'
import { featureWidth } from '../data/tabular.ts'
import type { Preprocessing, TabularPreprocessing } from '../ml/types.ts'
import { INFERENCE_NO_OPS } from './tfjs-topology.ts'

type Layer = tfl.layers.Layer
type ModelNode = tfl.LayersModel['nodesByDepth'][string][number]

/** A model tfjsUnsupported refuses, one that does not fit its preprocessing, or one whose layers cannot absorb it. */
export class TfjsExportError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'TfjsExportError'
  }
}

/** Layers that keep each value as it is (only moved, or passed through at inference): a scale passes them unchanged. */
const VALUE_PRESERVING = new Set([...INFERENCE_NO_OPS, 'Reshape', 'Flatten'])

/**
 * Rewrites `weights` (float32 values by weight name) so that the model takes
 * raw inputs and gives original units. Returns the weights whose rows now
 * differ in scale by orders of magnitude (the standardization's 1/std), which
 * only float32 keeps: per-tensor quantization would wipe out the small rows.
 */
export function foldPreprocessing(model: tfl.LayersModel, preprocessing: Preprocessing, weights: Map<string, Float32Array>): Set<string> {
  const exact = new Set<string>()
  if (preprocessing.kind === 'tabular' && preprocessing.features.some((f) => f.type === 'numeric')) {
    const dense = firstLinearLayer(model, INFERENCE_NO_OPS, ['Dense'], 'the tabular standardization')
    const { kernel, bias } = denseWeights(dense, weights, 'the tabular standardization')
    foldStandardization(preprocessing, kernel, bias)
    exact.add(weightName(dense, 0))
  }
  if (preprocessing.kind === 'image' && preprocessing.scale !== 1) {
    const layer = firstLinearLayer(model, VALUE_PRESERVING, ['Dense', 'Conv1D', 'Conv2D'], `the pixel scale (1/${preprocessing.scale})`)
    const kernel = savedWeight(layer, 0, weights)
    for (let i = 0; i < kernel.length; i++) kernel[i] = kernel[i] / preprocessing.scale
  }
  if (preprocessing.kind === 'tabular' && preprocessing.target !== null) {
    const { kernel, bias } = denseWeights(outputDense(model), weights, "the regression target's mean and std")
    const { mean, std } = preprocessing.target
    for (let i = 0; i < kernel.length; i++) kernel[i] = kernel[i] * std
    for (let i = 0; i < bias.length; i++) bias[i] = bias[i] * std + mean
  }
  return exact
}

/**
 * x_std = (x - mean) / std on the numeric positions: the kernel row of each
 * numeric feature is divided by its std and the bias takes -Σ mean/std · row.
 * A missing value fed as the mean contributes what the encoder's 0 did.
 */
function foldStandardization(preprocessing: TabularPreprocessing, kernel: Float32Array, bias: Float32Array): void {
  const units = bias.length
  const shift = Float64Array.from(bias)
  let position = 0
  for (const feature of preprocessing.features) {
    if (feature.type === 'numeric') {
      const mean = feature.mean ?? 0
      const std = feature.std || 1
      for (let u = 0; u < units; u++) {
        const w = kernel[position * units + u]
        kernel[position * units + u] = w / std
        shift[u] -= (mean / std) * w
      }
    }
    position += featureWidth(feature)
  }
  bias.set(shift)
}

/** The layer (of a class in `targets`) that first sees the model input, reached through `through` layers only. */
function firstLinearLayer(model: tfl.LayersModel, through: ReadonlySet<string>, targets: string[], what: string): Layer {
  const users = consumers(model)
  let tensor = model.inputs[0]
  for (;;) {
    const next = users.get(tensor.id) ?? []
    const layer = next[0]?.outboundLayer
    const className = layer?.getClassName()
    if (next.length !== 1 || layer == null || className == null) {
      throw new TfjsExportError(`cannot fold ${what} into the model: input "${tensor.name}" feeds ${next.length} layers, not one ${targets.join(' or ')}`)
    }
    if (targets.includes(className)) return layer
    if (!through.has(className)) {
      throw new TfjsExportError(`cannot fold ${what} into the model: the input reaches layer "${layer.name}" (${className}) before any ${targets.join(' or ')}`)
    }
    tensor = next[0].outputTensors[0]
  }
}

/** Nodes of this model by the id of each tensor they take. */
function consumers(model: tfl.LayersModel): Map<number, ModelNode[]> {
  const users = new Map<number, ModelNode[]>()
  for (const nodes of Object.values(model.nodesByDepth)) {
    for (const node of nodes) {
      // An input layer's node takes and gives the input tensor itself.
      if (node.outboundLayer.getClassName() === 'InputLayer') continue
      for (const input of node.inputTensors) users.set(input.id, [...(users.get(input.id) ?? []), node])
    }
  }
  return users
}

function outputDense(model: tfl.LayersModel): Layer {
  const [layer] = model.outputLayers
  const activation = (layer.getConfig() as { activation?: unknown }).activation
  if (layer.getClassName() !== 'Dense' || activation !== 'linear') {
    throw new TfjsExportError(
      `cannot fold the regression target's mean and std into output layer "${layer.name}" (${layer.getClassName()}): it is not a linear Dense`,
    )
  }
  return layer
}

function denseWeights(layer: Layer, weights: Map<string, Float32Array>, what: string): { kernel: Float32Array; bias: Float32Array } {
  if (layer.weights.length !== 2) throw new TfjsExportError(`cannot fold ${what} into layer "${layer.name}": it has no bias`)
  return { kernel: savedWeight(layer, 0, weights), bias: savedWeight(layer, 1, weights) }
}

/** The manifest name of a layer's weight: Dense and convolutions create the kernel first, then the bias. */
function weightName(layer: Layer, index: number): string {
  return layer.weights[index].originalName
}

/** The saved values of a layer's weight (see weightName). */
function savedWeight(layer: Layer, index: number, weights: Map<string, Float32Array>): Float32Array {
  const name = weightName(layer, index)
  const values = weights.get(name)
  if (values === undefined) throw new Error(`TF.js export: the saved weights have no "${name}" for layer "${layer.name}"`)
  return values
}
