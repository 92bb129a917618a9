// Training templates (spec §6): saved job configurations, private to their
// owner or public to every user, and jobs created from them.
import { z } from 'zod'
import type { Db, Prisma, Template } from '../infra/db.ts'
import { ForbiddenError, NotFoundError } from '../errors/index.ts'
import { newId } from '../domain/ids.ts'
import { createTemplateSchema, nameSchema, parseConfig, templateOverridesSchema } from '../domain/job-config.ts'
import { paginationOf, windowOf, type Page, type PageRequest, type SortOrder, type Window } from '../domain/pagination.ts'
import { parseInput } from '../domain/validation.ts'
import { templateView, type JobView, type TemplateView } from '../domain/views.ts'
import { requireScope, type Principal } from './auth.ts'
import type { JobService } from './jobs.ts'
import type { ResourceService } from './resources.ts'
import type { FieldProblem } from '../errors/index.ts'
import { toJson } from '../domain/json-columns.ts'

export const templateVisibilities = ['all', 'mine', 'public'] as const
export const templateSortFields = ['createdAt', 'updatedAt', 'name'] as const

/** Which templates a list shows (default: yours and public ones), and in what order (default: newest first). */
export interface TemplateFilter {
  visibility?: (typeof templateVisibilities)[number]
  sortBy?: (typeof templateSortFields)[number]
  sortOrder?: SortOrder
}

const createJobFromTemplateSchema = z.strictObject({
  name: nameSchema,
  datasetId: z.string().min(1, 'must not be empty'),
  overrides: templateOverridesSchema.optional(),
})

type Loose = Record<string, unknown>
const isObject = (value: unknown): value is Loose => typeof value === 'object' && value !== null && !Array.isArray(value)

/** Objects merge key by key, recursively; anything else in `override` replaces what `base` has. */
export function deepMerge(base: unknown, override: unknown): unknown {
  if (!isObject(base) || !isObject(override)) return override === undefined ? base : override
  const merged: Loose = { ...base }
  for (const [key, value] of Object.entries(override)) merged[key] = value === undefined ? base[key] : deepMerge(base[key], value)
  return merged
}

const includeOwner = { owner: { select: { name: true } } } as const

export function createTemplateService(deps: { db: Db; jobs: JobService; resources: ResourceService }) {
  const { db, jobs, resources } = deps

  const view = (template: Template & { owner: { name: string } }) => templateView(template, template.owner.name)

  /** A template the principal can see: their own, or a public one. */
  async function load(principal: Principal, id: string) {
    const template = await db.template.findFirst({
      where: { id, OR: [{ ownerId: principal.userId }, { isPublic: true }] },
      include: includeOwner,
    })
    if (!template) throw new NotFoundError('template', id)
    return template
  }

  /** The job request a template makes: its configuration, `overrides` deep-merged over it, with a name and dataset. */
  async function jobRequest(principal: Principal, templateId: string, body: { name: string; datasetId: string; overrides?: unknown }): Promise<Loose> {
    const template = view(await load(principal, templateId))
    const base = {
      description: template.description ?? undefined,
      model: template.model,
      dataset: template.dataset ?? {},
      hyperparameters: template.hyperparameters,
      resources: template.resources ?? undefined,
      output: template.output ?? undefined,
      options: template.options ?? undefined,
    }
    const merged = deepMerge(base, body.overrides ?? {}) as Loose
    const request = { ...merged, name: body.name, dataset: { ...(merged.dataset as Loose), id: body.datasetId } }
    for (const key of Object.keys(request)) if ((request as Loose)[key] === undefined) delete (request as Loose)[key]
    return request
  }

  return {
    async create(principal: Principal, input: unknown): Promise<TemplateView> {
      requireScope(principal, 'write')
      // Capacity is checked when a job is created from the template; an unknown name never works.
      const type = (input as { resources?: { instanceType?: unknown } } | null)?.resources?.instanceType
      const unknownType: FieldProblem[] =
        typeof type === 'string' && type !== '' && !resources.find(type)
          ? [
              {
                field: 'resources.instanceType',
                message: `unknown instance type ${JSON.stringify(type)}; known types: ${resources.instanceTypes.map((t) => t.name).join(', ')}`,
              },
            ]
          : []
      const config = parseConfig(createTemplateSchema, input, '', unknownType)
      const json = (value: object | undefined) => (value === undefined ? undefined : toJson(value))
      const template = await db.template.create({
        data: {
          id: newId('template'),
          ownerId: principal.userId,
          name: config.name,
          description: config.description ?? null,
          model: toJson(config.model),
          dataset: json(config.dataset),
          hyperparameters: json(config.hyperparameters),
          resources: json(config.resources),
          output: json(config.output),
          options: json(config.options),
          isPublic: config.isPublic ?? false,
        },
        include: includeOwner,
      })
      return view(template)
    },

    /** One page of the list, with the spec's `pagination`. */
    async list(principal: Principal, filter: TemplateFilter, page: PageRequest) {
      const { items, total } = await this.find(principal, filter, windowOf(page))
      return { items, pagination: paginationOf(page.page, page.limit, total) }
    },

    async find(principal: Principal, filter: TemplateFilter, window: Window): Promise<Page<TemplateView>> {
      const sortBy = filter.sortBy ?? 'createdAt'
      const sortOrder = filter.sortOrder ?? 'desc'
      const where: Prisma.TemplateWhereInput =
        filter.visibility === 'mine'
          ? { ownerId: principal.userId }
          : filter.visibility === 'public'
            ? { isPublic: true }
            : { OR: [{ ownerId: principal.userId }, { isPublic: true }] }
      const [rows, total] = await Promise.all([
        db.template.findMany({
          where,
          include: includeOwner,
          orderBy: [{ [sortBy]: sortOrder }, { id: sortOrder }],
          skip: window.offset,
          take: window.limit,
        }),
        db.template.count({ where }),
      ])
      return { items: rows.map(view), total }
    },

    async get(principal: Principal, id: string): Promise<TemplateView> {
      return view(await load(principal, id))
    },

    async delete(principal: Principal, id: string) {
      requireScope(principal, 'write')
      const template = await load(principal, id)
      if (template.ownerId !== principal.userId) {
        throw new ForbiddenError(`Template ${id} is public but belongs to ${template.owner.name}; only its owner can delete it`)
      }
      await db.template.delete({ where: { id } })
      return { templateId: id, deleted: true as const, deletedAt: new Date().toISOString() }
    },

    /** §6.2: the template's configuration, `overrides` deep-merged over it, with the given name and dataset. */
    async createJob(principal: Principal, templateId: string, input: unknown): Promise<JobView> {
      requireScope(principal, 'write')
      const body = parseInput(createJobFromTemplateSchema, input)
      return jobs.create(principal, await jobRequest(principal, templateId, body), { templateId })
    },

    /** As `createJob`, with the job's warnings (REST's `data.warnings`). */
    async createJobWithWarnings(principal: Principal, templateId: string, input: unknown) {
      requireScope(principal, 'write')
      const body = parseInput(createJobFromTemplateSchema, input)
      return jobs.createWithWarnings(principal, await jobRequest(principal, templateId, body), { templateId })
    },

    jobRequest,
  }
}

export type TemplateService = ReturnType<typeof createTemplateService>
