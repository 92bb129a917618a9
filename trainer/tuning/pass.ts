// What one pass of the tuning controller works with: the tuning row it read
// (with its owner's name and its trials), the trainer's context, and the
// tuning's and trials' JSON columns, read through their typed decoders
// (src/domain/json-columns.ts).
import type { Logger } from 'pino'
import type { Db, Trial, TuningJob } from '../../src/infra/db.ts'
import type { EventBus } from '../../src/infra/event-bus.ts'
import type { SearchSpace } from '../../src/domain/search-space.ts'
import type { TuningObjective, TuningStrategy } from '../../src/domain/tuning-config.ts'
import { trialIntermediateOf, trialParametersOf, tuningConfigOf } from '../../src/domain/json-columns.ts'
import type { IntermediateValue } from '../../src/domain/tuning-view.ts'
import type { TrialContext } from './trials.ts'

/** A tuning as a pass reads it; the pass keeps it and its trials as it writes them. */
export type TuningRow = TuningJob & { owner: { name: string }; trials: Trial[] }

export interface TuningPassContext {
  db: Db
  bus: EventBus
  logger: Logger
  workerId: string
  /** What trials.ts needs to create and stop trial jobs. */
  trials: TrialContext
  /** Aborts when the controller stops: a pass goes no further than the tuning or the trial it is writing. */
  closed: AbortSignal
}

/** The columns of a tuning that hold its settings. */
type TuningConfigColumns = Pick<TuningJob, 'baseConfig' | 'parameters' | 'strategy' | 'objective' | 'warmStartFrom'>

/** Where every trial runs: the base configuration's resources. */
export interface TrialResources {
  instanceType: string
  instanceCount: number
}

export const strategyOf = (tuning: TuningConfigColumns): TuningStrategy => tuningConfigOf(tuning).strategy

export const objectiveOf = (tuning: TuningConfigColumns): TuningObjective => tuningConfigOf(tuning).objective

export const searchSpaceOf = (tuning: TuningConfigColumns): SearchSpace => tuningConfigOf(tuning).space

/** The tunings whose completed trials warm-start this one. */
export const warmStartIdsOf = (tuning: TuningConfigColumns): string[] => tuningConfigOf(tuning).warmStartFrom

export const resourcesOf = (tuning: TuningConfigColumns): TrialResources => tuningConfigOf(tuning).baseConfig.resources

export const parametersOf = trialParametersOf

/** The objective after each epoch the trial has finished, in epoch order. */
export const intermediateOf = trialIntermediateOf

/** Intermediate values as the column stores them. */
export const intermediateJson = (values: readonly IntermediateValue[]) => values.map(({ epoch, step, value }) => ({ epoch, step, value }))
