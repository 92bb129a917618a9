// Trained TF.js layers models as standard, self-contained ONNX: the graph
// takes raw feature values (token ids for text) and gives class
// probabilities or regression values in original units. Layer mappings are in
// onnx-layers.ts and onnx-custom-layers.ts, raw input encoding in
// onnx-inputs.ts, the protobuf side in onnx-graph.ts.
import type * as tfl from '@tensorflow/tfjs-layers'
import type { Preprocessing, Task } from '../ml/types.ts'
import { customLayers } from './onnx-custom-layers.ts'
import { GraphBuilder, OPSET, type TensorSpec } from './onnx-graph.ts'
import { BATCH, rawInputs } from './onnx-inputs.ts'
import { coreLayers } from './onnx-layers.ts'
import { channelsLast, configOf, type ConversionContext, type LayerMapping, type Rescale, type Value } from './onnx-values.ts'

export type { TensorSpec } from './onnx-graph.ts'

export interface OnnxExportOptions {
  /**
   * Fold constants (e.g. tabular normalization into the first Dense; Gemm for MatMul+Add), never emit training-only nodes.
   * With quantized weights only the foldings that cost them no precision happen: int8 keeps the standardization
   * as ops (per-column factors would skew per-channel scales), float16 also keeps the image scale and the regression
   * target's mean and std as ops (they could push weights out of float16's range).
   */
  optimize: boolean
  /** Weights in int8 with per-output-channel scales (DequantizeLinear; Gather on int8 tables for embeddings), or float16 weights cast back to float32. Inputs and outputs stay as without quantization. */
  quantize: 'int8' | 'float16' | null
  /** Extra metadata_props (the service adds job id etc.); the export's own keys win over these. */
  metadata?: Record<string, string>
}

export interface OnnxExport {
  bytes: Uint8Array
  inputs: TensorSpec[]
  outputs: TensorSpec[]
  opset: number
}

/** A model that onnxUnsupported refuses, or one that does not fit its preprocessing. */
export class OnnxExportError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'OnnxExportError'
  }
}

const mappings: Record<string, LayerMapping> = { ...coreLayers, ...customLayers }

/** Why a model cannot be exported (a layer type or config with no mapping), or null when it can. The message names the layer. */
export function onnxUnsupported(model: tfl.LayersModel): string | null {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    return `the model has ${model.inputs.length} inputs and ${model.outputs.length} outputs; ONNX export takes models with one of each`
  }
  const unknown = model.inputs[0].shape.slice(1).some((d) => d == null)
  if (unknown) return `input "${model.inputs[0].name}" has shape [${model.inputs[0].shape.map((d) => d ?? '?')}]: only the batch dimension may be unknown`
  for (const layer of model.layers) {
    const className = layer.getClassName()
    if (className === 'InputLayer') continue
    const mapping = mappings[className]
    if (mapping == null) return `layer "${layer.name}" (${className}) has no ONNX mapping`
    const reason = mapping.unsupported?.(layer)
    if (reason != null) return `layer "${layer.name}" (${className}): ${reason}`
  }
  return null
}

/** The model with its preprocessing as one ONNX graph from raw inputs to probabilities or original-unit values. */
export function exportOnnx(model: tfl.LayersModel, preprocessing: Preprocessing, options: OnnxExportOptions): OnnxExport {
  const reason = onnxUnsupported(model)
  if (reason != null) throw new OnnxExportError(`cannot export to ONNX: ${reason}`)
  const inputShape = model.inputs[0].shape.slice(1) as number[]
  checkFits(inputShape, outputWidth(model), preprocessing)
  const { optimize, quantize } = options
  const graph = new GraphBuilder(quantize)
  const folds = { scales: optimize && quantize !== 'float16', standardization: optimize && quantize === null }
  const ctx: ConversionContext = { graph, optimize, folds, memo: new Map() }
  const output = outputSpec(preprocessing, outputWidth(model))
  graph.reserve(output.name)
  const raw = rawInputs(ctx, preprocessing, inputShape)
  const target = preprocessing.kind === 'tabular' ? preprocessing.target : null
  const rescale = target ? { scale: target.std, shift: target.mean } : undefined
  graph.expose(convertModel(ctx, model, raw.value, rescale), output.name)
  const task = taskOf(preprocessing)
  const bytes = graph.encode({
    name: model.name,
    inputs: raw.specs,
    outputs: [output],
    description: `${task} model "${model.name}" with its preprocessing, exported by the training service`,
    metadata: { ...options.metadata, ...metadataOf(task, preprocessing, raw.specs, output) },
  })
  return { bytes, inputs: raw.specs, outputs: [output], opset: OPSET }
}

/**
 * Converts the layers in TF.js' own execution order (deepest nodes first).
 * A regression model's final linear Dense absorbs the target's mean and std
 * when optimizing; otherwise they are applied after it.
 */
