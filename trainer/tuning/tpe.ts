// Tree-structured Parzen Estimator as Optuna's TPESampler does it: split the
// history into a good ("below") and a bad ("above") group, fit a Parzen
// mixture to each, draw candidates from the good one and keep the one with
// the largest l(x)/g(x).
import { LOG_SQRT_2PI, logNormalMass, truncatedNormal } from './gaussian.ts'
import type { Dimension, NumericDimension } from './dimensions.ts'

/** One observation in coordinates, ranked for the split. */
export interface RankedPoint {
  coordinates: number[]
  state: 'completed' | 'pruned' | 'running'
  /** The objective turned into a loss (maximize negated); pruned: the last intermediate value; Infinity when unknown. */
  loss: number
  /** pruned: the epoch of that value; trials pruned later rank better. */
  epoch: number
}

export interface TpeOptions {
  candidates: number
  /** One product kernel over all parameters (Optuna `multivariate=True`) rather than one estimator per parameter. */
  multivariate: boolean
}

const PRIOR_WEIGHT = 1

/** Optuna's default_gamma: the size of the good group. */
export function goodGroupSize(n: number): number {
  return Math.min(Math.ceil(0.1 * n), 25)
}

/** Optuna's default_weights: the newest 25 observations weigh 1, older ones ramp down linearly from 1/n. */
export function observationWeights(n: number): number[] {
  if (n < 25) return new Array<number>(n).fill(1)
  const ramp = n - 25
  return Array.from({ length: n }, (_, i) => (i >= ramp ? 1 : ramp === 1 ? 1 / n : 1 / n + ((1 - 1 / n) * i) / (ramp - 1)))
}

const rankOrder = { completed: 0, pruned: 1, running: 2 } as const

/**
 * Optuna's _split_trials: completed trials by loss, then pruned ones (later
 * epoch first, then loss), then running ones, which the constant liar always
 * puts in the bad group. Both groups keep history order, which the weights read as age.
 */
export function splitGoodBad(points: readonly RankedPoint[]): { good: RankedPoint[]; bad: RankedPoint[] } {
  const finished = points.filter((point) => point.state !== 'running').length
  const ranked = points
    .map((point, index) => ({ point, index }))
    .sort((a, b) => rankOrder[a.point.state] - rankOrder[b.point.state] || b.point.epoch - a.point.epoch || a.point.loss - b.point.loss || a.index - b.index)
  const goodIndices = new Set(ranked.slice(0, goodGroupSize(finished)).map((entry) => entry.index))
  return { good: points.filter((_, i) => goodIndices.has(i)), bad: points.filter((_, i) => !goodIndices.has(i)) }
}

interface NumericKernels {
  dimension: NumericDimension
  mus: number[]
  sigmas: number[]
  /** log of each truncated kernel's mass inside [low, high] */
  logMasses: number[]
}

/** Row k: the probabilities of the categories under kernel k. */
type CategoricalKernels = number[][]

interface ParzenEstimator {
  weights: number[]
  logWeights: number[]
  axes: (NumericKernels | CategoricalKernels)[]
}

/**
 * Optuna's bandwidths. Univariate: the larger gap to a neighbouring kernel
 * (the prior at the centre included; the outermost kernels use their inner
 * gap, consider_endpoints=False). Multivariate: Scott's rule over the range.
 * Then the magic clip: at least range / min(100, kernels + 1).
 */
function bandwidths(mus: readonly number[], low: number, high: number, multivariate: boolean, dimensionCount: number): number[] {
  const range = high - low
  const n = mus.length
  let sigmas: number[]
  if (multivariate) {
    sigmas = new Array<number>(n).fill(0.2 * Math.max(n, 1) ** (-1 / (dimensionCount + 4)) * range)
  } else {
    const withPrior = [...mus, 0.5 * (low + high)]
    const order = withPrior.map((_, i) => i).sort((a, b) => withPrior[a] - withPrior[b])
    const edges = [low, ...order.map((i) => withPrior[i]), high]
    const sorted = order.map((_, k) => Math.max(edges[k + 1] - edges[k], edges[k + 2] - edges[k + 1]))
    if (edges.length >= 4) {
      sorted[0] = edges[2] - edges[1]
      sorted[sorted.length - 1] = edges[edges.length - 2] - edges[edges.length - 3]
    }
    sigmas = new Array<number>(n)
    order.forEach((original, k) => {
      if (original < n) sigmas[original] = sorted[k]
    })
  }
  const minimum = range / Math.min(100, n + 2)
  return sigmas.map((sigma) => Math.min(range, Math.max(minimum, sigma)))
}

function numericKernels(dimension: NumericDimension, observed: number[], multivariate: boolean, dimensionCount: number): NumericKernels {
  const { low, high } = dimension
  const mus = [...observed, 0.5 * (low + high)]
  const sigmas = [...bandwidths(observed, low, high, multivariate, dimensionCount), high - low]
  return { dimension, mus, sigmas, logMasses: mus.map((mu, k) => logNormalMass((low - mu) / sigmas[k], (high - mu) / sigmas[k])) }
}

