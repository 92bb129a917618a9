// The service's own layers (trainer/ml/layers) as ONNX nodes, the same math
// step for step: the padding mask, masked averaging, position embeddings,
// multi-head self-attention and layer normalization.
import type * as tfl from '@tensorflow/tfjs-layers'
import { attr } from './onnx-graph.ts'
import { channelsLast, configOf, memoized, weightsOf, type ConversionContext, type LayerMapping, type Value } from './onnx-values.ts'

type Layer = tfl.layers.Layer

const FLOAT = 1

/** Token ids → 1 for tokens, 0 for padding (id 0). */
function paddingMask(ctx: ConversionContext, layer: Layer, [ids]: Value[], outputShape: number[]): Value {
  const g = ctx.graph
  const padding = g.op('Equal', [ids.name, g.int64s([0], [])], {}, layer.name)
  const name = g.op('Cast', [g.op('Not', [padding], {}, layer.name)], { to: attr.int(FLOAT) }, layer.name)
  return { name, shape: outputShape, channelsFirst: false }
}

/** Σ values·mask over positions / max(Σ mask, 1): an all-padding row averages to zeros. */
function maskedAverage(ctx: ConversionContext, layer: Layer, [values, mask]: Value[], outputShape: number[]): Value {
  const g = ctx.graph
  const x = channelsLast(ctx, values).name
  const positions = g.int64s([1])
  const masked = g.op('Mul', [x, g.op('Unsqueeze', [mask.name, g.int64s([2])])], {}, layer.name)
  const summed = g.op('ReduceSum', [masked, positions], { keepdims: attr.int(0) }, layer.name)
  const counts = g.op('Max', [g.op('ReduceSum', [mask.name, positions], { keepdims: attr.int(1) }, layer.name), g.scalar(1)], {}, layer.name)
  return { name: g.op('Div', [summed, counts], {}, layer.name), shape: outputShape, channelsFirst: false }
}

/** Adds the first `length` rows of the position table. */
function positionEmbedding(ctx: ConversionContext, layer: Layer, [input]: Value[], outputShape: number[]): Value {
  const [table] = weightsOf(layer)
  const [length, dim] = input.shape
  const rows = table.values.slice(0, length * dim)
  const positions = ctx.graph.weight(`${layer.name}/embeddings`, rows, [length, dim], 0)
  const name = ctx.graph.op('Add', [channelsLast(ctx, input).name, positions], {}, layer.name)
  return { name, shape: outputShape, channelsFirst: false }
}

/**
 * softmax(q·kᵀ/√d + keyBias)·v per head, then the output projection. When
 * optimizing, 1/√d is folded into the query columns of the QKV projection.
 */
function selfAttention(ctx: ConversionContext, layer: Layer, [input, mask]: Value[], outputShape: number[]): Value {
  const g = ctx.graph
  const hint = layer.name
  const heads = Number(configOf(layer).numHeads)
  const [length, dim] = input.shape
  const headDim = dim / heads
  const scale = 1 / Math.sqrt(headDim)
  const [qkvKernel, qkvBias, outputKernel, outputBias] = weightsOf(layer)
  const kernel = qkvKernel.values
  const bias = qkvBias.values
  if (ctx.optimize) {
    for (let row = 0; row < dim; row++) for (let c = 0; c < dim; c++) kernel[row * 3 * dim + c] *= scale
    for (let c = 0; c < dim; c++) bias[c] *= scale
  }
  const x = channelsLast(ctx, input).name
  const projected = g.op('MatMul', [x, g.weight(`${hint}/qkv_kernel`, kernel, [dim, 3 * dim], 1)], {}, hint)
  const qkv = g.op('Add', [projected, g.floats(`${hint}/qkv_bias`, bias)], {}, hint)
  const [q, k, v] = g.node('Split', [qkv, g.int64s([dim, dim, dim])], { axis: attr.int(2) }, { hint, outputs: 3 })
  const byHead = (t: string, perm: number[]) =>
    g.op('Transpose', [g.op('Reshape', [t, g.int64s([0, length, heads, headDim])], {}, hint)], { perm: attr.ints(perm) }, hint)
  // [N, heads, length, headDim], keys already transposed to [N, heads, headDim, length]
  let scores = g.op('MatMul', [byHead(q, [0, 2, 1, 3]), byHead(k, [0, 2, 3, 1])], {}, hint)
  if (!ctx.optimize) scores = g.op('Mul', [scores, g.scalar(scale)], {}, hint)
  const weights = g.op('Softmax', [g.op('Add', [scores, keyBias(ctx, mask.name, length)], {}, hint)], { axis: attr.int(-1) }, hint)
  const context = g.op('MatMul', [weights, byHead(v, [0, 2, 1, 3])], {}, hint)
  const merged = g.op('Reshape', [g.op('Transpose', [context], { perm: attr.ints([0, 2, 1, 3]) }, hint), g.int64s([0, length, dim])], {}, hint)
  const out = g.op('MatMul', [merged, g.weight(`${hint}/output_kernel`, outputKernel.values, outputKernel.dims, 1)], {}, hint)
  return { name: g.op('Add', [out, g.floats(`${hint}/output_bias`, outputBias.values)], {}, hint), shape: outputShape, channelsFirst: false }
}

/** (1 - mask)·-1e9 as [N, 1, 1, length]: padding keys get ~0 attention. Shared by every attention layer on the same mask. */
function keyBias(ctx: ConversionContext, mask: string, length: number): string {
  return memoized(ctx, `key-bias:${mask}`, () => {
    const g = ctx.graph
    const bias = g.op('Mul', [g.op('Sub', [g.scalar(1), mask]), g.scalar(-1e9)], {}, 'key_bias')
    return g.op('Reshape', [bias, g.int64s([-1, 1, 1, length])], {}, 'key_bias')
  })
}

function layerNorm(ctx: ConversionContext, layer: Layer, [input]: Value[], outputShape: number[]): Value {
  const [gamma, beta] = weightsOf(layer)
  const g = ctx.graph
  const inputs = [channelsLast(ctx, input).name, g.floats(`${layer.name}/gamma`, gamma.values), g.floats(`${layer.name}/beta`, beta.values)]
  const epsilon = Number(configOf(layer).epsilon)
  const name = g.op('LayerNormalization', inputs, { axis: attr.int(-1), epsilon: attr.float(epsilon) }, layer.name)
  return { name, shape: outputShape, channelsFirst: false }
}

export const customLayers: Record<string, LayerMapping> = {
  PaddingMask: { convert: paddingMask },
  MaskedAveragePooling1D: { convert: maskedAverage },
  PositionEmbedding: { convert: positionEmbedding },
  MultiHeadSelfAttention: { convert: selfAttention },
  LayerNorm: { convert: layerNorm },
}
