import { describe, expect, it } from 'vitest'
import type { Direction, ParameterSet, SearchSpace } from '../../src/domain/search-space.ts'
import { gridOf } from '../../src/domain/search-space.ts'
import { createSampler, type Observation, type Sampler } from '../../trainer/tuning/samplers.ts'
import { ashaDecision, medianDecision, type TrialProgress } from '../../trainer/tuning/pruners.ts'
import { goodGroupSize, observationWeights, splitGoodBad, type RankedPoint } from '../../trainer/tuning/tpe.ts'

const mixedSpace: SearchSpace = {
  learningRate: { type: 'float', min: 1e-4, max: 1e-1, scale: 'log' },
  dropout: { type: 'float', min: 0, max: 0.5, scale: 'linear' },
  units: { type: 'int', min: 16, max: 130, step: 16, scale: 'linear' },
  batchSize: { type: 'int', min: 8, max: 512, step: 1, scale: 'log' },
  activation: { type: 'categorical', values: ['relu', 'tanh', 'gelu'] },
}

const key = (parameters: ParameterSet) => JSON.stringify(parameters)

/** Asserts that every parameter lies in its range, on its step grid, or among its values. */
function expectInside(space: SearchSpace, parameters: ParameterSet): void {
  expect(Object.keys(parameters).sort()).toEqual(Object.keys(space).sort())
  for (const [name, spec] of Object.entries(space)) {
    const value = parameters[name]
    if (spec.type === 'categorical') {
      expect(spec.values).toContain(value)
      continue
    }
    expect(typeof value).toBe('number')
    const x = value as number
    expect(x).toBeGreaterThanOrEqual(spec.min)
    expect(x).toBeLessThanOrEqual(spec.max)
    if (spec.type === 'int') expect(Number.isInteger((x - spec.min) / spec.step)).toBe(true)
  }
}

/** A sequential tuning: each suggestion is evaluated and completed before the next. */
function tune(sampler: Sampler, objective: (p: ParameterSet) => number, trials: number, history: Observation[] = []): Observation[] {
  for (let trialNumber = history.length; trialNumber < trials; trialNumber++) {
    const parameters = sampler.suggest(trialNumber, history)
    history.push({ parameters, state: 'completed', value: objective(parameters) })
  }
  return history
}

describe('gridOf', () => {
  it('enumerates the product of log-spaced floats, step-snapped ints and every category, first parameter slowest', () => {
    const space: SearchSpace = {
      learningRate: { type: 'float', min: 1e-4, max: 1e-2, scale: 'log' },
      units: { type: 'int', min: 16, max: 128, step: 16, scale: 'linear' },
      activation: { type: 'categorical', values: ['relu', 'tanh'] },
    }
    const grid = gridOf(space, 3)
    expect(grid).toHaveLength(3 * 3 * 2)
    expect(new Set(grid.map(key)).size).toBe(grid.length)
    const rates = [...new Set(grid.map((p) => p.learningRate as number))]
    expect(rates[0]).toBe(1e-4)
    expect(rates[1]).toBeCloseTo(1e-3, 12)
    expect(rates[2]).toBe(1e-2)
    // 16, 72, 128 evenly spaced; 72 snaps to the step grid (16 + 4·16).
    expect([...new Set(grid.map((p) => p.units))]).toEqual([16, 80, 128])
    expect(grid.slice(0, 6).every((p) => p.learningRate === 1e-4)).toBe(true)
    expect(grid.slice(0, 2).map((p) => p.activation)).toEqual(['relu', 'tanh'])
    for (const rate of rates)
      for (const units of [16, 80, 128])
        for (const activation of ['relu', 'tanh']) {
          expect(grid).toContainEqual({ learningRate: rate, units, activation })
        }
  })

  it('gives every value of a short int range, stops at the last step below max, and de-duplicates rounded log points', () => {
    expect(gridOf({ layers: { type: 'int', min: 1, max: 3, step: 1, scale: 'linear' } }, 5).map((p) => p.layers)).toEqual([1, 2, 3])
    expect(gridOf({ units: { type: 'int', min: 0, max: 10, step: 4, scale: 'linear' } }, 3).map((p) => p.units)).toEqual([0, 4, 8])
    // log-spaced 1, 1.57, 2.45, 3.83, 6 round to 1, 2, 2, 4, 6.
    expect(gridOf({ depth: { type: 'int', min: 1, max: 6, step: 1, scale: 'log' } }, 5).map((p) => p.depth)).toEqual([1, 2, 4, 6])
    expect(gridOf({ dropout: { type: 'float', min: 0, max: 1, scale: 'linear' } }, 5).map((p) => p.dropout)).toEqual([0, 0.25, 0.5, 0.75, 1])
  })

  it('grid sampler visits every point once, in a seeded order, whatever the history holds', () => {
    const space: SearchSpace = { a: { type: 'int', min: 1, max: 3, step: 1, scale: 'linear' }, b: { type: 'categorical', values: [true, false] } }
    const sampler = createSampler('grid', space, { seed: 3, direction: 'minimize' })
    expect(sampler.size).toBe(6)
    // An earlier tuning's point in the history changes nothing: trial n is the n-th point of the order.
    const warmStart: Observation[] = [{ parameters: { a: 2, b: false }, state: 'completed', value: 1 }]
    const suggested = Array.from({ length: 6 }, (_, n) => sampler.suggest(n, warmStart))
    expect(new Set(suggested.map(key)).size).toBe(6)
    expect(suggested).toEqual(expect.arrayContaining(gridOf(space, 3)))
    const order = (seed: number) => Array.from({ length: 6 }, (_, n) => key(createSampler('grid', space, { seed, direction: 'minimize' }).suggest(n, [])))
    expect(order(3)).toEqual(suggested.map(key))
    expect(order(4)).not.toEqual(order(3))
  })
})

