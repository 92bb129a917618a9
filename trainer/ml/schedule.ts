// Learning-rate schedules: a linear warm-up, then the decay the job asked for.
import type { JobConfig } from './types.ts'

export type LrSchedule = JobConfig['hyperparameters']['lrSchedule']

export interface ScheduleOptions {
  base: number
  warmupSteps: number
  totalSteps: number
  schedule: LrSchedule
}

/** 'exponential' ends the run at this fraction of the base rate (a 100× decay, smooth in between). */
export const EXPONENTIAL_FINAL_FRACTION = 0.01

/**
 * The learning rate for the update that follows `step` completed updates
 * (0 for the first one). Warm-up rises linearly to `base` over `warmupSteps`
 * updates; the decay then runs over the remaining steps up to `totalSteps`.
 */
export function learningRateAt(step: number, { base, warmupSteps, totalSteps, schedule }: ScheduleOptions): number {
  // (step + 1) so that the first warm-up update is not a wasted zero-rate step.
  if (warmupSteps > 0 && step < warmupSteps) return (base * (step + 1)) / warmupSteps
  const decaySteps = Math.max(1, totalSteps - warmupSteps)
  const progress = Math.min(1, Math.max(0, (step - warmupSteps) / decaySteps))
  switch (schedule) {
    case 'constant':
      return base
    case 'linear':
      return base * (1 - progress)
    case 'cosine':
      return base * 0.5 * (1 + Math.cos(Math.PI * progress))
    case 'exponential':
      return base * EXPONENTIAL_FINAL_FRACTION ** progress
  }
}
