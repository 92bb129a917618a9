// TF.js' own layers as ONNX nodes: those the built-in architectures use
// (trainer/ml/models.ts). The service's custom layers are in onnx-custom-layers.ts.
import type * as tfl from '@tensorflow/tfjs-layers'
import { attr } from './onnx-graph.ts'
import {
  channelsFirst,
  channelsLast,
  configOf,
  range,
  reshape,
  weightsOf,
  type ConversionContext,
  type Fold,
  type LayerMapping,
  type Rescale,
  type Value,
  type Weight,
} from './onnx-values.ts'

type Layer = tfl.layers.Layer

// ---------------------------------------------------------------- activations

const activations: Record<string, (ctx: ConversionContext, x: string, channelAxis: number) => string> = {
  linear: (_ctx, x) => x,
  relu: (ctx, x) => ctx.graph.op('Relu', [x]),
  relu6: (ctx, x) => ctx.graph.op('Clip', [x, ctx.graph.scalar(0), ctx.graph.scalar(6)]),
  sigmoid: (ctx, x) => ctx.graph.op('Sigmoid', [x]),
  // TF.js' hard sigmoid is clip(0.2·x + 0.5, 0, 1), ONNX's default alpha and beta.
  hardSigmoid: (ctx, x) => ctx.graph.op('HardSigmoid', [x], { alpha: attr.float(0.2), beta: attr.float(0.5) }),
  tanh: (ctx, x) => ctx.graph.op('Tanh', [x]),
  softmax: (ctx, x, axis) => ctx.graph.op('Softmax', [x], { axis: attr.int(axis) }),
  logSoftmax: (ctx, x, axis) => ctx.graph.op('LogSoftmax', [x], { axis: attr.int(axis) }),
  elu: (ctx, x) => ctx.graph.op('Elu', [x]),
  // ONNX's default alpha and gamma are SELU's constants, as in TF.js.
  selu: (ctx, x) => ctx.graph.op('Selu', [x]),
  softplus: (ctx, x) => ctx.graph.op('Softplus', [x]),
  softsign: (ctx, x) => ctx.graph.op('Softsign', [x]),
  swish: (ctx, x) => ctx.graph.op('Mul', [x, ctx.graph.op('Sigmoid', [x])]),
  mish: (ctx, x) => ctx.graph.op('Mul', [x, ctx.graph.op('Tanh', [ctx.graph.op('Softplus', [x])])]),
  gelu: (ctx, x) => {
    const g = ctx.graph
    const cdf = g.op('Mul', [g.scalar(0.5), g.op('Add', [g.scalar(1), g.op('Erf', [g.op('Div', [x, g.scalar(Math.SQRT2)])])])])
    return g.op('Mul', [x, cdf])
  },
}

/** The supported activation names, for messages. */
export const activationNames = Object.keys(activations)

function activationOf(layer: Layer): string {
  return String(configOf(layer).activation ?? 'linear')
}

function unsupportedActivation(layer: Layer): string | null {
  const activation = activationOf(layer)
  return activation in activations ? null : `activation "${activation}" has no ONNX mapping (supported: ${activationNames.join(', ')})`
}

function activate(ctx: ConversionContext, layer: Layer, x: string, channelAxis: number): string {
  return activations[activationOf(layer)](ctx, x, channelAxis)
}

// ---------------------------------------------------------------- Dense

/**
 * x·W + b on the last axis. When optimizing, a pending fold of the input is
 * absorbed into W and b, and 2-D products become one Gemm.
 */
function dense(ctx: ConversionContext, layer: Layer, [input]: Value[], outputShape: number[], rescale?: Rescale): Value {
  const [kernel, bias] = weightsOf(layer)
  const [inputs, units] = kernel.dims
  let w = kernel.values
  let b = Float64Array.from(bias?.values ?? new Float32Array(units))
  if (rescale) {
    w = w.map((v) => v * rescale.scale)
    b = b.map((v) => v * rescale.scale + rescale.shift)
  }
  const hasBias = bias != null || rescale != null
  const hint = layer.name
  const source = channelsLast(ctx, input)
  let y: string
  if (source.fold?.kind === 'tabular') {
    y = tabularDense(ctx, hint, source.fold, w, b, units)
  } else {
    const { x, weights } = absorb(source.fold, source.name, w, units)
    const W = ctx.graph.weight(`${hint}/kernel`, weights, [inputs, units], 1)
    if (ctx.optimize && hasBias && input.shape.length === 1) {
      y = ctx.graph.op('Gemm', [x, W, ctx.graph.floats(`${hint}/bias`, b)], {}, hint)
    } else {
      y = ctx.graph.op('MatMul', [x, W], {}, hint)
      if (hasBias) y = ctx.graph.op('Add', [y, ctx.graph.floats(`${hint}/bias`, b)], {}, hint)
    }
  }
  return { name: activate(ctx, layer, y, -1), shape: outputShape, channelsFirst: false }
}