describe('random sampler', () => {
  it('stays inside the space: ranges, int steps (max off the step grid), categories', () => {
    const sampler = createSampler('random', mixedSpace, { seed: 11, direction: 'minimize' })
    expect(sampler.size).toBeNull()
    for (let n = 0; n < 300; n++) expectInside(mixedSpace, sampler.suggest(n, []))
  })

  it('draws log-scale floats log-uniformly and ints uniformly over their steps', () => {
    const sampler = createSampler('random', mixedSpace, { seed: 5, direction: 'minimize' })
    const draws = Array.from({ length: 3000 }, (_, n) => sampler.suggest(n, []))
    // Half the mass of a log-uniform over [1e-4, 1e-1] lies below the geometric middle 10^-2.5.
    const belowMiddle = draws.filter((p) => (p.learningRate as number) < 10 ** -2.5).length / draws.length
    expect(belowMiddle).toBeGreaterThan(0.46)
    expect(belowMiddle).toBeLessThan(0.54)
    const counts = new Map<unknown, number>()
    for (const p of draws) counts.set(p.units, (counts.get(p.units) ?? 0) + 1)
    expect([...counts.keys()].sort((a, b) => (a as number) - (b as number))).toEqual([16, 32, 48, 64, 80, 96, 112, 128])
    for (const count of counts.values()) expect(Math.abs(count - 3000 / 8)).toBeLessThan(70)
  })

  it('is reproducible per seed whatever was asked before, and differs across seeds', () => {
    const first = createSampler('random', mixedSpace, { seed: 42, direction: 'minimize' })
    const second = createSampler('random', mixedSpace, { seed: 42, direction: 'minimize' })
    const inOrder = Array.from({ length: 10 }, (_, n) => first.suggest(n, []))
    expect(second.suggest(7, [])).toEqual(inOrder[7])
    expect(Array.from({ length: 10 }, (_, n) => second.suggest(n, []))).toEqual(inOrder)
    const other = createSampler('random', mixedSpace, { seed: 43, direction: 'minimize' })
    expect(Array.from({ length: 10 }, (_, n) => other.suggest(n, []))).not.toEqual(inOrder)
  })
})

const bowl = (p: ParameterSet) => ((p.x as number) - 0.7) ** 2 + ((p.y as number) - 0.2) ** 2
const unitSquare: SearchSpace = { x: { type: 'float', min: 0, max: 1, scale: 'linear' }, y: { type: 'float', min: 0, max: 1, scale: 'linear' } }

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

