// Datasets (spec §2): upload, list, get (with a preview), delete.
import { z } from 'zod'
import type { Db, Prisma } from '../infra/db.ts'
import type { StagedFile, Storage } from '../infra/storage.ts'
import { ConflictError, InvalidInputError, NotFoundError, type FieldProblem } from '../errors/index.ts'
import { newId } from '../domain/ids.ts'
import { paginationOf, windowOf, type Page, type PageRequest, type SortOrder, type Window } from '../domain/pagination.ts'
import { isOneOf, oneOfMessage, problemsOf } from '../domain/validation.ts'
import { activeStatuses, datasetView, type DatasetView } from '../domain/views.ts'
import { requireScope, type Principal } from './auth.ts'
import { analyzeFile, checkDeclaredSchema, defaultUploadLimits, type DatasetFormat, type UploadLimits } from '../ingest/index.ts'
import { datasetPreviewOf, toJson } from '../domain/json-columns.ts'

export const datasetTypes = ['text', 'image', 'audio', 'multimodal', 'tabular'] as const
export const datasetFormats = ['csv', 'json', 'parquet'] as const
const columnTypes = ['string', 'integer', 'float', 'boolean'] as const

const declaredSchema = z.strictObject({
  columns: z
    .array(
      z.object({
        name: z.string().min(1, 'must not be empty'),
        type: z.enum(columnTypes, `must be one of ${columnTypes.join(', ')}`),
        description: z.string().max(2000).optional(),
      }),
      'must be an array of { name, type }',
    )
    .min(1, 'must list at least one column'),
})

const tagSchema = z.string().trim().min(1, 'must not be empty').max(64, 'must be at most 64 characters')

/** The non-file fields of a dataset upload, already decoded from their JSON text where the form carries JSON. */
export const datasetFieldsSchema = z.strictObject({
  name: z.string().trim().min(1, 'must not be empty').max(128, 'must be at most 128 characters'),
  description: z.string().max(2000, 'must be at most 2000 characters').optional(),
  type: z.enum(datasetTypes, `must be one of ${datasetTypes.join(', ')}`),
  format: z.enum(datasetFormats, `must be one of ${datasetFormats.join(', ')}`),
  schema: declaredSchema.optional(),
  metadata: z.record(z.string(), z.unknown(), 'must be a JSON object').optional(),
  tags: z.array(tagSchema, 'must be an array of strings').max(32, 'must have at most 32 tags').optional(),
})
export type DatasetFields = z.output<typeof datasetFieldsSchema>

/** Raw multipart text fields: JSON-valued ones (schema, metadata, tags) arrive as JSON text. */
export function decodeFormFields(raw: Record<string, string>): { fields: Record<string, unknown>; problems: FieldProblem[] } {
  const fields: Record<string, unknown> = { ...raw }
  const problems: FieldProblem[] = []
  for (const key of ['schema', 'metadata', 'tags'] as const) {
    const text = raw[key]
    if (text === undefined) continue
    if (text.trim() === '') {
      delete fields[key]
      continue
    }
    if (key === 'tags' && !text.trim().startsWith('[')) {
      // Also accept the friendlier "a,b,c".
      fields.tags = text
        .split(',')
        .map((tag) => tag.trim())
        .filter(Boolean)
      continue
    }
    try {
      fields[key] = JSON.parse(text)
    } catch {
      problems.push({ field: key, message: 'must be valid JSON' })
      delete fields[key]
    }
  }
  if (raw.description === '') delete fields.description
  return { fields, problems }
}

export const datasetSortFields = ['name', 'createdAt', 'size'] as const

/** Which datasets a list shows, and in what order (default: newest first). */
export interface DatasetFilter {
  /** One of `datasetTypes` (checked here: GraphQL passes any string). */
  type?: string
  /** Every tag must match; blank entries are ignored. */
  tags?: readonly string[]
  sortBy?: (typeof datasetSortFields)[number]
  sortOrder?: SortOrder
}

