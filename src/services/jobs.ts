// Training jobs (spec §1): create, get, list, stop, delete. The trainer
// (trainer/) takes pending jobs from the database; this service never runs
// training itself.
import { randomInt } from 'node:crypto'
import { z } from 'zod'
import type { Db, Job } from '../infra/db.ts'
import type { ReadStore } from '../infra/read-store.ts'
import type { EventBus } from '../infra/event-bus.ts'
import type { Storage } from '../infra/storage.ts'
import { ConflictError, ForbiddenError, InvalidInputError, NotFoundError, type FieldProblem } from '../errors/index.ts'
import { architecturesByTask, baseModels, findBaseModel, type Architecture } from '../domain/catalog.ts'
import { newId } from '../domain/ids.ts'
import { createJobSchema, parseConfig, withJobDefaults, type CreateJobInput, type JobConfig } from '../domain/job-config.ts'
import { newJobRow, plannedTraining } from '../domain/job-rows.ts'
import { pageQuery, paginationOf } from '../domain/pagination.ts'
import { parseInput } from '../domain/validation.ts'
import { jobStatuses, jobSummary, jobView, type JobView } from '../domain/views.ts'
import { publishJobUpdated, topics, type TrainerStopEvent } from '../events/index.ts'
import { isAdmin, requireScope, type Principal } from './auth.ts'
import type { ResourceService } from './resources.ts'
import { runningEntryOf, simulateQueue } from '../domain/queue-estimate.ts'

type JobWithOwner = Job & { owner: { name: string } }

const filterFields = {
  status: z.enum(jobStatuses, `must be one of ${jobStatuses.join(', ')}`).optional(),
  model: z.string().min(1, 'must not be empty').optional(),
  owner: z.string().min(1, 'must not be empty').optional(),
  sortBy: z.enum(['createdAt', 'updatedAt', 'name'], 'must be createdAt, updatedAt or name').default('createdAt'),
  sortOrder: pageQuery.sortOrder,
}
const filterSchema = z.strictObject(filterFields)
const listQuerySchema = z.strictObject({ ...filterFields, ...pageQuery })

const includeOwner = { owner: { select: { name: true } } } as const

/** Queues longer than this get an aggregate estimate instead of a full simulation. */
const exactQueueLimit = 2000

