// Search quality apart from training (issue 4's benchmark): random against
// bayesian (TPE) on standard test functions, the median over seeds of the best
// value after 20, 50 and 100 sequential trials, and the time to suggest the
// 100th trial.
//   npx tsx bench/tuning-search.ts [--seeds 20 --trials 100]
import { performance } from 'node:perf_hooks'
import type { ParameterSet, SearchSpace } from '../src/domain/search-space.ts'
import { standardNormal } from '../trainer/tuning/gaussian.ts'
import { trialRandom } from '../trainer/tuning/dimensions.ts'
import { createSampler, type Observation, type SamplerKind } from '../trainer/tuning/samplers.ts'
import { machine, median, numberOption, table } from './lib.ts'

const seeds = numberOption('seeds', 20)
const trials = numberOption('trials', 100)
const checkpoints = [20, 50, 100].filter((n) => n <= trials)

interface TestFunction {
  name: string
  space: SearchSpace
  optimum: number
  /** What the tuner observes for trial `trialNumber` of run `seed` (noise, if any, fixed by both). */
  observe(parameters: ParameterSet, seed: number, trialNumber: number): number
  /** The noise-free value: what the chosen parameters are really worth. */
  truth(parameters: ParameterSet): number
}

function branin(p: ParameterSet): number {
  const x1 = p.x1 as number
  const x2 = p.x2 as number
  const b = 5.1 / (4 * Math.PI ** 2)
  const c = 5 / Math.PI
  const t = 1 / (8 * Math.PI)
  return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * Math.cos(x1) + 10
}

const hartmannAlpha = [1.0, 1.2, 3.0, 3.2]
const hartmannA = [
  [10, 3, 17, 3.5, 1.7, 8],
  [0.05, 10, 17, 0.1, 8, 14],
  [3, 3.5, 1.7, 10, 17, 8],
  [17, 8, 0.05, 10, 0.1, 14],
]
const hartmannP = [
  [1312, 1696, 5569, 124, 8283, 5886],
  [2329, 4135, 8307, 3736, 1004, 9991],
  [2348, 1451, 3522, 2883, 3047, 6650],
  [4047, 8828, 8732, 5743, 1091, 381],
].map((row) => row.map((v) => v * 1e-4))

function hartmann6(p: ParameterSet): number {
  const x = [0, 1, 2, 3, 4, 5].map((j) => p[`x${j + 1}`] as number)
  return -hartmannAlpha.reduce(
    (sum, alpha, i) => sum + alpha * Math.exp(-x.reduce((inner, xj, j) => inner + hartmannA[i][j] * (xj - hartmannP[i][j]) ** 2, 0)),
    0,
  )
}

// The optimizer moves the best learning rate and adds its own floor, as real optimizers do.
const optimizerShape: Record<string, { log10Rate: number; floor: number }> = {
  sgd: { log10Rate: -1.5, floor: 0.3 },
  adam: { log10Rate: -3.5, floor: 0 },
  rmsprop: { log10Rate: -3, floor: 0.1 },
}

function mixedQuadratic(p: ParameterSet): number {
  const shape = optimizerShape[p.optimizer as string]
  return (
    (Math.log10(p.learningRate as number) - shape.log10Rate) ** 2 +
    10 * ((p.dropout as number) - 0.2) ** 2 +
    (((p.layers as number) - 5) / 2) ** 2 +
    (Math.log2(p.batchSize as number) - 6) ** 2 / 4 +
    shape.floor
  )
}

const NOISE_SD = 0.1