/** `uploadLimits` (UPLOAD_MAX_*) bound what one uploaded file may hold; the defaults where not given. */
export function createDatasetService(deps: { db: Db; storage: Storage; uploadLimits?: UploadLimits }) {
  const { db, storage } = deps
  const uploadLimits = deps.uploadLimits ?? defaultUploadLimits

  async function load(principal: Principal, id: string) {
    const dataset = await db.dataset.findFirst({ where: { id, ownerId: principal.userId }, include: { tags: true } })
    if (!dataset) throw new NotFoundError('dataset', id)
    return dataset
  }

  return {
    /**
     * Creates a dataset from decoded fields and a staged file. The staged
     * file is moved into place on success and removed on any failure, so a
     * rejected upload leaves neither a file nor a row.
     */
    async create(
      principal: Principal,
      input: { fields: Record<string, unknown>; problems?: FieldProblem[]; file: StagedFile | undefined },
    ): Promise<DatasetView> {
      try {
        requireScope(principal, 'write')
        const parsed = datasetFieldsSchema.safeParse(input.fields)
        const problems = [...(input.problems ?? []), ...(parsed.success ? [] : problemsOf(parsed.error.issues))]
        if (!input.file) problems.push({ field: 'file', message: 'is required: send the dataset as a multipart file field named "file"' })
        else if (input.file.size === 0) problems.push({ field: 'file', message: 'is empty' })
        if (problems.length > 0 || !parsed.success || !input.file) throw InvalidInputError.fromProblems(problems)
        const fields = parsed.data
        const file = input.file

        // over a limit: 400 E1108 naming it; the staged file goes in `finally`
        const analysis = await analyzeFile(file.path, fields.format as DatasetFormat, uploadLimits)
        if (fields.schema) {
          const mismatches = checkDeclaredSchema(fields.schema, analysis)
          if (mismatches.length > 0) throw InvalidInputError.fromProblems(mismatches)
        }
        const columns = fields.schema ? fields.schema.columns.map((declared) => ({ ...declared })) : analysis.columns.map(({ name, type }) => ({ name, type }))

        const id = newId('dataset')
        const relativePath = `datasets/${id}/${file.fileName}`
        await storage.commit(file, relativePath)
        const tags = [...new Set(fields.tags ?? [])]
        try {
          const row = await db.dataset.create({
            data: {
              id,
              ownerId: principal.userId,
              name: fields.name,
              description: fields.description ?? null,
              type: fields.type,
              format: fields.format,
              size: BigInt(file.size),
              rowCount: analysis.rowCount,
              columnCount: analysis.columns.length,
              schema: toJson({ columns }),
              metadata: fields.metadata ? toJson(fields.metadata) : undefined,
              preview: toJson(analysis.preview),
              fileName: file.fileName,
              filePath: relativePath,
              checksum: file.checksum,
              tags: { create: tags.map((tag, position) => ({ tag, position })) },
            },
            include: { tags: true },
          })
          return datasetView(row)
        } catch (error) {
          await storage.remove(`datasets/${id}`)
          throw error
        }
      } finally {
        // A no-op once committed (the staged path no longer exists).
        await storage.discard(input.file)
      }
    },

    /** One page of the list, with the spec's `pagination`. */
    async list(principal: Principal, filter: DatasetFilter, page: PageRequest) {
      const { items, total } = await this.find(principal, filter, windowOf(page))
      return { items, pagination: paginationOf(page.page, page.limit, total) }
    },

    async find(principal: Principal, filter: DatasetFilter, window: Window): Promise<Page<DatasetView>> {
      if (filter.type !== undefined && !isOneOf(datasetTypes, filter.type)) {
        throw InvalidInputError.fromProblems([{ field: 'type', message: oneOfMessage(datasetTypes) }])
      }
      const tags = (filter.tags ?? []).map((tag) => tag.trim()).filter(Boolean)
      const sortBy = filter.sortBy ?? 'createdAt'
      const sortOrder = filter.sortOrder ?? 'desc'
      const where: Prisma.DatasetWhereInput = {
        ownerId: principal.userId,
        ...(filter.type ? { type: filter.type } : {}),
        ...(tags.length > 0 ? { AND: tags.map((tag) => ({ tags: { some: { tag } } })) } : {}),
      }
      const [rows, total] = await Promise.all([
        db.dataset.findMany({
          where,
          include: { tags: true },
          orderBy: [{ [sortBy]: sortOrder }, { id: sortOrder }],
          skip: window.offset,
          take: window.limit,
        }),
        db.dataset.count({ where }),
      ])
      return { items: rows.map(datasetView), total }
    },

    async get(principal: Principal, id: string): Promise<DatasetView & { preview: Record<string, unknown>[] }> {
      const dataset = await load(principal, id)
      return { ...datasetView(dataset), preview: datasetPreviewOf(dataset) }
    },

    async delete(principal: Principal, id: string) {
      requireScope(principal, 'write')
      const dataset = await load(principal, id)
      const users = await db.job.findMany({
        where: { datasetId: id, status: { in: activeStatuses }, deletedAt: null },
        select: { id: true, status: true },
        take: 5,
      })
      if (users.length > 0) {
        throw new ConflictError(`Dataset ${id} is used by ${users.map((job) => `${job.id} (${job.status})`).join(', ')}; stop or delete those jobs first`)
      }
      await db.dataset.delete({ where: { id: dataset.id } })
      await storage.remove(`datasets/${dataset.id}`)
      return { datasetId: id, deleted: true as const, deletedAt: new Date().toISOString() }
    },
  }
}

export type DatasetService = ReturnType<typeof createDatasetService>
