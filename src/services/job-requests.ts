// What creating a job checks beyond its schema: the base model (a built-in,
// a completed job of the user to fine-tune, or an architecture trained from
// scratch), the column roles the dataset must fill, whether the model fits
// its instance type's memory (src/domain/job-size.ts), what the job should
// be warned about, and when the queue is expected to start and finish it.
import type { Dataset, Db } from '../infra/db.ts'
import type { FieldProblem } from '../errors/index.ts'
import { architecturesByTask, baseModels, findBaseModel, type Architecture } from '../domain/catalog.ts'
import type { InstanceType } from '../domain/instance-types.ts'
import type { CreateJobInput, JobConfig } from '../domain/job-config.ts'
import { estimateJobMemory, formatBytes, formatCount, modelShapeOf, runtimeOverheadBytes, type DatasetFacts, type SizeSettings } from '../domain/job-size.ts'
import { datasetColumnsOf, datasetMetadataOf, datasetPreviewOf, jobConfigOf, jobModelOf } from '../domain/json-columns.ts'
import { runningEntryOf, simulateQueue } from '../domain/queue-estimate.ts'
import type { Principal } from './auth.ts'

/** Queues longer than this get an aggregate estimate instead of a full simulation. */
const exactQueueLimit = 2000

/** Resolves model.baseModel as the trainer will: a built-in, a completed job of the user, or a fresh architecture. */
export async function resolveModel(
  db: Db,
  principal: Principal,
  model: CreateJobInput['model'],
): Promise<{ architecture: Architecture; problems: FieldProblem[]; source?: JobConfig }> {
  const allowed = architecturesByTask[model.task]
  const problems: FieldProblem[] = []
  if (model.architecture && !allowed.includes(model.architecture)) {
    problems.push({ field: 'model.architecture', message: `${model.task} supports ${allowed.join(', ')}` })
  }
  const builtIn = findBaseModel(model.baseModel)
  if (builtIn) {
    if (!builtIn.tasks.includes(model.task)) {
      problems.push({ field: 'model.baseModel', message: `${builtIn.name} is a model for ${builtIn.tasks.join(', ')}, not ${model.task}` })
    } else if (model.architecture && model.architecture !== builtIn.architecture) {
      problems.push({
        field: 'model.architecture',
        message: `${builtIn.name} is a ${builtIn.architecture} model; leave architecture out or set it to ${builtIn.architecture}`,
      })
    }
    return { architecture: builtIn.architecture, problems }
  }
  const source = await db.job.findFirst({ where: { id: model.baseModel, ownerId: principal.userId, deletedAt: null } })
  if (source) {
    const sourceModel = jobModelOf(source)
    if (source.status !== 'completed') {
      problems.push({ field: 'model.baseModel', message: `job ${source.id} is ${source.status}; only a completed job can be fine-tuned` })
    } else if (sourceModel.task !== model.task) {
      problems.push({ field: 'model.baseModel', message: `job ${source.id} trained ${sourceModel.task}, not ${model.task}` })
    }
    // A fine-tuned model is the source job's model: it sizes the new job.
    return { architecture: sourceModel.architecture, problems, source: source.status === 'completed' ? jobConfigOf(source) : undefined }
  }
  if (model.architecture) {
    // Not available here: trained from scratch with this architecture (the trainer logs a warning).
    return { architecture: model.architecture, problems }
  }
  const choices = baseModels.filter((m) => m.tasks.includes(model.task)).map((m) => m.name)
  problems.push({
    field: 'model.baseModel',
    message: `unknown base model ${JSON.stringify(model.baseModel)} for ${model.task}; use one of ${choices.join(', ')}, the id of one of your completed jobs, or set model.architecture (${allowed.join(', ')}) to train that architecture from scratch`,
  })
  return { architecture: allowed[0], problems }
}