/** The input to multiply and the kernel rows that absorb a pending scale or permutation. */
function absorb(fold: Fold | undefined, x: string, w: Float32Array, units: number): { x: string; weights: Float32Array } {
  if (fold?.kind === 'scale') return { x: fold.input, weights: w.map((v) => v * fold.factor) }
  if (fold?.kind === 'permutation') {
    const permuted = new Float32Array(w.length)
    for (let j = 0; j < fold.order.length; j++) {
      const row = fold.order[j]
      permuted.set(w.subarray(row * units, (row + 1) * units), j * units)
    }
    return { x: fold.input, weights: permuted }
  }
  return { x, weights: w }
}

/**
 * The first Dense of a tabular model with standardization folded in
 * (W/std on the raw numeric values, b - Σ mean/std·W) and each one-hot
 * block replaced by a Gather of its kernel rows.
 */
function tabularDense(ctx: ConversionContext, hint: string, fold: Extract<Fold, { kind: 'tabular' }>, w: Float32Array, b: Float64Array, units: number): string {
  const g = ctx.graph
  const bias = Float64Array.from(b)
  const terms: string[] = []
  if (fold.numeric) {
    const { input, positions, mean, std } = fold.numeric
    const folded = new Float32Array(positions.length * units)
    positions.forEach((row, i) => {
      for (let u = 0; u < units; u++) {
        const weight = w[row * units + u]
        folded[i * units + u] = weight / std[i]
        bias[u] -= (mean[i] / std[i]) * weight
      }
    })
    const W = g.weight(`${hint}/kernel_numeric`, folded, [positions.length, units], 1)
    terms.push(g.op('Gemm', [input, W, g.floats(`${hint}/bias`, bias)], {}, hint))
  }
  for (const c of fold.categorical) {
    const rows = w.slice(c.offset * units, (c.offset + c.width) * units)
    terms.push(g.lookup(`${hint}/kernel_${c.column}`, rows, [c.width, units], c.indices))
  }
  if (!fold.numeric) terms.push(g.floats(`${hint}/bias`, bias))
  return terms.reduce((sum, term) => g.op('Add', [sum, term], {}, hint))
}

// ---------------------------------------------------------------- convolution and pooling

/** A per-axis setting (strides, window) that TF.js may store as one number for every axis. */
function numbers(value: unknown, rank: number): number[] {
  return Array.isArray(value) ? value.map(Number) : Array.from({ length: rank }, () => Number(value))
}

/** TF's explicit pads for 'same' (the odd pixel at the end) or 'valid', per spatial axis: [begins..., ends...]. */
function padsFor(padding: unknown, spatial: number[], kernel: number[], strides: number[], dilations: number[]): number[] {
  if (padding === 'valid') return [...spatial, ...spatial].map(() => 0)
  const totals = spatial.map((size, i) => {
    const extent = (kernel[i] - 1) * dilations[i] + 1
    return Math.max((Math.ceil(size / strides[i]) - 1) * strides[i] + extent - size, 0)
  })
  return [...totals.map((t) => Math.floor(t / 2)), ...totals.map((t) => t - Math.floor(t / 2))]
}

function unsupportedPadding(layer: Layer): string | null {
  const config = configOf(layer)
  if (config.padding !== 'same' && config.padding !== 'valid') return `padding "${String(config.padding)}" has no ONNX mapping (same or valid)`
  if (config.dataFormat != null && config.dataFormat !== 'channelsLast') return `dataFormat "${String(config.dataFormat)}" is not supported (channelsLast only)`
  return null
}

/** TF.js kernel [...window, in, out] → ONNX [out, in, ...window]. */
function convKernel(kernel: Weight): Weight {
  const dims = kernel.dims
  const window = dims.slice(0, -2)
  const [inputs, outputs] = dims.slice(-2)
  const size = window.reduce((a, b) => a * b, 1)
  const values = new Float32Array(kernel.values.length)
  for (let p = 0; p < size; p++) {
    for (let i = 0; i < inputs; i++) {
      for (let o = 0; o < outputs; o++) values[(o * inputs + i) * size + p] = kernel.values[(p * inputs + i) * outputs + o]
    }
  }
  return { values, dims: [outputs, inputs, ...window] }
}

function conv(ctx: ConversionContext, layer: Layer, [input]: Value[], outputShape: number[]): Value {
  const config = configOf(layer)
  const [kernel, bias] = weightsOf(layer)
  const rank = kernel.dims.length - 2
  const window = kernel.dims.slice(0, rank)
  const strides = numbers(config.strides, rank)
  const dilations = numbers(config.dilationRate, rank)
  const x = channelsFirst(ctx, input)
  let { values, dims } = convKernel(kernel)
  let source = x.name
  // Zero padding commutes with a scale, so it folds into the kernel whatever the padding.
  if (x.fold?.kind === 'scale') {
    const factor = x.fold.factor
    values = values.map((v) => v * factor)
    source = x.fold.input
  }
  const inputs = [source, ctx.graph.weight(`${layer.name}/kernel`, values, dims, 0)]
  if (bias != null) inputs.push(ctx.graph.floats(`${layer.name}/bias`, bias.values))
  const y = ctx.graph.op(
    'Conv',
    inputs,
    {
      kernel_shape: attr.ints(window),
      strides: attr.ints(strides),
      dilations: attr.ints(dilations),
      pads: attr.ints(padsFor(config.padding, input.shape.slice(0, rank), window, strides, dilations)),
    },
    layer.name,
  )
  return { name: activate(ctx, layer, y, 1), shape: outputShape, channelsFirst: true }
}

