// When a tuning ends, how many trials it may have open, and which trial is
// its best: pure decisions over the trials as the database holds them, so
// that test/unit/tuning-stopping-rules.test.ts shows each rule without a
// database and the controller only applies them.
import type { Trial } from '../../src/infra/db.ts'
import type { InstanceType } from '../../src/domain/instance-types.ts'
import type { Direction } from '../../src/domain/search-space.ts'
import type { TuningObjective, TuningStrategy } from '../../src/domain/tuning-config.ts'
import type { TrialStatus } from '../../src/domain/tuning-view.ts'
import { ErrorCodes } from '../../src/errors/index.ts'
import type { TrialResources } from './pass.ts'

/** What the rules read of a trial. */
export type RuleTrial = Pick<Trial, 'number' | 'status' | 'objectiveValue' | 'statusReason' | 'jobId' | 'completedAt'>

/** How a tuning ends: endReason says why it ended early, error (E1106) why it failed. */
export interface TuningOutcome {
  status: 'completed' | 'failed' | 'cancelled'
  endReason?: string | null
  error?: string
}

export const activeTrialStatuses: readonly TrialStatus[] = ['pending', 'running']

/** A trial whose job is queued or running as far as the trial knows. */
export const isActiveTrial = (trial: Pick<Trial, 'status'>): boolean => activeTrialStatuses.some((status) => status === trial.status)

/** A trial with a job it has not yet ended with. */
export const isOpenTrial = <T extends Pick<Trial, 'jobId' | 'completedAt'>>(trial: T): trial is T & { jobId: string } =>
  trial.completedAt === null && trial.jobId !== null

/** a is better than b. */
export const better = (direction: Direction, a: number, b: number): boolean => (direction === 'maximize' ? a > b : a < b)

export function bestOf(direction: Direction, values: readonly number[]): number | null {
  return values.reduce<number | null>((best, value) => (best === null || better(direction, value, best) ? value : best), null)
}

type Scored<T> = T & { objectiveValue: number }

const completedWithValue = <T extends RuleTrial>(trial: T): trial is Scored<T> => trial.status === 'completed' && trial.objectiveValue !== null

/** The completed trial with the best objective (the first of equals), or null before one completed. */
export function bestTrialOf<T extends RuleTrial>(trials: readonly T[], direction: Direction): T | null {
  let best: Scored<T> | null = null
  for (const trial of trials.filter(completedWithValue)) if (!best || better(direction, trial.objectiveValue, best.objectiveValue)) best = trial
  return best
}

/**
 * A reason to end the tuning now, or null to go on: a completed trial reached
 * objective.target; maxFailedTrials trials failed; or every trial was made
 * and none is open any more (completed when one completed, else failed).
 */
export function stoppingRule(
  trials: readonly RuleTrial[],
  strategy: Pick<TuningStrategy, 'maxTrials' | 'maxFailedTrials'>,
  objective: TuningObjective,
): TuningOutcome | null {
  const failed = trials.filter((trial) => trial.status === 'failed')
  const completed = trials.filter(completedWithValue)
  const target = objective.target
  if (target !== null) {
    const reached = completed.find((trial) => !better(objective.direction, target, trial.objectiveValue))
    if (reached)
      return {
        status: 'completed',
        endReason: `objective.target ${target} reached by trial ${reached.number} (${objective.metric} ${reached.objectiveValue})`,
      }
  }
  const lastError = failed.at(-1)?.statusReason ?? 'no reason recorded'
  if (strategy.maxFailedTrials !== null && failed.length >= strategy.maxFailedTrials) {
    return {
      status: 'failed',
      endReason: null,
      error: `${failed.length} trials failed (strategy.maxFailedTrials is ${strategy.maxFailedTrials}); the last: ${lastError}`,
    }
  }
  const open = trials.filter((trial) => isActiveTrial(trial) || isOpenTrial(trial))
  if (trials.length < strategy.maxTrials || open.length > 0) return null
  if (completed.length > 0) return { status: 'completed', endReason: null }
  return {
    status: 'failed',
    endReason: null,
    error: `No trial completed: ${failed.length} of ${trials.length} failed, ${trials.length - failed.length} were pruned or cancelled; the last failure: ${lastError}`,
  }
}

/** What ending the tuning writes: its status and end, and E1106 with the reason when it failed. */
export function endedTuningData(outcome: TuningOutcome, now = new Date()) {
  return {
    status: outcome.status,
    completedAt: now,
    ...(outcome.endReason !== undefined ? { endReason: outcome.endReason } : {}),
    ...(outcome.error ? { errorCode: ErrorCodes.tuningFailed, errorMessage: outcome.error } : {}),
  }
}

/** Trials that may be open at once: parallelTrials, and no more than the instance type can run. */
export function openLimit(resources: TrialResources, strategy: Pick<TuningStrategy, 'parallelTrials'>, instanceTypes: readonly InstanceType[]): number {
  const type = instanceTypes.find((candidate) => candidate.name === resources.instanceType)
  const fits = type ? Math.floor(type.capacity / Math.max(1, resources.instanceCount)) : 1
  return Math.max(1, Math.min(strategy.parallelTrials, fits))
}

/** Whether another trial may be made now: fewer than maxTrials so far, and fewer than `limit` open. */
export function hasRoom(trials: readonly RuleTrial[], strategy: Pick<TuningStrategy, 'maxTrials'>, limit: number): boolean {
  return trials.length < strategy.maxTrials && trials.filter(isOpenTrial).length < limit
}