function convertModel(ctx: ConversionContext, model: tfl.LayersModel, input: Value, rescale: Rescale | undefined): string {
  const values = new Map<number, Value>([[model.inputs[0].id, input]])
  const outputId = model.outputs[0].id
  let rescaled = false
  // Layers run deepest first, so every tensor a layer reads was converted before it.
  const convertedValue = (id: number): Value => {
    const value = values.get(id)
    if (value === undefined) throw new Error(`ONNX export of model "${model.name}": tensor ${id} was not converted before a layer read it`)
    return value
  }
  const depths = Object.keys(model.nodesByDepth)
    .map(Number)
    .sort((a, b) => b - a)
  for (const depth of depths) {
    for (const node of model.nodesByDepth[depth]) {
      const layer = node.outboundLayer
      const className = layer.getClassName()
      if (className === 'InputLayer') continue
      const inputs = node.inputTensors.map((t) => convertedValue(t.id))
      const [output] = node.outputTensors
      const foldRescale = rescale != null && ctx.folds.scales && output.id === outputId && className === 'Dense' && configOf(layer).activation === 'linear'
      values.set(output.id, mappings[className].convert(ctx, layer, inputs, output.shape.slice(1) as number[], foldRescale ? rescale : undefined))
      rescaled ||= foldRescale
    }
  }
  const result = channelsLast(ctx, convertedValue(outputId)).name
  if (rescale == null || rescaled) return result
  const g = ctx.graph
  return g.op('Add', [g.op('Mul', [result, g.scalar(rescale.scale)], {}, 'original_units'), g.scalar(rescale.shift)], {}, 'original_units')
}

function outputWidth(model: tfl.LayersModel): number {
  const shape = model.outputs[0].shape
  return Number(shape[shape.length - 1])
}

function taskOf(preprocessing: Preprocessing): Task {
  if (preprocessing.kind === 'tabular') return preprocessing.labels === null ? 'tabular-regression' : 'tabular-classification'
  return `${preprocessing.kind}-classification`
}

/** Throws when the model's input or output does not match what the preprocessing makes. */
function checkFits(inputShape: number[], width: number, preprocessing: Preprocessing): void {
  const size = inputShape.reduce((a, b) => a * b, 1)
  let expected: string | null = null
  if (preprocessing.kind === 'tabular' && (inputShape.length !== 1 || size !== preprocessing.inputSize)) expected = `[${preprocessing.inputSize}]`
  if (preprocessing.kind === 'text' && (inputShape.length !== 1 || size !== preprocessing.maxSequenceLength)) expected = `[${preprocessing.maxSequenceLength}]`
  if (preprocessing.kind === 'image') {
    const { height, width: w, channels } = preprocessing
    if (size !== height * w * channels || (inputShape.length !== 1 && inputShape.join() !== [height, w, channels].join())) {
      expected = `[${height * w * channels}] or [${height}, ${w}, ${channels}]`
    }
  }
  if (expected != null)
    throw new OnnxExportError(`the model takes inputs of shape [${inputShape}], but the ${preprocessing.kind} preprocessing makes ${expected}`)
  const classes = preprocessing.labels?.length ?? 1
  if (width !== classes) throw new OnnxExportError(`the model gives ${width} values per row, the preprocessing expects ${classes}`)
}

function outputSpec(preprocessing: Preprocessing, width: number): TensorSpec {
  if (preprocessing.labels == null) {
    return {
      name: 'value',
      dtype: 'float32',
      shape: [BATCH, 1],
      description: `The predicted "${preprocessing.labelColumn}" in its original units.`,
    }
  }
  const shown = preprocessing.labels
    .slice(0, 20)
    .map((l) => JSON.stringify(l))
    .join(', ')
  const more = preprocessing.labels.length > 20 ? `, … (all in metadata "labels")` : ''
  return {
    name: 'probabilities',
    dtype: 'float32',
    shape: [BATCH, width],
    description: `Class probabilities (softmax), one column per class of "${preprocessing.labelColumn}" in metadata "labels" order: ${shown}${more}.`,
  }
}

/**
 * metadata_props: what a client needs to make the inputs and read the
 * outputs. A text model's vocabulary is stored once, under "vocabulary", and
 * left out of "preprocessing": a second copy would cost as much as a quarter
 * of an int8 embedding table (preprocessingFromOnnxMetadata puts it back).
 */
function metadataOf(task: Task, preprocessing: Preprocessing, inputs: TensorSpec[], output: TensorSpec): Record<string, string> {
  const metadata: Record<string, string> = { task, inputs: JSON.stringify(inputs), outputs: JSON.stringify([output]) }
  if (preprocessing.labels != null) metadata.labels = JSON.stringify(preprocessing.labels)
  if (preprocessing.kind === 'text') {
    const { vocabulary, ...rest } = preprocessing
    metadata.preprocessing = JSON.stringify(rest)
    metadata.vocabulary = JSON.stringify(vocabulary)
    metadata.tokenizer = JSON.stringify(preprocessing.tokenizer)
    metadata.maxSequenceLength = String(preprocessing.maxSequenceLength)
  } else {
    metadata.preprocessing = JSON.stringify(preprocessing)
  }
  return metadata
}

/** The Preprocessing an export was made with, from its metadata_props (as key → value). */
export function preprocessingFromOnnxMetadata(metadata: Record<string, string>): Preprocessing {
  if (metadata.preprocessing === undefined) throw new OnnxExportError('the ONNX metadata has no "preprocessing" entry')
  const preprocessing = JSON.parse(metadata.preprocessing) as Preprocessing
  if (preprocessing.kind !== 'text') return preprocessing
  if (metadata.vocabulary === undefined) throw new OnnxExportError('the ONNX metadata of a text model has no "vocabulary" entry')
  return { ...preprocessing, vocabulary: JSON.parse(metadata.vocabulary) as string[] }
}