export function createJobService(deps: {
  db: Db
  reads: ReadStore
  bus: EventBus
  storage: Storage
  resources: ResourceService
  trainerConcurrency: number
  /** Told after a job is deleted (loaded models are dropped). */
  onDeleted?: (jobId: string) => void
}) {
  const { db, reads, bus, storage, resources } = deps

  function view(job: JobWithOwner): JobView {
    return jobView(job, job.owner.name, resources.find(job.instanceType)?.pricePerHour ?? null)
  }

  async function publish(job: JobWithOwner): Promise<JobView> {
    const snapshot = view(job)
    await publishJobUpdated(bus, job.ownerId, snapshot)
    return snapshot
  }

  /** A job the principal may see: their own, or any job for an admin token. Deleted jobs are gone. */
  async function load(principal: Principal, id: string): Promise<JobWithOwner> {
    const job = await reads.jobById(id, isAdmin(principal) ? undefined : principal.userId)
    if (!job) throw new NotFoundError('job', id)
    return job
  }

  /** Whose jobs a list shows: the caller's; an admin's choice of owner, or everyone's. */
  async function listFilter(principal: Principal, filters: unknown) {
    const q = parseInput(filterSchema, filters)
    let ownerId: string | undefined = principal.userId
    if (q.owner !== undefined && q.owner !== principal.userName) {
      if (!isAdmin(principal)) throw new ForbiddenError("Only a token with the admin scope can list other users' jobs")
      const owner = await db.user.findUnique({ where: { name: q.owner } })
      ownerId = owner?.id ?? '(no such user)'
    } else if (q.owner === undefined && isAdmin(principal)) {
      ownerId = undefined
    }
    return { filter: { ownerId, status: q.status, baseModel: q.model }, order: { sortBy: q.sortBy, sortOrder: q.sortOrder } }
  }

  /** Resolves model.baseModel as the trainer will: a built-in, a completed job of the user, or a fresh architecture. */
  async function resolveModel(principal: Principal, model: CreateJobInput['model']): Promise<{ architecture: Architecture; problems: FieldProblem[] }> {
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
      const sourceModel = source.modelConfig as JobConfig['model']
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
  function columnProblems(config: CreateJobInput, columns: { name: string; type: string }[]): FieldProblem[] {
    const problems: FieldProblem[] = []
    const names = new Set(columns.map((c) => c.name))
    const listed = `columns: ${columns.map((c) => c.name).join(', ')}`
    const check = (field: string, column: string | undefined) => {
      if (column !== undefined && !names.has(column)) problems.push({ field, message: `dataset has no column ${JSON.stringify(column)} (${listed})` })
    }
    check('dataset.textColumn', config.dataset.textColumn)
    check('dataset.labelColumn', config.dataset.labelColumn)
    config.dataset.featureColumns?.forEach((column, i) => check(`dataset.featureColumns[${i}]`, column))
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
  async function estimateStart(now: number, priority: number, instanceType: string, instanceCount: number, durationMs: number) {
    const ahead = { status: 'pending', priority: { gte: priority } }
    const capacityOf = (type: string) => resources.find(type)?.capacity ?? 0
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
      deps.trainerConcurrency,
    )
    return estimates.get(candidate.id)
  }

  /**
   * Everything `create` checks, without queuing: the effective
   * configuration (defaults applied, a seed drawn when none was given),
   * the instance type and the planned training. Tunings check their base
   * job this way.
   */
  async function prepare(principal: Principal, input: unknown, prefix = '') {
    requireScope(principal, 'write')
    const config = parseConfig(createJobSchema, input, prefix)
    const { architecture, problems } = await resolveModel(principal, config.model)
    const dataset = await db.dataset.findFirst({ where: { id: config.dataset.id, ownerId: principal.userId } })
    if (dataset) problems.push(...columnProblems(config, (dataset.schema as { columns: { name: string; type: string }[] }).columns))
    if (problems.length > 0) throw InvalidInputError.fromProblems(prefix ? problems.map((p) => ({ ...p, field: `${prefix}.${p.field}` })) : problems)
    if (!dataset) throw new NotFoundError('dataset', config.dataset.id)
    const instanceType = resources.requireRunnable(config.resources.instanceType, config.resources.instanceCount ?? 1)
    const effective = withJobDefaults(config, { architecture, seed: randomInt(0, 2_147_483_647) })
    const plan = await plannedTraining(db, effective, dataset.rowCount, instanceType)
    if (plan.split.train < 1) {
      throw InvalidInputError.fromProblems([
        { field: `${prefix ? `${prefix}.` : ''}dataset.validationSplit`, message: `leaves no training rows out of ${dataset.rowCount}` },
      ])
    }
    return { config: effective, dataset, instanceType, plan }
  }

  return {
    /**
     * Validates a job request (every field, all problems at once), checks the
     * dataset and capacity, and queues the job as `pending` with start and
     * completion estimates.
     */
    async create(principal: Principal, input: unknown, origin: { templateId?: string; tuningId?: string } = {}): Promise<JobView> {
      const { config, instanceType, plan } = await prepare(principal, input)
      const now = new Date()
      const estimate = await estimateStart(now.getTime(), config.priority, instanceType.name, config.resources.instanceCount, plan.durationSeconds * 1000)
      const job = await db.job.create({
        data: newJobRow({
          id: newId('job'),
          ownerId: principal.userId,
          config,
          instanceType,
          totalSteps: plan.steps.total,
          durationSeconds: plan.durationSeconds,
          estimate,
          origin,
          now,
        }),
        include: includeOwner,
      })
      await bus.publish(topics.trainerWake, { jobId: job.id })
      return publish(job)
    },

    prepare,

    async get(principal: Principal, id: string): Promise<JobView> {
      return view(await load(principal, id))
    },

    /**
     * GET /jobs: filters, `page` and `limit` from a query string; list
     * entries carry the spec's summary fields and are read as such.
     */
    async list(principal: Principal, query: unknown) {
      const { page, limit, ...filters } = parseInput(listQuerySchema, query)
      const { filter, order } = await listFilter(principal, filters)
      const window = { offset: (page - 1) * limit, limit }
      const [rows, total] = await Promise.all([reads.jobSummaries(filter, order, window), reads.countJobs(filter)])
      return { items: rows.map(jobSummary), pagination: paginationOf(page, limit, total) }
    },

    /** Jobs (full views) matching `filters` in the window `offset`, `limit`, with the total count. */
    async find(principal: Principal, filters: unknown, window: { offset: number; limit: number }) {
      const { filter, order } = await listFilter(principal, filters)
      const [rows, total] = await Promise.all([reads.jobs(filter, order, window), reads.countJobs(filter)])
      return { items: rows.map(view), total }
    },

    /** pending → cancelled at once; running → stopping (the trainer ends it); stopping again is a no-op. */
    async stop(principal: Principal, id: string): Promise<JobView> {
      requireScope(principal, 'write')
      const job = await load(principal, id)
      const now = new Date()
      if (job.status === 'stopping') return view(job)
      if (job.status === 'pending') {
        const changed = await db.job.updateMany({ where: { id, status: 'pending' }, data: { status: 'cancelled', stoppedAt: now, completedAt: now } })
        if (changed.count === 1) return publish(await load(principal, id))
      } else if (job.status === 'running') {
        const changed = await db.job.updateMany({ where: { id, status: 'running' }, data: { status: 'stopping', stoppedAt: now } })
        if (changed.count === 1) {
          // The trainer holding the job stops it at its next step (and would notice the status on its next heartbeat anyway).
          await bus.publish(topics.trainerStop, { type: 'trainer.stop', jobId: id } satisfies TrainerStopEvent)
          return publish(await load(principal, id))
        }
      } else {
        throw new ConflictError(`Job ${id} has already ended (${job.status}); there is nothing to stop`)
      }
      // The trainer changed the status between our read and write: answer from the new state.
      const current = await load(principal, id)
      if (current.status === 'pending' || current.status === 'running') throw new ConflictError(`Job ${id} changed state while stopping; try again`)
      if (current.status === 'stopping') return view(current)
      throw new ConflictError(`Job ${id} has already ended (${current.status}); there is nothing to stop`)
    },

    /**
     * Without force: a running job is refused (409); otherwise the job leaves
     * the API but its trained model (checkpoints, exports) stays on disk.
     * With force: a running job is stopped, and the job, its checkpoints and
     * its exports are removed for good.
     */
    async delete(principal: Principal, id: string, force: boolean) {
      requireScope(principal, 'write')
      const job = await load(principal, id)
      const running = job.status === 'running' || job.status === 'stopping'
      if (running && !force) {
        throw new ConflictError(`Job ${id} is ${job.status}; stop it first, or delete it with force=true (which also removes its checkpoints and exports)`)
      }
      const now = new Date()
      if (force) {
        await db.job.delete({ where: { id } })
        await Promise.all([storage.remove(`checkpoints/${id}`), storage.remove(`exports/${id}`)])
      } else {
        await db.job.update({
          where: { id },
          data: { deletedAt: now, ...(job.status === 'pending' ? { status: 'cancelled', stoppedAt: now, completedAt: now } : {}) },
        })
      }
      deps.onDeleted?.(id)
      // The last word on the job for subscribers: an active job ends cancelled.
      const ended = running || job.status === 'pending' ? { status: 'cancelled', stoppedAt: job.stoppedAt ?? now, completedAt: now } : {}
      await publish({ ...job, ...ended, updatedAt: now })
      return { jobId: id, deleted: true as const, deletedAt: now.toISOString(), force }
    },
  }
}

export type JobService = ReturnType<typeof createJobService>
