// What creating a job checks beyond its schema: the base model (a built-in,
// a completed job of the user to fine-tune, or an architecture trained from
// scratch), the column roles the dataset must fill, and when the queue is
// expected to start and finish the job.
import type { Db } from '../infra/db.ts'
import type { FieldProblem } from '../errors/index.ts'
import { architecturesByTask, baseModels, findBaseModel, type Architecture } from '../domain/catalog.ts'
import type { CreateJobInput } from '../domain/job-config.ts'
import { jobModelOf } from '../domain/json-columns.ts'
import { runningEntryOf, simulateQueue } from '../domain/queue-estimate.ts'
import type { Principal } from './auth.ts'

/** Queues longer than this get an aggregate estimate instead of a full simulation. */
const exactQueueLimit = 2000

/** Resolves model.baseModel as the trainer will: a built-in, a completed job of the user, or a fresh architecture. */
export async function resolveModel(
  db: Db,
  principal: Principal,
  model: CreateJobInput['model'],
): Promise<{ architecture: Architecture; problems: FieldProblem[] }> {
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
    return { architecture: sourceModel.architecture, problems }
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
