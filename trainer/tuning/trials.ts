// Trials as training jobs: a trial's job is the tuning's base configuration
// with the suggested hyperparameters, queued like any job (the trainer's
// scheduler runs it as capacity allows); stopping a trial stops its job the
// way a user's stop does.
import type { Db, Trial, TuningJob } from '../../src/infra/db.ts'
import type { EventBus } from '../../src/infra/event-bus.ts'
import type { InstanceType } from '../../src/domain/instance-types.ts'
import { newId } from '../../src/domain/ids.ts'
import { crossFieldProblems, type JobConfig } from '../../src/domain/job-config.ts'
import { newJobRow, plannedTraining } from '../../src/core/job-rows.ts'
import type { ParameterSet } from '../../src/domain/search-space.ts'
import { toJson, tuningConfigOf } from '../../src/domain/json-columns.ts'
import { createJobLifecycle } from '../../src/core/job-lifecycle.ts'

export interface TrialContext {
  db: Db
  bus: EventBus
  instanceTypes: readonly InstanceType[]
}

/** The job configuration of one trial. Trials keep the base seed, so that they differ by their hyperparameters only. */
export function trialConfig(tuning: TuningJob, number: number, parameters: ParameterSet): JobConfig {
  const { baseConfig: base, objective } = tuningConfigOf(tuning)
  return {
    ...base,
    name: `${tuning.name} · trial ${number}`,
    hyperparameters: { ...base.hyperparameters, ...parameters } as JobConfig['hyperparameters'],
    // The best checkpoint of a trial (the one evaluated and exported) is the best by the tuning's objective.
    options: { ...base.options, earlyStoppingMetric: objective.metric as JobConfig['options']['earlyStoppingMetric'] },
  }
}

/** Why a trial cannot become a job (a parameter combination the job rules refuse, the dataset gone, no capacity), or its planned training. */
async function planTrial(ctx: TrialContext, tuning: TuningJob, config: JobConfig) {
  const problems = crossFieldProblems(config)
  if (problems.length > 0)
    return { problem: `these hyperparameters are invalid together: ${problems.map((p) => `${p.field} ${p.message}`).join('; ')}` } as const
  const dataset = await ctx.db.dataset.findFirst({ where: { id: config.dataset.id, ownerId: tuning.ownerId }, select: { rowCount: true } })
  if (!dataset) return { problem: `dataset ${config.dataset.id} no longer exists` } as const
  const instanceType = ctx.instanceTypes.find((type) => type.name === config.resources.instanceType)
  if (!instanceType || instanceType.capacity < config.resources.instanceCount) {
    return { problem: `instance type ${config.resources.instanceType} cannot run ${config.resources.instanceCount} instance(s) on this deployment` } as const
  }
  const plan = await plannedTraining(ctx.db, config, dataset.rowCount, instanceType)
  if (plan.split.train < 1) return { problem: `the splits leave no training rows out of ${dataset.rowCount}` } as const
  return { instanceType, plan } as const
}

/** Creates trial `number` with its job queued, or as failed when its job cannot be made. */
export async function createTrial(ctx: TrialContext, tuning: TuningJob, number: number, parameters: ParameterSet): Promise<Trial> {
  const config = trialConfig(tuning, number, parameters)
  const planned = await planTrial(ctx, tuning, config)
  const now = new Date()
  const trial = { id: newId('trial'), tuningId: tuning.id, number, parameters: toJson(parameters), createdAt: now }
  if ('problem' in planned) {
    return ctx.db.trial.create({ data: { ...trial, status: 'failed', statusReason: planned.problem, completedAt: now } })
  }
  const { instanceType, plan } = planned
  const jobId = newId('job')
  const row = newJobRow({
    id: jobId,
    ownerId: tuning.ownerId,
    config,
    instanceType,
    totalSteps: plan.steps.total,
    durationSeconds: plan.durationSeconds,
    estimate: undefined,
    origin: { tuningId: tuning.id },
    now,
  })
  const queued = await createJobLifecycle(ctx).queue(row, ctx.db.trial.create({ data: { ...trial, jobId, status: 'pending' } }))
  return queued.alongside[0]
}

/** Stops a trial's job: queued → cancelled at once, running → stopping (its trainer stops it at the next step). The reason goes to the job's log. */
export async function stopTrialJob(ctx: TrialContext, jobId: string, reason: string): Promise<void> {
  await createJobLifecycle(ctx).requestStop(jobId, { level: 'info', message: reason })
}
