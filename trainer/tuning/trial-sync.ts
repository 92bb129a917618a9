// Each pass brings a tuning's trials up to date with their jobs: a trial
// runs when its job does and ends with it (its metrics, the objective after
// every epoch, the best of them); a job deleted or stopped ends its trial
// cancelled. The objective values a running trial reports arrive on the bus
// (TrialReports) and go to the pruner epoch by epoch; a pruned trial's job is
// stopped. What a pass learns is written to the trial at once, so a trainer
// that takes the tuning over starts from the same state.
import type { Db, Job, Prisma, Trial } from '../../src/infra/db.ts'
import type { Direction } from '../../src/domain/search-space.ts'
import type { TuningObjective, TuningStrategy } from '../../src/domain/tuning-config.ts'
import type { IntermediateValue, TrialStatus } from '../../src/domain/tuning-view.ts'
import { jobMetricsOf, toJson } from '../../src/domain/json-columns.ts'
import { intermediateJson, intermediateOf, objectiveOf, strategyOf, type TuningPassContext, type TuningRow } from './pass.ts'
import { ashaDecision, medianDecision, type PruneDecision, type TrialProgress } from './pruners.ts'
import { bestOf } from './stopping-rules.ts'
import { epochValues, type TrialReports } from './trial-reports.ts'
import { stopTrialJob } from './trials.ts'

const trialJobFields = {
  id: true,
  status: true,
  metrics: true,
  step: true,
  totalEpochs: true,
  startedAt: true,
  completedAt: true,
  errorMessage: true,
  deletedAt: true,
} satisfies Prisma.JobSelect

type TrialJob = Pick<Job, keyof typeof trialJobFields>

/** Writes to a trial and keeps the pass's copy as written. */
export async function updateTrial(db: Db, trial: Trial, data: Prisma.TrialUpdateInput): Promise<Trial> {
  const updated = await db.trial.update({ where: { id: trial.id }, data })
  Object.assign(trial, updated)
  return updated
}

/** Adds points to a trial's intermediate values, one per epoch, in epoch order. */
function mergeIntermediate(current: readonly IntermediateValue[], points: readonly IntermediateValue[]): IntermediateValue[] {
  const byEpoch = new Map(current.map((point) => [point.epoch, point]))
  for (const point of points) byEpoch.set(point.epoch, point)
  return [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch)
}

/** The objective after every epoch of a job, from its stored metric points (complete once the job has ended). */
async function storedIntermediate(db: Db, jobId: string, metric: string): Promise<IntermediateValue[]> {
  const points = await db.metricPoint.findMany({ where: { jobId, name: metric }, select: { step: true, epoch: true, value: true }, orderBy: { step: 'asc' } })
  return epochValues(points)
}

const bestValue = (direction: Direction, intermediate: readonly IntermediateValue[]) =>
  bestOf(
    direction,
    intermediate.map((point) => point.value),
  )

/** A trial whose job ended counts as what the job is (a job that finished before a stop reached it is completed or failed). */
function endedStatus(trial: Trial, job: TrialJob): TrialStatus {
  if (job.status === 'completed') return 'completed'
  if (job.status === 'failed') return 'failed'
  return trial.status === 'pruned' || trial.status === 'cancelled' ? trial.status : 'cancelled'
}

function endedReason(trial: Trial, job: TrialJob, status: TrialStatus): string | null {
  if (status === 'completed') return null
  if (status === 'failed') return `its job failed: ${job.errorMessage ?? 'no reason recorded'}`
  return status === 'cancelled' && trial.status !== 'cancelled' ? 'its job was stopped' : trial.statusReason
}

const toJsonOrNothing = (metrics: Record<string, number> | null) => (metrics === null ? undefined : toJson(metrics))

/** What a trial becomes when its job has ended, given every epoch's objective. */
function endedTrialData(trial: Trial, job: TrialJob, intermediate: readonly IntermediateValue[], direction: Direction): Prisma.TrialUpdateInput {
  const status = endedStatus(trial, job)
  return {
    status,
    statusReason: endedReason(trial, job, status),
    metrics: toJsonOrNothing(jobMetricsOf(job)),
    intermediate: intermediateJson(intermediate),
    objectiveValue: bestValue(direction, intermediate),
    prunedAtStep: status === 'pruned' ? job.step : null,
    prunedAtEpoch: status === 'pruned' ? trial.prunedAtEpoch : null,
    startedAt: job.startedAt,
    completedAt: job.completedAt ?? new Date(),
  }
}