describe('TPE split and weights (Optuna defaults)', () => {
  it('puts ceil(10%) of the finished trials, at most 25, in the good group', () => {
    expect([0, 1, 10, 11, 99, 250, 1000].map(goodGroupSize)).toEqual([0, 1, 1, 2, 10, 25, 25])
  })

  it('weighs the newest 25 observations 1 and ramps older ones linearly up from 1/n', () => {
    expect(observationWeights(24)).toEqual(new Array(24).fill(1))
    const weights = observationWeights(30)
    expect(weights.slice(0, 5).map((w) => Number(w.toFixed(4)))).toEqual([0.0333, 0.275, 0.5167, 0.7583, 1])
    expect(weights.slice(5)).toEqual(new Array(25).fill(1))
  })

  it('ranks completed trials by loss, then pruned ones stopped later first, and keeps running ones bad', () => {
    const point = (state: RankedPoint['state'], loss: number, epoch = 0): RankedPoint => ({ coordinates: [loss], state, loss, epoch })
    const finished = [point('pruned', 0.01, 1), point('completed', 3), point('pruned', 0.9, 4), ...Array.from({ length: 17 }, () => point('pruned', 0.05, 2))]
    const { good, bad } = splitGoodBad([...finished, point('running', Infinity)])
    // 20 finished: the good group holds 2, the completed trial and the pruned one that got furthest, whatever their losses.
    expect(good.map((p) => p.loss)).toEqual([3, 0.9])
    expect(bad).toHaveLength(19)
    expect(bad.at(-1)!.state).toBe('running')
  })
})

