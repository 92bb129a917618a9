// Weights as the TF.js weights manifest stores them: float32 as model.save
// writes them, or quantized the way tensorflowjs_converter does (affine uint8
// with one scale and min per tensor, or float16 bits), which
// tf.loadLayersModel dequantizes on load; the bytes split into the
// converter's 4 MiB shards.
import type * as tf from '@tensorflow/tfjs-core'
import { toFloat16 } from './onnx-graph.ts'

export type WeightQuantization = 'int8' | 'float16' | null

/** One saved weight: its manifest entry as model.save wrote it, and its values. */
export interface NamedWeight {
  spec: tf.io.WeightsManifestEntry
  /** float32 weights as numbers (folding rewrites them); other dtypes as their raw bytes. */
  values: Float32Array | Uint8Array
}

/** tensorflowjs_converter's default shard size. */
export const SHARD_BYTES = 4 * 1024 * 1024
const FLOAT16_MAX = 65504

/** Splits the model.save weight bytes into one NamedWeight per manifest entry. */
export function splitWeights(specs: tf.io.WeightsManifestEntry[], data: ArrayBuffer): NamedWeight[] {
  let offset = 0
  const weights: NamedWeight[] = []
  for (const spec of specs) {
    const size = spec.shape.reduce((a, b) => a * b, 1)
    const bytes = size * (spec.dtype === 'bool' ? 1 : 4)
    const chunk = data.slice(offset, offset + bytes)
    offset += bytes
    weights.push({ spec, values: spec.dtype === 'float32' ? new Float32Array(chunk) : new Uint8Array(chunk) })
  }
  return weights
}

/** The float32 weights by name: the arrays folding rewrites in place. */
export function floatWeights(weights: NamedWeight[]): Map<string, Float32Array> {
  const floats = new Map<string, Float32Array>()
  for (const { spec, values } of weights) if (values instanceof Float32Array) floats.set(spec.name, values)
  return floats
}

/**
 * Manifest entries and bytes for `weights`. Quantization applies to float32
 * matrices and tables (rank ≥ 2), which hold nearly all the bytes; vectors
 * (biases, norm scales) stay float32, as do the weights named in `exact` and,
 * for float16, weights with a value beyond float16's range.
 */
export function encodeWeights(
  weights: NamedWeight[],
  quantize: WeightQuantization,
  exact: ReadonlySet<string>,
): { specs: tf.io.WeightsManifestEntry[]; data: Uint8Array } {
  const specs: tf.io.WeightsManifestEntry[] = []
  const parts: Uint8Array[] = []
  for (const { spec, values } of weights) {
    const { name, shape, dtype } = spec
    const entry: tf.io.WeightsManifestEntry = { name, shape, dtype }
    let bytes = values instanceof Float32Array ? asBytes(values) : values
    if (values instanceof Float32Array && shape.length >= 2 && !exact.has(name)) {
      if (quantize === 'int8') {
        const { data, scale, min } = quantizeUint8(values)
        entry.quantization = { dtype: 'uint8', scale, min }
        bytes = data
      } else if (quantize === 'float16' && values.every((v) => Math.abs(v) <= FLOAT16_MAX)) {
        entry.quantization = { dtype: 'float16' }
        bytes = asBytes(toFloat16(values))
      }
    }
    specs.push(entry)
    parts.push(bytes)
  }
  return { specs, data: concat(parts) }
}

/**
 * tensorflowjs_converter's affine uint8 quantization: 256 levels from the
 * tensor's min to its max, the range nudged so that 0 falls on a level (zero
 * padding and zero weights stay exact). tf.loadLayersModel reads q·scale + min.
 */
export function quantizeUint8(values: Float32Array): { data: Uint8Array; scale: number; min: number } {
  let low = Infinity
  let high = -Infinity
  for (const v of values) {
    low = Math.min(low, v)
    high = Math.max(high, v)
  }
  // A constant tensor: every value is `low`, stored as level 0.
  const scale = high > low ? (high - low) / 255 : 1
  const min = low <= 0 && high >= 0 ? -Math.round(-low / scale) * scale : low
  const data = Uint8Array.from(values, (v) => Math.min(255, Math.max(0, Math.round((v - min) / scale))))
  return { data, scale, min }
}

/** The weight bytes as shard files named as tensorflowjs_converter names them. */
export function shardWeights(data: Uint8Array): { path: string; bytes: Uint8Array }[] {
  const count = Math.ceil(data.length / SHARD_BYTES)
  return Array.from({ length: count }, (_, i) => ({
    path: `group1-shard${i + 1}of${count}.bin`,
    bytes: data.subarray(i * SHARD_BYTES, (i + 1) * SHARD_BYTES),
  }))
}

function asBytes(values: Float32Array | Uint16Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}
