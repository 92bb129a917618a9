// New trials: the strategy's sampler suggests each one from the seed, the
// trial number and what the trials so far observed (with, for a warm start,
// the completed trials of earlier tunings), and trials are made until the
// tuning has as many open as it may or a stopping rule holds. Samplers are
// deterministic, so a trainer that takes the tuning over suggests the same.
import type { Db, Trial } from '../../src/infra/db.ts'
import type { ParameterSet, SearchSpace } from '../../src/domain/search-space.ts'
import {
  intermediateOf,
  objectiveOf,
  parametersOf,
  resourcesOf,
  searchSpaceOf,
  strategyOf,
  warmStartIdsOf,
  type TuningPassContext,
  type TuningRow,
} from './pass.ts'
import { createSampler, type Observation } from './samplers.ts'
import { hasRoom, openLimit, stoppingRule } from './stopping-rules.ts'
import { createTrial } from './trials.ts'

/** Whether every parameter lies in the space: a range's bounds, or a categorical's values. */
function inside(space: SearchSpace, parameters: ParameterSet): boolean {
  return Object.entries(space).every(([name, spec]) => {
    const value = parameters[name]
    if (spec.type === 'categorical') return spec.values.some((choice) => choice === value)
    return typeof value === 'number' && value >= spec.min && value <= spec.max
  })
}

/** Completed trials of earlier tunings, as observations in this tuning's space (values outside it are left out). */
export async function warmStartOf(db: Db, tuning: TuningRow): Promise<Observation[]> {
  const ids = warmStartIdsOf(tuning)
  if (ids.length === 0) return []
  const space = searchSpaceOf(tuning)
  const trials = await db.trial.findMany({
    where: { tuningId: { in: ids }, tuning: { ownerId: tuning.ownerId }, status: 'completed', objectiveValue: { not: null } },
  })
  return trials
    .map((trial) => ({
      parameters: Object.fromEntries(Object.keys(space).map((name) => [name, parametersOf(trial)[name]])),
      value: trial.objectiveValue,
    }))
    .filter((trial) => inside(space, trial.parameters))
    .map((trial) => ({ ...trial, state: 'completed' as const }))
}

/** What the sampler learns from this tuning's trials: completed and pruned ones with their values, running ones as running. */
export function observationsOf(trials: readonly Trial[]): Observation[] {
  return trials.flatMap((trial): Observation[] => {
    const parameters = parametersOf(trial)
    if (trial.status === 'completed' && trial.objectiveValue !== null) return [{ parameters, state: 'completed', value: trial.objectiveValue }]
    const last = intermediateOf(trial).at(-1)
    if (trial.status === 'pruned') return [{ parameters, state: 'pruned', value: last?.value ?? null, epoch: last?.epoch }]
    if (trial.status === 'pending' || trial.status === 'running') return [{ parameters, state: 'running', value: null }]
    return []
  })
}

/** Makes trials, one suggestion each, while the tuning has room for one and no stopping rule holds. */
export async function suggestTrials(ctx: TuningPassContext, tuning: TuningRow, warmStart: readonly Observation[]): Promise<void> {
  const strategy = strategyOf(tuning)
  const objective = objectiveOf(tuning)
  const sampler = createSampler(strategy.type, searchSpaceOf(tuning), {
    seed: strategy.seed,
    direction: objective.direction,
    startupTrials: strategy.startupTrials,
    gridPoints: strategy.gridPoints,
  })
  const limit = openLimit(resourcesOf(tuning), strategy, ctx.trials.instanceTypes)
  // A trial that fails at once (no job could be made) may trip a stopping rule: the next pass applies it.
  while (hasRoom(tuning.trials, strategy, limit) && !stoppingRule(tuning.trials, strategy, objective) && !ctx.closed.aborted) {
    const number = tuning.trials.length + 1
    const parameters = sampler.suggest(number - 1, [...warmStart, ...observationsOf(tuning.trials)])
    const trial = await createTrial(ctx.trials, tuning, number, parameters)
    tuning.trials.push(trial)
    ctx.logger.info({ tuningId: tuning.id, trialId: trial.id, number, parameters, status: trial.status }, 'trial suggested')
  }
}
