// Model exports (spec §5) and prediction. An export is queued here and
// produced by the trainer's export runner (trainer/export/runner.ts) from the
// job's best checkpoint; prediction runs the same checkpoint in this process
// through the trainer's public serving entry (trainer/serving.ts).
import path from 'node:path'
import { z } from 'zod'
import type { Checkpoint, Db, Job } from '../infra/db.ts'
import type { EventBus } from '../infra/event-bus.ts'
import type { ReadStore } from '../infra/read-store.ts'
import type { Storage } from '../infra/storage.ts'
import { ConflictError, InvalidInputError, NotFoundError } from '../errors/index.ts'
import { contentTypes, createExportSchema, exportOptionsOf, exportView, type ExportFormat, type ExportView } from '../domain/exports.ts'
import { newId } from '../domain/ids.ts'
import { paginationOf, windowOf, type PageRequest } from '../domain/pagination.ts'
import { parseInput } from '../domain/validation.ts'
import { activeStatuses, type JobStatus } from '../domain/views.ts'
import { publishExportUpdated, topics } from '../events/index.ts'
import { source, type LiveViews } from './live.ts'
import type { ModelRef, Predictor, PredictResult } from '../../trainer/serving.ts'
import { isAdmin, requireScope, type Principal } from './auth.ts'
import { toJson } from '../domain/json-columns.ts'

const predictSchema = z.strictObject({ inputs: z.unknown() })

/** Seconds an export is expected to take before any has been measured (start of the export process included). */
const exportTimePrior = 5

/** Models of ended jobs remembered for prediction (their checkpoints no longer change). */
const maxRememberedModels = 1000

