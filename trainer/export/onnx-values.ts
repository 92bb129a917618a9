// What the layer converters share: the values flowing between them (an ONNX
// value with the TF.js shape it stands for, where its channels are and, when
// optimizing, a form the next linear layer can fold into its weights), the
// mapping interface, and layout helpers.
import type * as tfl from '@tensorflow/tfjs-layers'
import { attr, type GraphBuilder } from './onnx-graph.ts'

type Layer = tfl.layers.Layer

export interface Value {
  name: string
  /** The shape without the batch dimension, channels last, as the TF.js layer sees it. */
  shape: number[]
  /** Convolution outputs stay channels-first (ONNX's NCHW) until a layer needs them channels-last. */
  channelsFirst: boolean
  /** Set only when optimizing: an equivalent form that the next Dense or convolution folds into its weights. */
  fold?: Fold
}

export type Fold =
  /** value = input · factor, e.g. pixels divided by the image scale */
  | { kind: 'scale'; input: string; factor: number }
  /** A channels-first tensor flattened as it lies: input[:, j] = value[:, order[j]] */
  | { kind: 'permutation'; input: string; order: Int32Array }
  /** The encoded tabular features before standardization and one-hot encoding */
  | { kind: 'tabular'; numeric: NumericFeatures | null; categorical: CategoricalFeature[] }

export interface NumericFeatures {
  /** float32 [N, count]: (input - mean) / std is the standardized value (mean 0 and std 1 when the input is already standardized) */
  input: string
  /** Each numeric column's index in the encoded feature vector */
  positions: number[]
  mean: number[]
  std: number[]
}

export interface CategoricalFeature {
  column: string
  /** int64 [N]: the category's slot (the last one for unseen or missing values) */
  indices: string
  /** First index of this column's one-hot block in the encoded feature vector */
  offset: number
  width: number
}

export interface ConversionContext {
  graph: GraphBuilder
  optimize: boolean
  /**
   * Which foldings keep the stored weights as precise (set only when optimizing):
   * `scales` multiplies a layer's weights by one factor (the image scale, the
   * regression target's std), harmless for float32 and per-channel int8 but
   * apt to leave float16's range; `standardization` divides kernel rows by
   * each column's std, which only float32 stores without loss.
   */
  folds: { scales: boolean; standardization: boolean }
  /** Results worth computing once per graph (layout changes, the attention key bias of a mask), by key. */
  memo: Map<string, string>
}

/** output = value · scale + shift, folded into a final linear layer (regression targets back in original units). */
export interface Rescale {
  scale: number
  shift: number
}

export interface LayerMapping {
  /** Why this layer's configuration has no ONNX form, or null. */
  unsupported?(layer: Layer): string | null
  /** The layer's output; `outputShape` is TF.js' (no batch dimension). Only Dense takes `rescale`. */
  convert(ctx: ConversionContext, layer: Layer, inputs: Value[], outputShape: number[], rescale?: Rescale): Value
}

export interface Weight {
  values: Float32Array
  dims: number[]
}

/** The layer's weights in the order it created them (Dense: kernel, bias; Embedding: embeddings; ...). */
export function weightsOf(layer: Layer): Weight[] {
  return layer.getWeights().map((w) => ({ values: Float32Array.from(w.dataSync() as Float32Array), dims: w.shape }))
}

/** The layer's serialized configuration, read loosely: TF.js types it as a tree of JSON values. */
export function configOf(layer: Layer): Record<string, unknown> {
  return layer.getConfig() as Record<string, unknown>
}

export function memoized(ctx: ConversionContext, key: string, make: () => string): string {
  let name = ctx.memo.get(key)
  if (name === undefined) {
    name = make()
    ctx.memo.set(key, name)
  }
  return name
}

/** The value laid out channels-last, as TF.js has it. */
export function channelsLast(ctx: ConversionContext, value: Value): Value {
  if (!value.channelsFirst) return value
  const rank = value.shape.length + 1
  const perm = [0, ...range(2, rank), 1]
  const name = memoized(ctx, `channels-last:${value.name}`, () => ctx.graph.op('Transpose', [value.name], { perm: attr.ints(perm) }))
  return { name, shape: value.shape, channelsFirst: false }
}

/** The value laid out channels-first, as ONNX convolutions and pools want it; a pending scale moves along. */
export function channelsFirst(ctx: ConversionContext, value: Value): Value {
  if (value.channelsFirst) return value
  const rank = value.shape.length + 1
  const perm = [0, rank - 1, ...range(1, rank - 1)]
  const transpose = (name: string) => memoized(ctx, `channels-first:${name}`, () => ctx.graph.op('Transpose', [name], { perm: attr.ints(perm) }))
  return { name: transpose(value.name), shape: value.shape, channelsFirst: true, fold: mapScale(value.fold, transpose) }
}

/** The channels-last value reshaped to `shape` (batch kept); a pending scale moves along. */
export function reshape(ctx: ConversionContext, value: Value, shape: number[]): Value {
  const source = channelsLast(ctx, value)
  const target = ctx.graph.int64s([0, ...shape])
  const apply = (name: string) => ctx.graph.op('Reshape', [name, target])
  return { name: apply(source.name), shape, channelsFirst: false, fold: mapScale(source.fold, apply) }
}

/** A scale still to apply survives layout and shape changes; other folds do not. */
function mapScale(fold: Fold | undefined, apply: (name: string) => string): Fold | undefined {
  return fold?.kind === 'scale' ? { ...fold, input: apply(fold.input) } : undefined
}

export function range(start: number, end: number): number[] {
  return Array.from({ length: Math.max(0, end - start) }, (_, i) => start + i)
}