describe('bayesian sampler (TPE)', () => {
  it('is reproducible: same seed, trial number and history give the same suggestion', () => {
    const history = tune(createSampler('random', mixedSpace, { seed: 1, direction: 'minimize' }), (p) => p.dropout as number, 20)
    const a = createSampler('bayesian', mixedSpace, { seed: 9, direction: 'minimize' })
    const b = createSampler('bayesian', mixedSpace, { seed: 9, direction: 'minimize' })
    const suggestion = a.suggest(20, history)
    expectInside(mixedSpace, suggestion)
    a.suggest(21, history)
    expect(b.suggest(20, history)).toEqual(suggestion)
    expect(a.suggest(20, history)).toEqual(suggestion)
    const otherSeed = createSampler('bayesian', mixedSpace, { seed: 10, direction: 'minimize' })
    expect(Array.from({ length: 5 }, (_, i) => otherSeed.suggest(20 + i, history))).not.toEqual(Array.from({ length: 5 }, (_, i) => a.suggest(20 + i, history)))
  })

  it('samples randomly until startupTrials trials have finished; running trials do not count', () => {
    const random = createSampler('random', unitSquare, { seed: 4, direction: 'minimize' })
    const tpe = createSampler('bayesian', unitSquare, { seed: 4, direction: 'minimize', startupTrials: 5 })
    const finished = tune(random, bowl, 4)
    const running: Observation[] = [0, 1, 2].map(() => ({ parameters: { x: 0.7, y: 0.2 }, state: 'running', value: null }))
    expect(tpe.suggest(7, [...finished, ...running])).toEqual(random.suggest(7, []))
    const fifth = tune(random, bowl, 5)
    expect(tpe.suggest(7, fifth)).not.toEqual(random.suggest(7, []))
  })

  for (const [direction, multivariate] of [
    ['minimize', true],
    ['maximize', true],
    ['minimize', false],
  ] as [Direction, boolean][]) {
    it(`concentrates near the optimum of a 2-D bowl (${direction}, ${multivariate ? 'multivariate' : 'univariate'}), far more than random search`, () => {
      const sign = direction === 'minimize' ? 1 : -1
      const distances = (kind: 'random' | 'bayesian', seed: number) => {
        const history = tune(createSampler(kind, unitSquare, { seed, direction, multivariate }), (p) => sign * bowl(p), 60)
        return history.slice(40).map((o) => Math.sqrt(bowl(o.parameters)))
      }
      for (const seed of [1, 2, 3]) {
        const tpe = medianOf(distances('bayesian', seed))
        const random = medianOf(distances('random', seed))
        expect(tpe).toBeLessThan(0.15)
        expect(tpe).toBeLessThan(random / 2)
      }
    })
  }

  it('learns the category and int that hold the optimum of a mixed space', () => {
    const space: SearchSpace = {
      layers: { type: 'int', min: 1, max: 9, step: 1, scale: 'linear' },
      optimizer: { type: 'categorical', values: ['sgd', 'adam', 'rmsprop'] },
      rate: { type: 'float', min: 1e-5, max: 1, scale: 'log' },
    }
    const objective = (p: ParameterSet) => ((p.layers as number) - 6) ** 2 / 4 + (p.optimizer === 'adam' ? 0 : 2) + (Math.log10(p.rate as number) + 3) ** 2
    for (const seed of [1, 2]) {
      const late = tune(createSampler('bayesian', space, { seed, direction: 'minimize' }), objective, 60).slice(40)
      expect(late.filter((o) => o.parameters.optimizer === 'adam').length).toBeGreaterThanOrEqual(12)
      expect(late.filter((o) => Math.abs((o.parameters.layers as number) - 6) <= 1).length).toBeGreaterThanOrEqual(10)
    }
  })

  it('spreads parallel trials with the constant liar: running trials count as the worst', () => {
    const space: SearchSpace = {
      x: { type: 'int', min: 0, max: 9, step: 1, scale: 'linear' },
      optimizer: { type: 'categorical', values: ['sgd', 'adam', 'rmsprop'] },
    }
    const objective = (p: ParameterSet) => ((p.x as number) - 6) ** 2 + (p.optimizer === 'adam' ? 0 : 3)
    for (const seed of [1, 2, 3]) {
      const sampler = createSampler('bayesian', space, { seed, direction: 'minimize' })
      const completed = tune(sampler, objective, 30)
      const withRunning: Observation[] = [...completed]
      const blind: ParameterSet[] = []
      for (let trialNumber = 30; trialNumber < 38; trialNumber++) {
        const parameters = sampler.suggest(trialNumber, withRunning)
        withRunning.push({ parameters, state: 'running', value: null })
        blind.push(sampler.suggest(trialNumber, completed))
      }
      const distinct = (sets: ParameterSet[]) => new Set(sets.map(key)).size
      const liar = distinct(withRunning.slice(30).map((o) => o.parameters))
      expect(liar).toBeGreaterThanOrEqual(5)
      expect(liar).toBeGreaterThan(distinct(blind))
    }
  })

  it('ranks pruned trials below completed ones and ignores warm-start trials from another space', () => {
    const space: SearchSpace = { x: { type: 'float', min: 0, max: 1, scale: 'linear' } }
    // Completed trials spread over 0.3–0.93, best near 0.9; ten trials near 0.1 report far lower losses.
    const historyWith = (state: 'pruned' | 'completed'): Observation[] => [
      ...Array.from(
        { length: 10 },
        (_, i): Observation => ({ parameters: { x: 0.3 + 0.07 * i }, state: 'completed', value: 5 + 10 * Math.abs(0.3 + 0.07 * i - 0.9) }),
      ),
      ...Array.from({ length: 10 }, (_, i): Observation => ({ parameters: { x: 0.05 + 0.01 * i }, state, value: -100, epoch: 1 })),
      { parameters: { x: 7 }, state: 'completed', value: -1000 },
      { parameters: { y: 0.5 }, state: 'completed', value: -1000 },
    ]
    const sampler = createSampler('bayesian', space, { seed: 2, direction: 'minimize' })
    const medianSuggestion = (history: Observation[]) => medianOf(Array.from({ length: 20 }, (_, i) => sampler.suggest(22 + i, history).x as number))
    expect(medianSuggestion(historyWith('pruned'))).toBeGreaterThan(0.8)
    // The same losses on completed trials do lead the search away from 0.9.
    expect(medianSuggestion(historyWith('completed'))).toBeLessThan(0.5)
  })
})

const progress = (trialNumber: number, state: TrialProgress['state'], values: number[]): TrialProgress => ({
  trialNumber,
  state,
  intermediate: values.map((value, i) => ({ epoch: i + 1, value })),
})

