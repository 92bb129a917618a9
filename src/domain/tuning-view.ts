// The JSON shape of a tuning (spec §3.2) and its trials, built from database
// rows by the API and by the trainer's tuning controller alike, so that the
// REST answer, GraphQL and `tuningUpdated` events all say the same thing.
import type { Trial, TuningJob } from '../infra/db.ts'
import { trialIntermediateOf, trialMetricsOf, trialParametersOf, tuningConfigOf } from './json-columns.ts'
import type { ParameterSet, SearchSpace } from './search-space.ts'
import type { TuningObjective, TuningStrategy } from './tuning-config.ts'

const iso = (date: Date | null | undefined) => (date ? date.toISOString() : null)

export type TuningStatus = 'pending' | 'running' | 'stopping' | 'completed' | 'failed' | 'cancelled'
export const tuningStatuses: TuningStatus[] = ['pending', 'running', 'stopping', 'completed', 'failed', 'cancelled']
export const activeTuningStatuses: TuningStatus[] = ['pending', 'running', 'stopping']
export const endedTuningStatuses: TuningStatus[] = ['completed', 'failed', 'cancelled']

/** pending: its job is queued; pruned: stopped early by strategy.earlyStopping; cancelled: stopped because the tuning stopped or ended. */
export type TrialStatus = 'pending' | 'running' | 'completed' | 'failed' | 'pruned' | 'cancelled'
export const trialStatuses: TrialStatus[] = ['pending', 'running', 'completed', 'failed', 'pruned', 'cancelled']
export const finishedTrialStatuses: TrialStatus[] = ['completed', 'failed', 'pruned', 'cancelled']

/** The objective at the end of one epoch of a trial. */
export interface IntermediateValue {
  epoch: number
  step: number
  value: number
}

export interface TrialView {
  id: string
  /** 1, 2, ... in the order the trials were suggested. */
  number: number
  jobId: string | null
  parameters: ParameterSet
  /** The trial job's latest metrics (valAccuracy, valLoss, ...); null before it has any. */
  metrics: Record<string, number> | null
  /** The best value of the objective metric over the trial's epochs (what ranks trials); null until one epoch ended. */
  objectiveValue: number | null
  status: TrialStatus
  /** Why the trial was pruned, failed or cancelled. */
  statusReason: string | null
  /** Pruned trials: the epoch whose objective decided it, and the job's last step when it stopped. */
  prunedAtEpoch: number | null
  prunedAtStep: number | null
  intermediate: IntermediateValue[]
  startedAt: string | null
  completedAt: string | null
  createdAt: string
}

export interface TuningView {
  id: string
  name: string
  description: string | null
  owner: string
  baseJobId: string | null
  templateId: string | null
  parameters: SearchSpace
  strategy: TuningStrategy
  objective: TuningObjective
  warmStartFrom: string[]
  status: TuningStatus
  progress: {
    /** Trials that have finished, whatever the outcome (completed, pruned, failed, cancelled). */
    completedTrials: number
    totalTrials: number
    percentage: number
    runningTrials: number
    succeededTrials: number
    prunedTrials: number
    failedTrials: number
  }
  trials: TrialView[]
  bestTrial: Pick<TrialView, 'id' | 'number' | 'jobId' | 'parameters' | 'metrics' | 'objectiveValue'> | null
  /** Why the tuning ended before its last trial (target reached, stopped), else null. */
  endReason: string | null
  error: { code: string; message: string } | null
  createdAt: string
  updatedAt: string
  startedAt: string | null
  completedAt: string | null
}

export function trialView(trial: Trial): TrialView {
  return {
    id: trial.id,
    number: trial.number,
    jobId: trial.jobId,
    parameters: trialParametersOf(trial),
    metrics: trialMetricsOf(trial),
    objectiveValue: trial.objectiveValue,
    status: trial.status as TrialStatus,
    statusReason: trial.statusReason,
    prunedAtEpoch: trial.prunedAtEpoch,
    prunedAtStep: trial.prunedAtStep,
    intermediate: trialIntermediateOf(trial),
    startedAt: iso(trial.startedAt),
    completedAt: iso(trial.completedAt),
    createdAt: trial.createdAt.toISOString(),
  }
}

export function tuningView(tuning: TuningJob, trials: readonly Trial[], owner: string): TuningView {
  const views = [...trials].sort((a, b) => a.number - b.number).map(trialView)
  const count = (...statuses: TrialStatus[]) => views.filter((trial) => statuses.includes(trial.status)).length
  const { space, strategy, objective, warmStartFrom } = tuningConfigOf(tuning)
  const finished = count(...finishedTrialStatuses)
  const ended = endedTuningStatuses.includes(tuning.status as TuningStatus)
  // A tuning that ended early (target, stop, too many failures) has no more trials to come.
  const totalTrials = ended ? Math.max(views.length, finished) : strategy.maxTrials
  const best = views.find((trial) => trial.id === tuning.bestTrialId)
  return {
    id: tuning.id,
    name: tuning.name,
    description: tuning.description,
    owner,
    baseJobId: tuning.baseJobId,
    templateId: tuning.templateId,
    parameters: space,
    strategy,
    objective,
    warmStartFrom,
    status: tuning.status as TuningStatus,
    progress: {
      completedTrials: finished,
      totalTrials,
      percentage: totalTrials === 0 ? 0 : Math.round((finished / totalTrials) * 10_000) / 100,
      runningTrials: count('running'),
      succeededTrials: count('completed'),
      prunedTrials: count('pruned'),
      failedTrials: count('failed'),
    },
    trials: views,
    bestTrial: best
      ? { id: best.id, number: best.number, jobId: best.jobId, parameters: best.parameters, metrics: best.metrics, objectiveValue: best.objectiveValue }
      : null,
    endReason: tuning.endReason,
    error: tuning.errorCode ? { code: tuning.errorCode, message: tuning.errorMessage ?? '' } : null,
    createdAt: tuning.createdAt.toISOString(),
    updatedAt: tuning.updatedAt.toISOString(),
    startedAt: iso(tuning.startedAt),
    completedAt: iso(tuning.completedAt),
  }
}