const functions: TestFunction[] = [
  {
    name: 'Branin (2 floats)',
    space: { x1: { type: 'float', min: -5, max: 10, scale: 'linear' }, x2: { type: 'float', min: 0, max: 15, scale: 'linear' } },
    optimum: 0.397887,
    observe: branin,
    truth: branin,
  },
  {
    name: 'Hartmann-6 (6 floats)',
    space: Object.fromEntries([1, 2, 3, 4, 5, 6].map((j) => [`x${j}`, { type: 'float', min: 0, max: 1, scale: 'linear' }])),
    optimum: -3.32237,
    observe: hartmann6,
    truth: hartmann6,
  },
  {
    name: `noisy quadratic (mixed, noise sd ${NOISE_SD})`,
    space: {
      learningRate: { type: 'float', min: 1e-5, max: 1e-1, scale: 'log' },
      dropout: { type: 'float', min: 0, max: 0.5, scale: 'linear' },
      layers: { type: 'int', min: 1, max: 8, step: 1, scale: 'linear' },
      batchSize: { type: 'int', min: 16, max: 512, step: 1, scale: 'log' },
      optimizer: { type: 'categorical', values: ['sgd', 'adam', 'rmsprop'] },
    },
    optimum: 0,
    // The noise seed is not the sampler's: it must not correlate with the suggestions.
    observe: (p, seed, trialNumber) => mixedQuadratic(p) + NOISE_SD * standardNormal(trialRandom(seed + 1_000_003, trialNumber)),
    truth: mixedQuadratic,
  },
]

interface Strategy {
  label: string
  kind: SamplerKind
  multivariate?: boolean
}

const strategies: Strategy[] = [
  { label: 'random', kind: 'random' },
  { label: 'bayesian (multivariate, default)', kind: 'bayesian', multivariate: true },
  { label: 'bayesian (univariate)', kind: 'bayesian', multivariate: false },
]

interface Run {
  /** truth of the best observed trial after each trial */
  bestSoFar: number[]
  lastSuggestMs: number
}

/** One sequential tuning: suggest, evaluate, record, as the controller does with parallelism 1. */
function tune(fn: TestFunction, strategy: Strategy, seed: number): Run {
  const sampler = createSampler(strategy.kind, fn.space, { seed, direction: 'minimize', multivariate: strategy.multivariate })
  const history: Observation[] = []
  const bestSoFar: number[] = []
  let bestObserved = Infinity
  let bestTruth = Infinity
  let lastSuggestMs = 0
  for (let trialNumber = 0; trialNumber < trials; trialNumber++) {
    const started = performance.now()
    const parameters = sampler.suggest(trialNumber, history)
    lastSuggestMs = performance.now() - started
    const value = fn.observe(parameters, seed, trialNumber)
    history.push({ parameters, state: 'completed', value })
    if (value < bestObserved) {
      bestObserved = value
      bestTruth = fn.truth(parameters)
    }
    bestSoFar.push(bestTruth)
  }
  return { bestSoFar, lastSuggestMs }
}

const format = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(1) : x.toFixed(4))

const rows: (string | number)[][] = []
const suggestRows: (string | number)[][] = []
const verdicts: string[] = []
const started = performance.now()
const at = Math.min(50, trials)
for (const fn of functions) {
  const medianAt = new Map<string, number>()
  for (const strategy of strategies) {
    const runs = Array.from({ length: seeds }, (_, seed) => tune(fn, strategy, seed))
    const medians = checkpoints.map((n) => median(runs.map((run) => run.bestSoFar[n - 1])))
    medianAt.set(strategy.label, median(runs.map((run) => run.bestSoFar[at - 1])))
    rows.push([fn.name, format(fn.optimum), strategy.label, ...medians.map(format)])
    suggestRows.push([
      fn.name,
      strategy.label,
      median(runs.map((run) => run.lastSuggestMs)).toFixed(2),
      Math.max(...runs.map((run) => run.lastSuggestMs)).toFixed(2),
    ])
  }
  const better = medianAt.get(strategies[1].label)! < medianAt.get('random')!
  verdicts.push(`${fn.name}: bayesian ${better ? 'better' : 'NOT better'} than random after ${at} trials`)
}

console.log(`Tuning search quality: ${seeds} seeds × ${trials} sequential trials, minimize. ${machine()}`)
console.log('Best value = noise-free value of the best observed trial, median over seeds.\n')
console.log(table(['function', 'optimum', 'strategy', ...checkpoints.map((n) => `best after ${n}`)], rows))
console.log(`\nTime to suggest trial ${trials} (with ${trials - 1} completed trials in the history), ms:\n`)
console.log(table(['function', 'strategy', 'median ms', 'max ms'], suggestRows))
console.log(`\n${verdicts.join('\n')}`)
console.log(`\nTotal ${((performance.now() - started) / 1000).toFixed(1)} s`)
