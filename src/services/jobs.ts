// Training jobs (spec §1): create, get, list, stop, delete. The trainer
// (trainer/) takes pending jobs from the database; this service never runs
// training itself.
import { randomInt } from 'node:crypto'
import type { Db, Job } from '../infra/db.ts'
import type { ReadStore } from '../infra/read-store.ts'
import type { Storage } from '../infra/storage.ts'
import type { JobLifecycle } from '../core/job-lifecycle.ts'
import { logSeverity, topics } from '../events/index.ts'
import { source, type LiveViews } from './live.ts'
import { ConflictError, ForbiddenError, InvalidInputError, NotFoundError, type FieldProblem } from '../errors/index.ts'
import { newId } from '../domain/ids.ts'
import { createJobSchema, parseConfig, withJobDefaults, type JobConfig } from '../domain/job-config.ts'
import { newJobRow, plannedTraining } from '../core/job-rows.ts'
import { paginationOf, windowOf, type Page, type PageRequest, type SortOrder, type Window } from '../domain/pagination.ts'
import { endedStatuses, jobSummary, type JobStatus, type JobView } from '../domain/views.ts'
import { isAdmin, requireScope, type Principal } from './auth.ts'
import type { ResourceService } from './resources.ts'
import { datasetColumnsOf } from '../domain/json-columns.ts'
import { largestCorner } from '../domain/job-size.ts'
import {
  columnProblems,
  configWarnings,
  datasetFactsOf,
  estimateStart,
  memoryProblem,
  noTrainerWarning,
  resolveModel,
  runtimeWarning,
  sizeSettingsOf,
} from './job-requests.ts'

type JobWithOwner = Job & { owner: { name: string } }

export const jobSortFields = ['createdAt', 'updatedAt', 'name'] as const

/** Which jobs a list shows, and in what order (default: newest first). */
export interface JobListFilter {
  status?: JobStatus
  /** model.baseModel. */
  model?: string
  /** A user name; another user's needs the admin scope. */
  owner?: string
  sortBy?: (typeof jobSortFields)[number]
  sortOrder?: SortOrder
}

