// A queued job's database row from its effective configuration, with the
// duration and cost it is expected to take. Written by the job service for
// jobs users create and by the trainer's tuning controller for trials.
import type { Db, Prisma } from '../infra/db.ts'
import { throughputPriors, type Architecture } from '../domain/catalog.ts'
import type { InstanceType } from '../domain/instance-types.ts'
import { splitSizes, stepCounts, type JobConfig } from '../domain/job-config.ts'
import { trainingWork } from '../domain/queue-estimate.ts'
import { toJson } from '../domain/json-columns.ts'

/** Samples per second for an architecture on an instance type: the median of recently measured jobs, else the prior. */
export async function expectedThroughput(db: Db, architecture: Architecture, instanceType: InstanceType): Promise<number> {
  const measured = await db.job.findMany({
    where: { status: 'completed', architecture, instanceType: instanceType.name, samplesPerSecond: { not: null } },
    select: { samplesPerSecond: true },
    orderBy: { completedAt: 'desc' },
    take: 20,
  })
  const values = measured.map((job) => job.samplesPerSecond as number).sort((a, b) => a - b)
  if (values.length > 0) return values[Math.floor(values.length / 2)]
  return throughputPriors[architecture] * instanceType.speedFactor
}

/** Rows, steps and expected seconds of training for a configuration on a dataset of `rowCount` rows. */
export async function plannedTraining(db: Db, config: JobConfig, rowCount: number, instanceType: InstanceType) {
  const split = splitSizes(rowCount, config.dataset.validationSplit, config.dataset.testSplit)
  const steps = stepCounts(split.train, config.hyperparameters.batchSize, config.hyperparameters.epochs)
  const durationSeconds = trainingWork(split, config.hyperparameters.epochs) / (await expectedThroughput(db, config.model.architecture, instanceType))
  return { split, steps, durationSeconds }
}

export interface NewJobRow {
  id: string
  ownerId: string
  config: JobConfig
  instanceType: InstanceType
  totalSteps: number
  durationSeconds: number
  estimate: { startsAt: number; endsAt: number } | undefined
  origin: { templateId?: string; tuningId?: string }
  now: Date
}

export function newJobRow(row: NewJobRow): Prisma.JobUncheckedCreateInput {
  const { config, instanceType } = row
  return {
    id: row.id,
    ownerId: row.ownerId,
    name: config.name,
    description: config.description,
    priority: config.priority,
    task: config.model.task,
    baseModel: config.model.baseModel,
    architecture: config.model.architecture,
    datasetId: config.dataset.id,
    templateId: row.origin.templateId ?? null,
    tuningId: row.origin.tuningId ?? null,
    modelConfig: toJson(config.model),
    datasetConfig: toJson(config.dataset),
    hyperparameters: toJson(config.hyperparameters),
    resourcesConfig: toJson(config.resources),
    outputConfig: toJson(config.output),
    optionsConfig: toJson(config.options),
    instanceType: instanceType.name,
    instanceCount: config.resources.instanceCount,
    seed: config.options.seed,
    totalEpochs: config.hyperparameters.epochs,
    totalSteps: row.totalSteps,
    estimatedDuration: row.durationSeconds,
    estimatedStartTime: row.estimate ? new Date(row.estimate.startsAt) : null,
    estimatedCompletionTime: row.estimate ? new Date(row.estimate.endsAt) : null,
    estimatedCost: instanceType.pricePerHour * config.resources.instanceCount * (row.durationSeconds / 3600),
    createdAt: row.now,
  }
}
