// Hyperparameter tunings (spec §3): create, get, list, stop. The request is
// checked here in full (the base job as any job, the search space against
// the base job's model, the objective against its task); the trainer's
// tuning controller (trainer/tuning) then suggests, runs and prunes trials.
import { randomInt } from 'node:crypto'
import type { Db, Job, Prisma, Trial, TuningJob } from '../infra/db.ts'
import type { EventBus } from '../infra/event-bus.ts'
import { ConflictError, InvalidInputError, NotFoundError, type FieldProblem } from '../errors/index.ts'
import { newId } from '../domain/ids.ts'
import { paginationOf, windowOf, type Page, type PageRequest, type SortOrder, type Window } from '../domain/pagination.ts'
import { gridOf, type SearchSpace } from '../domain/search-space.ts'
import {
  checkSearchSpace,
  createTuningSchema,
  objectiveProblems,
  strategyProblems,
  withStrategyDefaults,
  type CreateTuningInput,
  type TuningObjective,
} from '../domain/tuning-config.ts'
import { endedTuningStatuses, tuningView, type TuningStatus, type TuningView } from '../domain/tuning-view.ts'
import { problemsOf } from '../domain/validation.ts'
import { publishTuningUpdated, topics } from '../events/index.ts'
import { source, type LiveViews } from './live.ts'
import { requireScope, type Principal } from './auth.ts'
import type { JobService } from './jobs.ts'
import type { TemplateService } from './templates.ts'
import { toJson, tuningConfigOf } from '../domain/json-columns.ts'

type TuningWithRelations = TuningJob & { owner: { name: string }; trials: Trial[] }

export const tuningSortFields = ['createdAt', 'updatedAt', 'name'] as const

/** Which tunings a list shows, and in what order (default: newest first). */
export interface TuningFilter {
  status?: TuningStatus
  sortBy?: (typeof tuningSortFields)[number]
  sortOrder?: SortOrder
}

const include = { owner: { select: { name: true } }, trials: true } as const

/** The request that recreates a stored job (its effective configuration). */
function requestOf(job: Job): Record<string, unknown> {
  return {
    name: job.name,
    description: job.description,
    priority: job.priority,
    model: job.modelConfig,
    dataset: job.datasetConfig,
    hyperparameters: job.hyperparameters,
    resources: job.resourcesConfig,
    output: job.outputConfig,
    options: job.optionsConfig,
  }
}