export function createJobService(deps: {
  db: Db
  reads: ReadStore
  storage: Storage
  /** Every status write and job.updated event goes through it. */
  lifecycle: JobLifecycle
  live: LiveViews
  resources: ResourceService
  trainerConcurrency: number
  /** Told after a job is deleted (loaded models are dropped). */
  onDeleted?: (jobId: string) => void
}) {
  const { db, reads, storage, resources, lifecycle } = deps
  const view = (job: JobWithOwner): JobView => lifecycle.viewOf(job)

  /** A job the principal may see: their own, or any job for an admin token. Deleted jobs are gone. */
  async function load(principal: Principal, id: string): Promise<JobWithOwner> {
    const job = await reads.jobById(id, isAdmin(principal) ? undefined : principal.userId)
    if (!job) throw new NotFoundError('job', id)
    return job
  }

  /** Whose jobs a list shows: the caller's; an admin's choice of owner, or everyone's. */
  async function listFilter(principal: Principal, q: JobListFilter) {
    // A GraphQL String may be empty (REST's query schema refuses it the same way).
    const empty = (['model', 'owner'] as const).filter((key) => q[key] === '')
    if (empty.length > 0) throw InvalidInputError.fromProblems(empty.map((field) => ({ field, message: 'must not be empty' })))
    let ownerId: string | undefined = principal.userId
    if (q.owner !== undefined && q.owner !== principal.userName) {
      if (!isAdmin(principal)) throw new ForbiddenError("Only a token with the admin scope can list other users' jobs")
      const owner = await db.user.findUnique({ where: { name: q.owner } })
      ownerId = owner?.id ?? '(no such user)'
    } else if (q.owner === undefined && isAdmin(principal)) {
      ownerId = undefined
    }
    return { filter: { ownerId, status: q.status, baseModel: q.model }, order: { sortBy: q.sortBy ?? 'createdAt', sortOrder: q.sortOrder ?? 'desc' } }
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
    const { architecture, problems, source } = await resolveModel(db, principal, config.model)
    const dataset = await db.dataset.findFirst({ where: { id: config.dataset.id, ownerId: principal.userId } })
    if (dataset) problems.push(...columnProblems(config, datasetColumnsOf(dataset)))
    if (problems.length > 0) throw InvalidInputError.fromProblems(prefix ? problems.map((p) => ({ ...p, field: `${prefix}.${p.field}` })) : problems)
    if (!dataset) throw new NotFoundError('dataset', config.dataset.id)
    const instanceType = resources.requireRunnable(config.resources.instanceType, config.resources.instanceCount ?? 1)
    const effective = withJobDefaults(config, { architecture, seed: randomInt(0, 2_147_483_647) })
    const plan = await plannedTraining(db, effective, dataset.rowCount, instanceType)
    const at = (field: string) => (prefix ? `${prefix}.${field}` : field)
    if (plan.split.train < 1) {
      throw InvalidInputError.fromProblems([{ field: at('dataset.validationSplit'), message: `leaves no training rows out of ${dataset.rowCount}` }])
    }
    const size = sizeSettingsOf(effective, source)
    const facts = datasetFactsOf(dataset)
    /** The memory check for these settings with some hyperparameters changed (a tuning's largest corner); null when it fits. */
    const fits = (changes: Partial<JobConfig['hyperparameters']> = {}, field = at('resources.instanceType')) =>
      memoryProblem(
        {
          ...size,
          hyperparameters: { ...size.hyperparameters, ...changes },
          batchSize: changes.batchSize ?? effective.hyperparameters.batchSize,
          trainRows: plan.split.train,
        },
        facts,
        instanceType,
        resources.instanceTypes,
        field,
      )
    const tooLarge = fits()
    if (tooLarge) throw InvalidInputError.fromProblems([tooLarge])
    /** A tuning's search space: refused when its largest corner (every size hyperparameter at its largest) would not fit. */
    const searchSpaceProblems = (space: Parameters<typeof largestCorner>[0]): FieldProblem[] => {
      const corner = largestCorner(space)
      if (Object.keys(corner).length === 0) return []
      const problem = fits(corner, 'parameters')
      if (!problem) return []
      const values = Object.entries(corner).map(([name, value]) => `${name} ${value}`)
      return [{ field: 'parameters', message: `the largest trial the search space allows (${values.join(', ')}) does not fit: ${problem.message}` }]
    }
    return { config: effective, dataset, instanceType, plan, searchSpaceProblems }
  }

  /** A pending job's start and completion estimates are meaningless with no trainer to start it. */
  async function withLiveEstimates<V extends JobView>(views: V[]): Promise<V[]> {
    if (!views.some((job) => job.status === 'pending')) return views
    if (!(await resources.trainerLiveness()).missing) return views
    return views.map((job) => (job.status === 'pending' ? { ...job, estimatedStartTime: null, estimatedCompletionTime: null } : job))
  }

  /**
   * Validates a job request (every field, all problems at once), checks the
   * dataset, capacity and memory, and queues the job as `pending` with start
   * and completion estimates (none while no trainer runs). Warnings about
   * the settings also go to the job's log at warn level.
   */
  async function createWithWarnings(principal: Principal, input: unknown, origin: { templateId?: string; tuningId?: string } = {}) {
    const { config, instanceType, plan } = await prepare(principal, input)
    const now = new Date()
    const trainer = await resources.trainerLiveness(now.getTime())
    const queue = { db, capacityOf: (type: string) => resources.find(type)?.capacity ?? 0, concurrency: deps.trainerConcurrency }
    const estimate = trainer.missing
      ? undefined
      : await estimateStart(queue, {
          now: now.getTime(),
          priority: config.priority,
          instanceType: instanceType.name,
          instanceCount: config.resources.instanceCount,
          durationMs: plan.durationSeconds * 1000,
        })
    const id = newId('job')
    const row = newJobRow({
      id,
      ownerId: principal.userId,
      config,
      instanceType,
      totalSteps: plan.steps.total,
      durationSeconds: plan.durationSeconds,
      estimate,
      origin,
      now,
    })
    const runtime = runtimeWarning(instanceType)
    const settings = [...configWarnings(config, plan.steps.total), ...(runtime ? [runtime] : [])]
    const warnings = trainer.missing ? [...settings, noTrainerWarning(trainer.lastSeenAt)] : settings
    const logs = warnings.map((message) => db.jobLog.create({ data: { jobId: id, timestamp: now, level: 'warn', severity: logSeverity.warn, message } }))
    return { job: (await lifecycle.queue(row, ...logs)).job, warnings }
  }

  return {
    /** `createWithWarnings` without the warnings (GraphQL's createJob answers the Job). */
    async create(principal: Principal, input: unknown, origin: { templateId?: string; tuningId?: string } = {}): Promise<JobView> {
      return (await createWithWarnings(principal, input, origin)).job
    },

    /** As `create`, with sentences about settings that will not do what was likely meant, and a missing trainer (REST's `data.warnings`). */
    createWithWarnings,

    prepare,

    async get(principal: Principal, id: string): Promise<JobView> {
      const [job] = await withLiveEstimates([view(await load(principal, id))])
      return job
    },

    /**
     * Every change of one job (E1101 when it is not the principal's); for a
     * job that has already ended, its final state once. Ends after the job
     * ends.
     */
    async watch(principal: Principal, id: string, signal?: AbortSignal): Promise<AsyncIterableIterator<JobView>> {
      await load(principal, id)
      return deps.live.watch<JobView>({
        sources: [source(topics.job(id), (event) => event.job)],
        current: { load: async () => view(await load(principal, id)), send: 'if-final' },
        isFinal: (job) => endedStatuses.includes(job.status),
        signal,
      })
    },

    /** Every change of any of the principal's jobs, for as long as it is open. */
    watchMine(principal: Principal, signal?: AbortSignal): Promise<AsyncIterableIterator<JobView>> {
      return deps.live.watch<JobView>({ sources: [source(topics.userJobs(principal.userId), (event) => event.job)], isFinal: () => false, signal })
    },

    /**
     * One page of the list, with the spec's `pagination`; entries carry the
     * spec's summary fields and are read as such.
     */
    async list(principal: Principal, query: JobListFilter, page: PageRequest) {
      const { filter, order } = await listFilter(principal, query)
      const [rows, total] = await Promise.all([reads.jobSummaries(filter, order, windowOf(page)), reads.countJobs(filter)])
      return { items: rows.map(jobSummary), pagination: paginationOf(page.page, page.limit, total) }
    },

    /** Jobs (full views) matching `query` in the window, with the total count. */
    async find(principal: Principal, query: JobListFilter, window: Window): Promise<Page<JobView>> {
      const { filter, order } = await listFilter(principal, query)
      const [rows, total] = await Promise.all([reads.jobs(filter, order, window), reads.countJobs(filter)])
      return { items: await withLiveEstimates(rows.map(view)), total }
    },

    /** pending → cancelled at once; running → stopping (the trainer ends it); stopping again is a no-op. */
    async stop(principal: Principal, id: string): Promise<JobView> {
      requireScope(principal, 'write')
      await load(principal, id)
      const stopped = await lifecycle.requestStop(id)
      if (!stopped.moved) throw stopped.status === null ? new NotFoundError('job', id) : new ConflictError(stopped.message)
      return stopped.job
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
      const discarded = await lifecycle.discard(job, force)
      if (!discarded.moved) {
        // It started (or ended) between the read and the write.
        if (discarded.status === null) throw new NotFoundError('job', id)
        throw new ConflictError(
          `Job ${id} is ${discarded.status}; stop it first, or delete it with force=true (which also removes its checkpoints and exports)`,
        )
      }
      if (force) await Promise.all([storage.remove(`checkpoints/${id}`), storage.remove(`exports/${id}`)])
      deps.onDeleted?.(id)
      return { jobId: id, deleted: true as const, deletedAt: discarded.job.updatedAt, force }
    },
  }
}

export type JobService = ReturnType<typeof createJobService>