/** Column roles the dataset must be able to fill for the task. */
export function columnProblems(config: CreateJobInput, columns: { name: string; type: string }[]): FieldProblem[] {
  const problems: FieldProblem[] = []
  const names = new Set(columns.map((c) => c.name))
  const listed = `columns: ${columns.map((c) => c.name).join(', ')}`
  const check = (field: string, column: string | undefined) => {
    if (column !== undefined && !names.has(column)) problems.push({ field, message: `dataset has no column ${JSON.stringify(column)} (${listed})` })
  }
  check('dataset.textColumn', config.dataset.textColumn)
  check('dataset.labelColumn', config.dataset.labelColumn)
  config.dataset.featureColumns?.forEach((column, i) => {
    check(`dataset.featureColumns[${i}]`, column)
  })
  if (columns.length < 2)
    problems.push({ field: 'dataset.id', message: `a training dataset needs at least two columns (inputs and a label); it has ${listed}` })
  const label = config.dataset.labelColumn ?? (names.has('label') ? 'label' : columns.at(-1)?.name)
  if (config.model.task === 'text-classification' && config.dataset.textColumn === undefined) {
    const hasText = names.has('text') || columns.some((c) => c.type === 'string' && c.name !== label)
    if (!hasText) problems.push({ field: 'dataset.textColumn', message: `the dataset has no string column to use as text; name one (${listed})` })
  }
  if (config.model.task === 'tabular-regression' && label !== undefined && names.has(label)) {
    const type = columns.find((c) => c.name === label)?.type
    if (type !== 'integer' && type !== 'float') {
      problems.push({
        field: 'dataset.labelColumn',
        message: `label column ${JSON.stringify(label)} holds ${type} values; tabular-regression needs a numeric label`,
      })
    }
  }
  return problems
}

/**
 * When the queue is expected to start and finish a new job. Exact list
 * scheduling for queues of ordinary length; for a very long queue, the
 * work queued ahead on the same instance type spread over its capacity.
 */
export async function estimateStart(
  queue: { db: Db; capacityOf: (instanceType: string) => number; concurrency: number },
  job: { now: number; priority: number; instanceType: string; instanceCount: number; durationMs: number },
) {
  const { db, capacityOf } = queue
  const { now, priority, instanceType, instanceCount, durationMs } = job
  const ahead = { status: 'pending', priority: { gte: priority } }
  if ((await db.job.count({ where: ahead })) > exactQueueLimit) {
    const queued = await db.job.aggregate({ where: { ...ahead, instanceType }, _sum: { estimatedDuration: true } })
    const startsAt = now + ((queued._sum.estimatedDuration ?? 0) * 1000) / Math.max(1, capacityOf(instanceType))
    return { startsAt, endsAt: startsAt + durationMs }
  }
  const [running, queued] = await Promise.all([
    db.job.findMany({
      where: { status: { in: ['running', 'stopping'] } },
      select: { instanceType: true, instanceCount: true, estimatedCompletionTime: true, startedAt: true, estimatedDuration: true },
    }),
    db.job.findMany({
      where: ahead,
      select: { id: true, instanceType: true, instanceCount: true, estimatedDuration: true },
      orderBy: [{ priority: 'desc' }, { createdAt: 'asc' }],
    }),
  ])
  const candidate = { id: '(new)', instanceType, instanceCount, durationMs }
  const estimates = simulateQueue(
    now,
    running.map((job) => runningEntryOf(job, now)),
    [...queued.map((job) => ({ ...job, durationMs: (job.estimatedDuration ?? 0) * 1000 })), candidate],
    capacityOf,
    queue.concurrency,
  )
  return estimates.get(candidate.id)
}

/** Size hyperparameters a fine-tuning job takes from the model it continues. */
const inheritedKnobs = ['hiddenSize', 'numLayers', 'numHeads', 'embeddingDim', 'filters', 'kernelSize', 'vocabSize', 'maxSequenceLength'] as const

/** The settings that size the job's model: its own, or for a fine-tuning job its source's model with its own batch size. */
export function sizeSettingsOf(config: JobConfig, source?: JobConfig): SizeSettings {
  const hyperparameters = { ...config.hyperparameters }
  if (source) for (const knob of inheritedKnobs) hyperparameters[knob] = source.hyperparameters[knob]
  return { task: config.model.task, architecture: config.model.architecture, dataset: config.dataset, hyperparameters }
}

export function datasetFactsOf(dataset: Dataset): DatasetFacts {
  return { rowCount: dataset.rowCount, columns: datasetColumnsOf(dataset), metadata: datasetMetadataOf(dataset), preview: datasetPreviewOf(dataset) }
}