export function createTuningService(deps: { db: Db; bus: EventBus; live: LiveViews; jobs: JobService; templates: TemplateService }) {
  const { db, bus, jobs, templates } = deps

  const view = (tuning: TuningWithRelations): TuningView => tuningView(tuning, tuning.trials, tuning.owner.name)

  async function load(principal: Principal, id: string): Promise<TuningWithRelations> {
    const tuning = await db.tuningJob.findFirst({ where: { id, ownerId: principal.userId }, include })
    if (!tuning) throw new NotFoundError('tuning', id)
    return tuning
  }

  async function publish(tuning: TuningWithRelations): Promise<TuningView> {
    const snapshot = view(tuning)
    await publishTuningUpdated(bus, tuning.ownerId, snapshot)
    return snapshot
  }

  /** The job request trials start from: exactly one of baseJobId, templateId (with datasetId) or baseJob. */
  async function baseRequest(principal: Principal, body: CreateTuningInput): Promise<{ request: unknown; prefix: string }> {
    const sources = (['baseJobId', 'templateId', 'baseJob'] as const).filter((key) => body[key] !== undefined)
    const problems: FieldProblem[] = []
    if (sources.length !== 1) {
      problems.push({
        field: sources[1] ?? 'baseJobId',
        message:
          'give exactly one of baseJobId (one of your jobs), templateId (with datasetId) or baseJob (a job request) as the configuration trials start from',
      })
    }
    if (body.templateId === undefined && (body.datasetId !== undefined || body.overrides !== undefined)) {
      problems.push({ field: body.datasetId !== undefined ? 'datasetId' : 'overrides', message: 'applies with templateId only' })
    }
    if (body.templateId !== undefined && body.datasetId === undefined) problems.push({ field: 'datasetId', message: 'is required with templateId' })
    if (problems.length > 0) throw InvalidInputError.fromProblems(problems)
    if (body.baseJobId !== undefined) {
      const job = await db.job.findFirst({ where: { id: body.baseJobId, ownerId: principal.userId, deletedAt: null } })
      if (!job) throw new NotFoundError('job', body.baseJobId)
      return { request: requestOf(job), prefix: '' }
    }
    if (body.templateId !== undefined) {
      return {
        request: await templates.jobRequest(principal, body.templateId, { name: body.name, datasetId: body.datasetId as string, overrides: body.overrides }),
        prefix: 'overrides',
      }
    }
    return { request: body.baseJob, prefix: 'baseJob' }
  }

  /** Earlier tunings of the user whose completed trials can seed this search. */
  async function warmStartProblems(principal: Principal, ids: string[], space: SearchSpace, objective: TuningObjective): Promise<FieldProblem[]> {
    const problems: FieldProblem[] = []
    for (const [i, id] of ids.entries()) {
      const field = `warmStartFrom[${i}]`
      const earlier = await db.tuningJob.findFirst({ where: { id, ownerId: principal.userId } })
      if (!earlier) {
        problems.push({ field, message: `no tuning ${JSON.stringify(id)} of yours` })
        continue
      }
      const { objective: earlierObjective, space: earlierSpace } = tuningConfigOf(earlier)
      if (earlierObjective.metric !== objective.metric) {
        problems.push({ field, message: `tuning ${id} optimized ${earlierObjective.metric}, this one ${objective.metric}` })
      }
      for (const [name, spec] of Object.entries(space)) {
        const before = earlierSpace[name]
        if (!before) problems.push({ field, message: `tuning ${id} did not search ${name}` })
        else if (before.type !== spec.type) problems.push({ field, message: `tuning ${id} searched ${name} as ${before.type}, this one as ${spec.type}` })
      }
      const extra = Object.keys(earlierSpace).filter((name) => !(name in space))
      if (extra.length > 0) problems.push({ field, message: `tuning ${id} also searched ${extra.join(', ')}, which this one keeps fixed` })
    }
    return problems
  }

  function listFilter(principal: Principal, filter: TuningFilter) {
    const sortBy = filter.sortBy ?? 'createdAt'
    const sortOrder = filter.sortOrder ?? 'desc'
    const where: Prisma.TuningJobWhereInput = { ownerId: principal.userId, ...(filter.status ? { status: filter.status } : {}) }
    const orderBy = [{ [sortBy]: sortOrder }, { id: sortOrder }]
    return { where, orderBy }
  }

  /** Tunings (full views) matching `filter` in the window, with the total count. */
  async function find(principal: Principal, filter: TuningFilter, window: Window): Promise<Page<TuningView>> {
    const { where, orderBy } = listFilter(principal, filter)
    const [rows, total] = await Promise.all([
      db.tuningJob.findMany({ where, orderBy, skip: window.offset, take: window.limit, include }),
      db.tuningJob.count({ where }),
    ])
    return { items: rows.map(view), total }
  }

  return {
    /** Checks the whole request (all problems at once) and queues the tuning as `pending`. */
    async create(principal: Principal, input: unknown): Promise<TuningView> {
      requireScope(principal, 'write')
      const parsed = createTuningSchema.safeParse(input)
      if (!parsed.success) {
        // The space's own problems too, so that one answer names everything (whether the model uses each parameter needs a valid base).
        const parameters = (input as { parameters?: unknown } | null)?.parameters
        const spaceProblems =
          parameters && typeof parameters === 'object' && !Array.isArray(parameters)
            ? checkSearchSpace(parameters as Record<string, unknown>, null).problems
            : []
        const shapeProblems = problemsOf(parsed.error.issues)
        throw InvalidInputError.fromProblems([...shapeProblems, ...spaceProblems.filter((p) => !shapeProblems.some((q) => q.field === p.field))])
      }
      const body = parsed.data
      const base = await baseRequest(principal, body)
      const { config, searchSpaceProblems } = await jobs.prepare(principal, { ...(base.request as object), name: body.name }, base.prefix)
      const { space, problems } = checkSearchSpace(body.parameters, config.model)
      problems.push(...objectiveProblems(body.objective, config.model.task), ...strategyProblems(body.strategy))
      // Every trial must fit the instance type: the space's largest corner is checked once, here.
      if (problems.length === 0) problems.push(...searchSpaceProblems(space))
      const objective: TuningObjective = { metric: body.objective.metric, direction: body.objective.direction, target: body.objective.target ?? null }
      const warmStartFrom = body.warmStartFrom ?? []
      if (problems.length === 0) problems.push(...(await warmStartProblems(principal, warmStartFrom, space, objective)))
      if (problems.length > 0) throw InvalidInputError.fromProblems(problems)

      const strategy = withStrategyDefaults(body.strategy, randomInt(0, 2_147_483_647), (points) => gridOf(space, points).length)
      const tuning = await db.tuningJob.create({
        data: {
          id: newId('tuning'),
          ownerId: principal.userId,
          name: body.name,
          description: body.description ?? null,
          baseJobId: body.baseJobId ?? null,
          templateId: body.templateId ?? null,
          baseConfig: toJson(config),
          parameters: toJson(space),
          strategy: toJson(strategy),
          objective: toJson(objective),
          warmStartFrom: toJson(warmStartFrom),
        },
        include,
      })
      await bus.publish(topics.tuningWake, { tuningId: tuning.id })
      return publish(tuning)
    },

    async get(principal: Principal, id: string): Promise<TuningView> {
      return view(await load(principal, id))
    },

    /** The tuning's current state, then every change (E1109 when it is not the principal's); ends after it ends. */
    async watch(principal: Principal, id: string, signal?: AbortSignal): Promise<AsyncIterableIterator<TuningView>> {
      await load(principal, id)
      return deps.live.watch<TuningView>({
        sources: [source(topics.tuning(id), (event) => event.tuning)],
        current: { load: async () => view(await load(principal, id)), send: 'always' },
        isFinal: (tuning) => endedTuningStatuses.includes(tuning.status),
        signal,
      })
    },

    /** One page of the list, with the spec's `pagination`; entries leave out the trials (get one tuning for them). */
    async list(principal: Principal, filter: TuningFilter, page: PageRequest) {
      const { items, total } = await find(principal, filter, windowOf(page))
      return { items: items.map(({ trials: _trials, ...summary }) => summary), pagination: paginationOf(page.page, page.limit, total) }
    },

    find,

    /**
     * pending → cancelled at once; running → stopping, after which the
     * trainer stops the running trials and ends the tuning cancelled.
     */
    async stop(principal: Principal, id: string): Promise<TuningView> {
      requireScope(principal, 'write')
      for (let attempt = 0; attempt < 3; attempt++) {
        const tuning = await load(principal, id)
        const now = new Date()
        if (tuning.status === 'stopping') return view(tuning)
        if (tuning.status === 'pending') {
          const changed = await db.tuningJob.updateMany({
            where: { id, status: 'pending' },
            data: { status: 'cancelled', endReason: 'stopped by the user before any trial started', completedAt: now },
          })
          if (changed.count === 1) return publish(await load(principal, id))
        } else if (tuning.status === 'running') {
          const changed = await db.tuningJob.updateMany({ where: { id, status: 'running' }, data: { status: 'stopping', endReason: 'stopped by the user' } })
          if (changed.count === 1) {
            await bus.publish(topics.tuningWake, { tuningId: id })
            return publish(await load(principal, id))
          }
        } else {
          throw new ConflictError(`Tuning ${id} has already ended (${tuning.status}); there is nothing to stop`)
        }
        // The trainer moved the tuning on between our read and write: look again.
      }
      throw new ConflictError(`Tuning ${id} changed state while stopping; try again`)
    },
  }
}

export type TuningService = ReturnType<typeof createTuningService>
