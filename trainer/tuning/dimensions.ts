// The search space as the samplers see it: one axis per parameter, numeric
// ones in internal coordinates (log for log scale) where sampling is uniform
// and Parzen kernels are Gaussian, categorical ones as indices.
import { intTop, type ParameterSet, type ParameterSpec, type ParameterValue, type SearchSpace } from '../../src/domain/search-space.ts'
import { createRandom } from '../data/random.ts'

export interface NumericDimension {
  kind: 'numeric'
  name: string
  /** Internal bounds; ints reach half a step past their ends so that every value owns an equally wide cell. */
  low: number
  high: number
  toInternal(value: number): number
  /** The parameter value at an internal coordinate: ints snap to their step grid, everything stays in range. */
  toValue(internal: number): number
  /** ints: the internal interval whose points snap to `value`; floats: null (a density, not a mass). */
  cellOf: ((value: number) => [number, number]) | null
}

export interface CategoricalDimension {
  kind: 'categorical'
  name: string
  values: readonly ParameterValue[]
}

export type Dimension = NumericDimension | CategoricalDimension

const clamp = (x: number, low: number, high: number) => Math.min(high, Math.max(low, x))

function dimensionOf(name: string, spec: ParameterSpec): Dimension {
  if (spec.type === 'categorical') return { kind: 'categorical', name, values: spec.values }
  // A range of one value is a constant: a one-value categorical needs no special case anywhere.
  if (spec.type === 'float' && spec.min === spec.max) return { kind: 'categorical', name, values: [spec.min] }
  if (spec.type === 'float') {
    const log = spec.scale === 'log'
    return {
      kind: 'numeric',
      name,
      low: log ? Math.log(spec.min) : spec.min,
      high: log ? Math.log(spec.max) : spec.max,
      toInternal: log ? Math.log : (value) => value,
      toValue: (internal) => clamp(log ? Math.exp(internal) : internal, spec.min, spec.max),
      cellOf: null,
    }
  }
  const top = intTop(spec)
  if (spec.scale === 'log') {
    return {
      kind: 'numeric',
      name,
      low: Math.log(spec.min - 0.5),
      high: Math.log(top + 0.5),
      toInternal: Math.log,
      toValue: (internal) => clamp(Math.round(Math.exp(internal)), spec.min, top),
      cellOf: (value) => [Math.log(value - 0.5), Math.log(value + 0.5)],
    }
  }
  const half = spec.step / 2
  return {
    kind: 'numeric',
    name,
    low: spec.min - half,
    high: top + half,
    toInternal: (value) => value,
    toValue: (internal) => clamp(spec.min + Math.round((internal - spec.min) / spec.step) * spec.step, spec.min, top),
    cellOf: (value) => [value - half, value + half],
  }
}

/** The axes of a search space, in the order its parameters were written. */
export function dimensionsOf(space: SearchSpace): Dimension[] {
  return Object.entries(space).map(([name, spec]) => dimensionOf(name, spec))
}

/** One coordinate of a parameter value (internal coordinate or category index), or null when the value is not in the space. */
export function coordinateOf(dimension: Dimension, value: ParameterValue | undefined): number | null {
  if (dimension.kind === 'categorical') {
    const index = dimension.values.indexOf(value as ParameterValue)
    return index >= 0 ? index : null
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) return null
  const snapped = dimension.toValue(dimension.toInternal(value))
  const exact = dimension.cellOf ? snapped === value : Math.abs(snapped - value) <= 1e-12 * Math.max(1, Math.abs(value))
  return exact ? dimension.toInternal(snapped) : null
}

/** The parameter value at a coordinate. */
export function valueAt(dimension: Dimension, coordinate: number): ParameterValue {
  return dimension.kind === 'categorical' ? dimension.values[coordinate] : dimension.toValue(coordinate)
}

/** A coordinate drawn uniformly: uniform in internal coordinates is log-uniform for log scale and uniform over an int's values. */
export function uniformCoordinate(dimension: Dimension, random: () => number): number {
  if (dimension.kind === 'categorical') return Math.floor(random() * dimension.values.length)
  return dimension.toInternal(dimension.toValue(dimension.low + random() * (dimension.high - dimension.low)))
}

export function parameterSetAt(dimensions: readonly Dimension[], coordinates: readonly number[]): ParameterSet {
  return Object.fromEntries(dimensions.map((dimension, i) => [dimension.name, valueAt(dimension, coordinates[i])]))
}

/** A uniformly random point of the space. */
export function randomParameterSet(dimensions: readonly Dimension[], random: () => number): ParameterSet {
  return parameterSetAt(
    dimensions,
    dimensions.map((dimension) => uniformCoordinate(dimension, random)),
  )
}

/** murmur3's 32-bit finaliser: nearby inputs give unrelated outputs. */
function mix32(x: number): number {
  x ^= x >>> 16
  x = Math.imul(x, 0x85ebca6b)
  x ^= x >>> 13
  x = Math.imul(x, 0xc2b2ae35)
  x ^= x >>> 16
  return x >>> 0
}

/**
 * The generator of one trial. mulberry32 streams of seeds s and s + k·0x6d2b79f5
 * are shifts of each other, so (seed, trialNumber) is hashed rather than added:
 * trial n's draws never depend on how many suggestions came before.
 */
export function trialRandom(seed: number, trialNumber: number): () => number {
  return createRandom(mix32(mix32(seed >>> 0) ^ (trialNumber >>> 0)))
}