/**
 * Null when the job's model fits its instance type's memory; otherwise the
 * problem (E1108) saying what it needs, what the type has and which types
 * would fit. `field` names the setting the message is reported on. An
 * instance type with less memory than the training runtime alone is the
 * catalog's matter, not the job's: `runtimeWarning` speaks of it, and the
 * trainer's memory watchdog ends such a job.
 */
export function memoryProblem(
  settings: SizeSettings & { batchSize: number; trainRows: number },
  dataset: DatasetFacts,
  instanceType: InstanceType,
  catalog: readonly InstanceType[],
  field = 'resources.instanceType',
): FieldProblem | null {
  const estimate = estimateJobMemory(modelShapeOf(settings, dataset), settings.batchSize, settings.trainRows)
  const has = instanceType.memoryGb * 1024 ** 3
  if (estimate.totalBytes <= has || has <= estimate.runtimeBytes) return null
  const fitting = catalog.filter((type) => type.memoryGb * 1024 ** 3 >= estimate.totalBytes)
  const runnable = fitting.filter((type) => type.capacity > 0).map((type) => type.name)
  const elsewhere = fitting.filter((type) => type.capacity === 0).map((type) => type.name)
  let advice: string
  if (runnable.length > 0) advice = `instance types that fit: ${runnable.join(', ')}`
  else if (elsewhere.length > 0) advice = `no instance type available here fits (${elsewhere.join(', ')} would, but has no capacity on this deployment)`
  else advice = 'no instance type fits: make the model smaller (hiddenSize, numLayers, embeddingDim, vocabSize, maxSequenceLength, filters) or lower batchSize'
  const parts = [
    `${formatBytes(estimate.stateBytes)} for the weights, gradients and optimizer state of ${formatCount(estimate.parameters)} parameters`,
    `${formatBytes(estimate.activationBytes)} of activations at batchSize ${settings.batchSize}`,
    ...(estimate.dataBytes >= 1024 ** 2 ? [`${formatBytes(estimate.dataBytes)} of encoded training data`] : []),
    `${formatBytes(estimate.runtimeBytes)} for the training runtime`,
  ]
  const message =
    `the job needs about ${formatBytes(estimate.totalBytes)} of memory (${parts.join(', ')}), ` + `but ${instanceType.name} has ${formatBytes(has)}; ${advice}`
  return { field, message }
}

/** A warning when the instance type has less memory than the training runtime alone takes (see memoryProblem), else null. */
export function runtimeWarning(instanceType: InstanceType): string | null {
  const has = instanceType.memoryGb * 1024 ** 3
  if (has > runtimeOverheadBytes) return null
  return `${instanceType.name} has ${formatBytes(has)} of memory, less than the ${formatBytes(runtimeOverheadBytes)} the training runtime alone takes: the job will likely end failed, out of memory`
}

/** Sentences about settings that will not do what the user likely expects, for the create response and the job's log. */
export function configWarnings(config: JobConfig, totalSteps: number): string[] {
  const warnings: string[] = []
  const { warmupSteps } = config.hyperparameters
  const { checkpointInterval } = config.output
  if (warmupSteps > totalSteps) {
    warnings.push(
      `hyperparameters.warmupSteps (${warmupSteps}) exceeds the job's ${totalSteps} total steps: the learning rate is still warming up when training ends and never reaches learningRate`,
    )
  }
  if (checkpointInterval !== null && checkpointInterval > totalSteps) {
    warnings.push(
      `output.checkpointInterval (${checkpointInterval}) exceeds the job's ${totalSteps} total steps: no checkpoint falls due on that interval, so only validated-best weights and the last step are saved`,
    )
  }
  return warnings
}

/** The warning a job gets when no trainer has been seen recently. */
export function noTrainerWarning(lastSeenAt: string | null): string {
  const seen = lastSeenAt ? `the last trainer heartbeat was at ${lastSeenAt}` : 'no trainer has reported since this API process started'
  return `no trainer is running (${seen}): the job stays pending until one starts (run the API with TRAINER=embedded, or start npm run worker against the same database)`
}