export function createExportService(deps: { db: Db; reads: ReadStore; bus: EventBus; live: LiveViews; storage: Storage; predictor: Predictor }) {
  const { db, bus, predictor } = deps
  const endedModels = new Map<string, ModelRef>()

  /** A job the principal may see (as the job endpoints do), read through the prepared-statement read store. */
  async function loadJob(principal: Principal, jobId: string): Promise<Job> {
    const job = await deps.reads.jobById(jobId, isAdmin(principal) ? undefined : principal.userId)
    if (!job) throw new NotFoundError('job', jobId)
    return job
  }

  /** The checkpoint a job's model is served and exported from: its best, else its last. */
  async function trainedCheckpoint(job: Job): Promise<Checkpoint | null> {
    return (
      (await db.checkpoint.findFirst({ where: { jobId: job.id, isBest: true }, orderBy: { step: 'desc' } })) ??
      (await db.checkpoint.findFirst({ where: { jobId: job.id }, orderBy: { step: 'desc' } }))
    )
  }

  /** The model of a job that has one, or why it has none (E1108). */
  async function modelOf(job: Job, purpose: string): Promise<ModelRef> {
    const remembered = endedModels.get(job.id)
    if (remembered) return remembered
    const checkpoint = await trainedCheckpoint(job)
    if (!checkpoint) {
      const why = activeStatuses.includes(job.status as JobStatus) ? `is ${job.status} and has no checkpoint yet` : `ended ${job.status} without a checkpoint`
      throw new InvalidInputError(`Job ${job.id} has no trained model to ${purpose}: it ${why}`)
    }
    const ref: ModelRef = { jobId: job.id, task: job.task as ModelRef['task'], checkpointPath: checkpoint.path, checkpointId: checkpoint.id }
    if (!activeStatuses.includes(job.status as JobStatus)) {
      if (endedModels.size >= maxRememberedModels) endedModels.delete(endedModels.keys().next().value as string)
      endedModels.set(job.id, ref)
    }
    return ref
  }

  /** Seconds: the median of the last exports of this format, else the prior. */
  async function estimatedSeconds(format: ExportFormat): Promise<number> {
    const recent = await db.export.findMany({
      where: { format, status: 'completed', startedAt: { not: null }, completedAt: { not: null } },
      select: { startedAt: true, completedAt: true },
      orderBy: { completedAt: 'desc' },
      take: 20,
    })
    if (recent.length === 0) return exportTimePrior
    const seconds = recent.map((row) => ((row.completedAt as Date).getTime() - (row.startedAt as Date).getTime()) / 1000).sort((a, b) => a - b)
    return Math.max(1, Math.ceil(seconds[Math.floor(seconds.length / 2)]))
  }

  async function loadExport(principal: Principal, jobId: string, exportId: string) {
    await loadJob(principal, jobId)
    const row = await db.export.findFirst({ where: { id: exportId, jobId } })
    if (!row) throw new NotFoundError('export', exportId)
    return row
  }

  return {
    /** §5.1: queues an export of the job's best checkpoint; answers at once with `processing` and an estimate. */
    async create(principal: Principal, jobId: string, input: unknown): Promise<ExportView> {
      requireScope(principal, 'write')
      const job = await loadJob(principal, jobId)
      const body = parseInput(createExportSchema, input)
      if (activeStatuses.includes(job.status as JobStatus)) {
        throw new ConflictError(`Job ${jobId} is ${job.status}; export it once it has ended (stop it to export what it has learned so far)`)
      }
      const model = await modelOf(job, 'export')
      const problem = await predictor.exportProblem(model, body.format)
      if (problem) throw InvalidInputError.fromProblems([{ field: 'format', message: problem }])
      const row = await db.export.create({
        data: {
          id: newId('export'),
          jobId,
          ownerId: job.ownerId,
          format: body.format,
          options: toJson(exportOptionsOf(body)),
          status: 'processing',
          estimatedTime: await estimatedSeconds(body.format),
          checkpointId: model.checkpointId,
        },
      })
      const view = exportView(row)
      await bus.publish(topics.exportWake, { exportId: row.id })
      await publishExportUpdated(bus, row.ownerId, view)
      return view
    },

    async get(principal: Principal, jobId: string, exportId: string): Promise<ExportView> {
      return exportView(await loadExport(principal, jobId, exportId))
    },

    /** The export's current state, then each change (E1101, E1109 when not the principal's); ends once it completed or failed. */
    async watch(principal: Principal, jobId: string, exportId: string, signal?: AbortSignal): Promise<AsyncIterableIterator<ExportView>> {
      await loadExport(principal, jobId, exportId)
      return deps.live.watch<ExportView>({
        sources: [source(topics.export(exportId), (event) => event.export)],
        current: { load: async () => exportView(await loadExport(principal, jobId, exportId)), send: 'always' },
        isFinal: (view) => view.status !== 'processing',
        signal,
      })
    },

    /** One page of a job's exports, newest first, with the spec's `pagination`. */
    async list(principal: Principal, jobId: string, page: PageRequest) {
      await loadJob(principal, jobId)
      const { offset, limit } = windowOf(page)
      const [rows, total] = await Promise.all([
        db.export.findMany({ where: { jobId }, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], skip: offset, take: limit }),
        db.export.count({ where: { jobId } }),
      ])
      return { items: rows.map(exportView), pagination: paginationOf(page.page, page.limit, total) }
    },

    /** Every export of a job (GraphQL Job.exports). */
    async ofJob(principal: Principal, jobId: string): Promise<ExportView[]> {
      await loadJob(principal, jobId)
      return (await db.export.findMany({ where: { jobId }, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] })).map(exportView)
    },

    /** §5.2: the file of a completed export; 409 E1110 while it is processing or after it failed. */
    async file(principal: Principal, jobId: string, exportId: string) {
      const row = await loadExport(principal, jobId, exportId)
      if (row.status === 'processing') throw new ConflictError(`Export ${exportId} is still processing; download it once its status is completed`)
      if (row.status !== 'completed' || !row.filePath)
        throw new ConflictError(`Export ${exportId} failed and has no file: ${row.errorMessage ?? 'no reason recorded'}`)
      return {
        root: deps.storage.root,
        relativePath: row.filePath,
        absolutePath: path.join(deps.storage.root, row.filePath),
        fileName: row.fileName ?? path.basename(row.filePath),
        contentType: contentTypes[row.format as ExportFormat],
        checksum: row.checksum,
      }
    },

    /** Labels with probabilities (or values) for raw inputs, from the job's best checkpoint. */
    async predict(principal: Principal, jobId: string, input: unknown): Promise<PredictResult> {
      requireScope(principal, 'read')
      const job = await loadJob(principal, jobId)
      const body = parseInput(predictSchema, input)
      if (body.inputs === undefined)
        throw InvalidInputError.fromProblems([{ field: 'inputs', message: 'is required: an array of raw inputs (texts, feature rows or pixel rows)' }])
      return predictor.predict(await modelOf(job, 'predict with'), body.inputs)
    },

    /** Forgets a deleted job's loaded model. */
    forget(jobId: string) {
      endedModels.delete(jobId)
      predictor.forget(jobId)
    },
  }
}

export type ExportService = ReturnType<typeof createExportService>