/** Brings a trial up to date with its job: started, ended (with metrics and the objective), or gone. */
async function syncTrial(db: Db, trial: Trial, job: TrialJob | undefined, objective: TuningObjective) {
  if (trial.completedAt !== null) return
  if (!job || job.deletedAt) {
    await updateTrial(db, trial, {
      status: trial.status === 'pruned' ? 'pruned' : 'cancelled',
      statusReason: trial.statusReason ?? 'its job was deleted',
      completedAt: new Date(),
    })
    return
  }
  if (job.status === 'pending' || job.status === 'running' || job.status === 'stopping') {
    const status = trial.status === 'pending' && job.status !== 'pending' ? 'running' : trial.status
    if (status !== trial.status || (job.startedAt && !trial.startedAt)) await updateTrial(db, trial, { status, startedAt: job.startedAt })
    return
  }
  const intermediate = mergeIntermediate(intermediateOf(trial), await storedIntermediate(db, job.id, objective.metric))
  await updateTrial(db, trial, endedTrialData(trial, job, intermediate, objective.direction))
}

const progressOf = (trial: Trial): TrialProgress => ({
  trialNumber: trial.number,
  state:
    trial.status === 'completed'
      ? 'completed'
      : trial.status === 'pruned'
        ? 'pruned'
        : trial.status === 'running' || trial.status === 'pending'
          ? 'running'
          : 'failed',
  intermediate: intermediateOf(trial),
})

function pruneDecision(strategy: TuningStrategy, direction: Direction, trial: Trial, trials: readonly Trial[]): PruneDecision | null {
  const rule = strategy.earlyStopping
  if (!rule) return null
  const others = trials.filter((other) => other.id !== trial.id).map(progressOf)
  return rule.type === 'median'
    ? medianDecision(direction, progressOf(trial), others, { startupTrials: rule.startupTrials, warmupEpochs: rule.warmupEpochs })
    : ashaDecision(direction, progressOf(trial), others, { minResource: rule.minResource, reductionFactor: rule.reductionFactor })
}

/** New objective values of running trials: stored, and judged by the pruner epoch by epoch; a pruned trial's job is stopped. */
async function applyReports(ctx: TuningPassContext, tuning: TuningRow, reports: TrialReports, jobs: ReadonlyMap<string, TrialJob>) {
  const strategy = strategyOf(tuning)
  const objective = objectiveOf(tuning)
  for (const trial of tuning.trials) {
    if (trial.completedAt) continue
    const points = reports.take(trial.id)
    if (points.length === 0) continue
    const job = trial.jobId ? jobs.get(trial.jobId) : undefined
    let intermediate = intermediateOf(trial)
    for (const point of points.sort((a, b) => a.epoch - b.epoch)) {
      intermediate = mergeIntermediate(intermediate, [point])
      trial.intermediate = intermediateJson(intermediate)
      // The last epoch ends the trial anyway: pruning it would only throw its result away.
      if (trial.status !== 'running' || !job || point.epoch >= job.totalEpochs) continue
      const decision = pruneDecision(strategy, objective.direction, trial, tuning.trials)
      if (!decision?.prune) continue
      await updateTrial(ctx.db, trial, { status: 'pruned', statusReason: decision.reason, prunedAtEpoch: point.epoch })
      await stopTrialJob(ctx.trials, job.id, `Pruned by tuning ${tuning.id} (${strategy.earlyStopping?.type}) after epoch ${point.epoch}: ${decision.reason}`)
      ctx.logger.info({ tuningId: tuning.id, trialId: trial.id, epoch: point.epoch }, 'trial pruned')
    }
    await updateTrial(ctx.db, trial, { intermediate: intermediateJson(intermediate), objectiveValue: bestValue(objective.direction, intermediate) })
  }
}

/** Subscribes to each open trial's metrics it does not yet follow, with the values reported before (by another trainer, or before a restart). */
async function watchOpenTrials(db: Db, trials: readonly Trial[], reports: TrialReports, metric: string) {
  for (const trial of trials) {
    if (trial.completedAt !== null || !trial.jobId || reports.watching(trial.id)) continue
    reports.watch(trial.id, trial.jobId, metric)
    const stored = await storedIntermediate(db, trial.jobId, metric)
    const known = new Set(intermediateOf(trial).map((point) => point.epoch))
    reports.addMissed(
      trial.id,
      stored.filter((point) => !known.has(point.epoch)),
    )
  }
}

/** Brings every trial of the tuning up to date with its job and its reports, pruning where the rule says so. */
export async function syncTrials(ctx: TuningPassContext, tuning: TuningRow, reports: TrialReports): Promise<void> {
  const objective = objectiveOf(tuning)
  const jobIds = tuning.trials.flatMap((trial) => (trial.jobId ? [trial.jobId] : []))
  const rows = await ctx.db.job.findMany({ where: { id: { in: jobIds } }, select: trialJobFields })
  const jobs = new Map(rows.map((job) => [job.id, job]))
  await watchOpenTrials(ctx.db, tuning.trials, reports, objective.metric)
  for (const trial of tuning.trials) await syncTrial(ctx.db, trial, trial.jobId ? jobs.get(trial.jobId) : undefined, objective)
  await applyReports(ctx, tuning, reports, jobs)
  for (const trial of tuning.trials) if (trial.completedAt !== null) reports.forget(trial.id)
}