/** Optuna's categorical kernel: prior_weight / kernels spread over every category, plus 1 on the observed one; the prior row is uniform. */
function categoricalKernels(categoryCount: number, observed: number[]): CategoricalKernels {
  const spread = PRIOR_WEIGHT / (observed.length + 1)
  const rows = [...observed, -1].map((index) => Array.from({ length: categoryCount }, (_, c) => spread + (c === index ? 1 : 0)))
  return rows.map((row) => {
    const total = row.reduce((sum, p) => sum + p, 0)
    return row.map((p) => p / total)
  })
}

function buildEstimator(dimensions: readonly Dimension[], points: readonly number[][], multivariate: boolean): ParzenEstimator {
  const raw = [...observationWeights(points.length), PRIOR_WEIGHT]
  const total = raw.reduce((sum, w) => sum + w, 0)
  const weights = raw.map((w) => w / total)
  const axes = dimensions.map((dimension, d) => {
    const observed = points.map((point) => point[d])
    return dimension.kind === 'categorical'
      ? categoricalKernels(dimension.values.length, observed)
      : numericKernels(dimension, observed, multivariate, dimensions.length)
  })
  return { weights, logWeights: weights.map(Math.log), axes }
}

function pickIndex(probabilities: readonly number[], random: () => number): number {
  let u = random()
  for (let i = 0; i < probabilities.length - 1; i++) {
    u -= probabilities[i]
    if (u < 0) return i
  }
  return probabilities.length - 1
}

/** One draw from the mixture: a kernel, then every axis from that kernel. Numeric draws snap to the parameter's grid. */
function sampleEstimator(estimator: ParzenEstimator, random: () => number): number[] {
  const k = pickIndex(estimator.weights, random)
  return estimator.axes.map((axis) => {
    if (Array.isArray(axis)) return pickIndex(axis[k], random)
    const { dimension, mus, sigmas } = axis
    return dimension.toInternal(dimension.toValue(truncatedNormal(mus[k], sigmas[k], dimension.low, dimension.high, random)))
  })
}

function axisLogDensity(axis: NumericKernels | CategoricalKernels, k: number, x: number): number {
  if (Array.isArray(axis)) return Math.log(axis[k][x])
  const { dimension, mus, sigmas, logMasses } = axis
  const mu = mus[k]
  const sigma = sigmas[k]
  if (dimension.cellOf) {
    const [from, to] = dimension.cellOf(dimension.toValue(x))
    return logNormalMass((from - mu) / sigma, (to - mu) / sigma) - logMasses[k]
  }
  const z = (x - mu) / sigma
  return -0.5 * z * z - Math.log(sigma) - LOG_SQRT_2PI - logMasses[k]
}

/** log of the mixture's density (mass, for ints and categories) at a point: log-sum-exp over kernels. */
function logDensity(estimator: ParzenEstimator, point: readonly number[]): number {
  const terms = estimator.logWeights.map((logWeight, k) => estimator.axes.reduce((sum, axis, d) => sum + axisLogDensity(axis, k, point[d]), logWeight))
  const top = Math.max(...terms)
  if (top === -Infinity) return top
  return top + Math.log(terms.reduce((sum, term) => sum + Math.exp(term - top), 0))
}

/** The candidate drawn from l(x) that maximises log l(x) − log g(x). */
function bestCandidate(
  dimensions: readonly Dimension[],
  good: readonly number[][],
  bad: readonly number[][],
  options: TpeOptions,
  random: () => number,
): number[] {
  const below = buildEstimator(dimensions, good, options.multivariate)
  const above = buildEstimator(dimensions, bad, options.multivariate)
  let best: number[] = []
  let bestScore = -Infinity
  for (let i = 0; i < options.candidates; i++) {
    const candidate = sampleEstimator(below, random)
    const score = logDensity(below, candidate) - logDensity(above, candidate)
    if (i === 0 || score > bestScore) {
      best = candidate
      bestScore = score
    }
  }
  return best
}

/** The TPE suggestion, in coordinates. Univariate mode runs one estimator pair per parameter, as Optuna's default. */
export function suggestCoordinates(dimensions: readonly Dimension[], points: readonly RankedPoint[], options: TpeOptions, random: () => number): number[] {
  if (dimensions.length === 0) return []
  const { good, bad } = splitGoodBad(points)
  const goodPoints = good.map((point) => point.coordinates)
  const badPoints = bad.map((point) => point.coordinates)
  if (options.multivariate) return bestCandidate(dimensions, goodPoints, badPoints, options, random)
  return dimensions.map((dimension, d) => {
    const column = (rows: number[][]) => rows.map((row) => [row[d]])
    return bestCandidate([dimension], column(goodPoints), column(badPoints), options, random)[0]
  })
}