function maxPooling(ctx: ConversionContext, layer: Layer, [input]: Value[], outputShape: number[]): Value {
  const config = configOf(layer)
  const rank = input.shape.length - 1
  const window = numbers(config.poolSize, rank)
  const strides = numbers(config.strides ?? config.poolSize, rank)
  const x = channelsFirst(ctx, input)
  const pads = padsFor(
    config.padding,
    input.shape.slice(0, rank),
    window,
    strides,
    window.map(() => 1),
  )
  const y = ctx.graph.op('MaxPool', [x.name], { kernel_shape: attr.ints(window), strides: attr.ints(strides), pads: attr.ints(pads) }, layer.name)
  return { name: y, shape: outputShape, channelsFirst: true }
}

function globalMaxPooling(ctx: ConversionContext, layer: Layer, [input]: Value[], outputShape: number[]): Value {
  const rank = input.shape.length + 1
  const spatial = input.channelsFirst ? range(2, rank) : range(1, rank - 1)
  const y = ctx.graph.op('ReduceMax', [input.name, ctx.graph.int64s(spatial)], { keepdims: attr.int(0) }, layer.name)
  return { name: y, shape: outputShape, channelsFirst: false }
}

// ---------------------------------------------------------------- shape layers

/**
 * TF.js flattens channels-last. A channels-first input is transposed first;
 * when optimizing it is flattened as it lies and the next Dense reorders its
 * kernel rows instead (the Transpose then has no user and is dropped).
 */
function flatten(ctx: ConversionContext, _layer: Layer, [input]: Value[], outputShape: number[]): Value {
  const flat = reshape(ctx, input, outputShape)
  if (!ctx.optimize || !input.channelsFirst) return flat
  const physical = ctx.graph.op('Reshape', [input.name, ctx.graph.int64s([0, ...outputShape])])
  return { ...flat, fold: { kind: 'permutation', input: physical, order: channelsFirstOrder(input.shape) } }
}

/** For each element of a flattened channels-first tensor, its index in the channels-last flattening of `shape` ([...spatial, channels]). */
function channelsFirstOrder(shape: number[]): Int32Array {
  const channels = shape[shape.length - 1]
  const positions = shape.slice(0, -1).reduce((a, b) => a * b, 1)
  const order = new Int32Array(channels * positions)
  for (let c = 0; c < channels; c++) for (let p = 0; p < positions; p++) order[c * positions + p] = p * channels + c
  return order
}

function add(ctx: ConversionContext, layer: Layer, inputs: Value[], outputShape: number[]): Value {
  const first = inputs.every((v) => v.channelsFirst)
  const names = inputs.map((v) => (first ? v : channelsLast(ctx, v)).name)
  const y = names.reduce((sum, name) => ctx.graph.op('Add', [sum, name], {}, layer.name))
  return { name: y, shape: outputShape, channelsFirst: first }
}

function embedding(ctx: ConversionContext, layer: Layer, [ids]: Value[], outputShape: number[]): Value {
  const [table] = weightsOf(layer)
  const name = ctx.graph.lookup(`${layer.name}/embeddings`, table.values, table.dims as [number, number], ids.name)
  return { name, shape: outputShape, channelsFirst: false }
}

const noChange = (_ctx: ConversionContext, _layer: Layer, [input]: Value[]): Value => input

/** TF.js layer classes with an ONNX form, by class name. */
export const coreLayers: Record<string, LayerMapping> = {
  Dense: { unsupported: unsupportedActivation, convert: dense },
  // Inference is the identity: dropout only acts while training.
  Dropout: { convert: noChange },
  Embedding: {
    // With maskZero TF.js threads an implicit mask through later layers; the built-in models pass masks explicitly.
    unsupported: (layer) => (configOf(layer).maskZero === true ? 'maskZero is not supported (pass a PaddingMask explicitly)' : null),
    convert: embedding,
  },
  Conv1D: { unsupported: (layer) => unsupportedPadding(layer) ?? unsupportedActivation(layer), convert: conv },
  Conv2D: { unsupported: (layer) => unsupportedPadding(layer) ?? unsupportedActivation(layer), convert: conv },
  MaxPooling2D: { unsupported: unsupportedPadding, convert: maxPooling },
  GlobalMaxPooling1D: { convert: globalMaxPooling },
  Reshape: { convert: (ctx, _layer, [input], shape) => reshape(ctx, input, shape) },
  Flatten: { convert: flatten },
  Add: { convert: add },
}