describe('median pruner', () => {
  // Completed losses at epoch 2: 0.5 … 0.9, median 0.7.
  const completed = [0.5, 0.6, 0.7, 0.8, 0.9].map((v, i) => progress(i, 'completed', [v + 0.3, v, v - 0.1]))

  it('prunes a trial whose best loss so far is above the completed trials’ median at the same epoch', () => {
    const decision = medianDecision('minimize', progress(9, 'running', [0.95, 0.75]), completed)
    expect(decision.prune).toBe(true)
    expect(decision.reason).toContain('0.75')
    expect(decision.reason).toContain('median 0.7 ')
    expect(medianDecision('minimize', progress(9, 'running', [0.95, 0.65]), completed).prune).toBe(false)
    // The best value over all epochs counts, not only the latest.
    expect(medianDecision('minimize', progress(9, 'running', [0.6, 0.8]), completed).prune).toBe(false)
  })

  it('prunes on accuracy below the median when maximizing', () => {
    const accuracies = [0.5, 0.6, 0.7, 0.8, 0.9].map((v, i) => progress(i, 'completed', [v - 0.1, v]))
    expect(medianDecision('maximize', progress(9, 'running', [0.5, 0.65]), accuracies).prune).toBe(true)
    expect(medianDecision('maximize', progress(9, 'running', [0.5, 0.75]), accuracies).prune).toBe(false)
  })

  it('waits for startupTrials completed trials at the epoch and for the warm-up epochs', () => {
    const others = [...completed.slice(0, 4), progress(7, 'running', [1, 0.1]), progress(8, 'pruned', [1, 0.1])]
    const waiting = medianDecision('minimize', progress(9, 'running', [2, 2]), others)
    expect(waiting.prune).toBe(false)
    expect(waiting.reason).toContain('4 completed')
    // With four, the median is the mean of the middle two: (0.6 + 0.7) / 2.
    const four = medianDecision('minimize', progress(9, 'running', [2, 0.66]), others, { startupTrials: 4 })
    expect(four.prune).toBe(true)
    expect(four.reason).toContain('0.65')
    expect(medianDecision('minimize', progress(9, 'running', [2, 2]), completed, { warmupEpochs: 2 }).prune).toBe(false)
    expect(medianDecision('minimize', progress(9, 'running', [2, 2, 2]), completed, { warmupEpochs: 2 }).prune).toBe(true)
  })
})

describe('ASHA pruner', () => {
  // Rungs at epochs 1, 3, 9 (minResource 1, η 3).
  const atRung0 = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8].map((v, i) => progress(i, i % 3 === 0 ? 'pruned' : i % 3 === 1 ? 'completed' : 'failed', [v]))

  it('continues a trial in the top 1/η of every trial that reached the rung and prunes the rest', () => {
    // Nine values at epoch 1: the top ⌊9/3⌋ = 3 continue.
    const third = ashaDecision('minimize', progress(9, 'running', [0.25]), atRung0)
    expect(third.prune).toBe(false)
    expect(third.reason).toContain('ranks 3 of 9')
    const fourth = ashaDecision('minimize', progress(9, 'running', [0.35]), atRung0)
    expect(fourth.prune).toBe(true)
    expect(fourth.reason).toContain('top 3')
  })

  it('mirrors the ranking when maximizing', () => {
    expect(ashaDecision('maximize', progress(9, 'running', [0.65]), atRung0).prune).toBe(false)
    expect(ashaDecision('maximize', progress(9, 'running', [0.55]), atRung0).prune).toBe(true)
  })

  it('decides only at rung epochs and compares with the trials that reached that rung', () => {
    const between = ashaDecision('minimize', progress(9, 'running', [0.1, 9]), atRung0)
    expect(between.prune).toBe(false)
    expect(between.reason).toContain('not a rung')
    // At epoch 3 a single other trial competes: with fewer than η trials at a rung, only the best continues.
    const others = [progress(20, 'completed', [0.1, 0.1, 0.1]), ...atRung0]
    expect(ashaDecision('minimize', progress(9, 'running', [0.1, 0.1, 0.3]), others).prune).toBe(true)
    expect(ashaDecision('minimize', progress(9, 'running', [0.1, 0.1, 0.05]), others).prune).toBe(false)
  })

  it('lets the first trial at a rung continue and honours minResource', () => {
    expect(ashaDecision('minimize', progress(0, 'running', [5]), []).prune).toBe(false)
    const lateRungs = { minResource: 2, reductionFactor: 2 }
    expect(ashaDecision('minimize', progress(9, 'running', [0.9]), atRung0, lateRungs).reason).toContain('not a rung')
    const atEpoch2 = [progress(1, 'completed', [0.1, 0.1]), progress(2, 'completed', [0.2, 0.2])]
    expect(ashaDecision('minimize', progress(9, 'running', [0.9, 0.9]), atEpoch2, lateRungs).prune).toBe(true)
    expect(ashaDecision('minimize', progress(9, 'running', [0.9, 0.05]), atEpoch2, lateRungs).prune).toBe(false)
  })
})
