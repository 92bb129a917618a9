// The search strategies of a hyperparameter tuning (issue 2): grid, random and
// bayesian (a Tree-structured Parzen Estimator). Each suggestion is a pure
// function of (seed, trial number, history), so a restarted controller that
// asks again gets the same parameters.
import { gridOf, type Direction, type ParameterSet, type SearchSpace } from '../../src/domain/search-space.ts'
import { shuffledIndices } from '../data/random.ts'
import { coordinateOf, dimensionsOf, parameterSetAt, randomParameterSet, trialRandom, type Dimension } from './dimensions.ts'
import { suggestCoordinates, type RankedPoint } from './tpe.ts'

/** A trial the sampler learns from. value: the objective (null while running); pruned trials carry their last intermediate value. */
export interface Observation {
  parameters: ParameterSet
  state: 'completed' | 'pruned' | 'running'
  value: number | null
  /** pruned: the epoch of `value`; among pruned trials, those stopped later rank better (Optuna's rule). */
  epoch?: number
}

export interface SamplerOptions {
  seed: number
  direction: Direction
  /** bayesian: random trials before the model is used (default 10, like Optuna; fewer when maxTrials is small: callers pass it). */
  startupTrials?: number
  /** grid: points per float/int range (default 3) */
  gridPoints?: number
  /** bayesian: candidates drawn from l(x) per suggestion (default 24, Optuna's n_ei_candidates). */
  candidates?: number
  /** bayesian: one joint kernel over all parameters (default true; Optuna `multivariate=True`) or one estimator per parameter. */
  multivariate?: boolean
}

export interface Sampler {
  /** Parameters for trial `trialNumber` (0-based) given everything observed so far (including warm-start observations from earlier tunings, and running trials). Deterministic: same seed, same trialNumber, same history → same answer. */
  suggest(trialNumber: number, history: readonly Observation[]): ParameterSet
  /** grid only: the number of points; null for random and bayesian. */
  readonly size: number | null
}

export type SamplerKind = 'grid' | 'random' | 'bayesian'

/**
 * Grid points in a seeded random order, as Optuna's GridSampler does, so
 * that a tuning cut short by maxTrials still spreads over every parameter.
 * Trial n takes the n-th point of that order whatever happened to earlier
 * trials: a grid search tries every point exactly once.
 */
function createGridSampler(space: SearchSpace, options: SamplerOptions): Sampler {
  const points = gridOf(space, options.gridPoints ?? 3)
  const order = shuffledIndices(points.length, options.seed)
  return {
    size: points.length,
    suggest: (trialNumber) => ({ ...points[order[trialNumber % points.length]] }),
  }
}

function createRandomSampler(space: SearchSpace, options: SamplerOptions): Sampler {
  const dimensions = dimensionsOf(space)
  return { size: null, suggest: (trialNumber) => randomParameterSet(dimensions, trialRandom(options.seed, trialNumber)) }
}

/** An observation in the model's terms, or null when it cannot teach anything (no objective, or a point outside this space). */
function rankedPoint(dimensions: readonly Dimension[], observation: Observation, sign: number): RankedPoint | null {
  const coordinates = dimensions.map((dimension) => coordinateOf(dimension, observation.parameters[dimension.name]))
  if (coordinates.some((coordinate) => coordinate === null)) return null
  const value = observation.value
  const known = value !== null && Number.isFinite(value)
  if (observation.state === 'completed' && !known) return null
  const loss = known && observation.state !== 'running' ? sign * value : Infinity
  // Pruned before reporting anything ranks after every pruned trial that did report (Optuna).
  const epoch = observation.state === 'pruned' ? (known ? (observation.epoch ?? 0) : -1) : 0
  return { coordinates: coordinates as number[], state: observation.state, loss, epoch }
}

function createTpeSampler(space: SearchSpace, options: SamplerOptions): Sampler {
  const dimensions = dimensionsOf(space)
  const startupTrials = options.startupTrials ?? 10
  const sign = options.direction === 'maximize' ? -1 : 1
  const tpe = { candidates: options.candidates ?? 24, multivariate: options.multivariate ?? true }
  return {
    size: null,
    suggest(trialNumber, history) {
      const random = trialRandom(options.seed, trialNumber)
      const points = history.map((observation) => rankedPoint(dimensions, observation, sign)).filter((point) => point !== null)
      const finished = points.filter((point) => point.state !== 'running').length
      if (finished < startupTrials) return randomParameterSet(dimensions, random)
      return parameterSetAt(dimensions, suggestCoordinates(dimensions, points, tpe, random))
    },
  }
}

export function createSampler(kind: SamplerKind, space: SearchSpace, options: SamplerOptions): Sampler {
  switch (kind) {
    case 'grid':
      return createGridSampler(space, options)
    case 'random':
      return createRandomSampler(space, options)
    case 'bayesian':
      return createTpeSampler(space, options)
  }
}
