// The export runner: takes exports the API queued (status `processing`) and
// produces each in its own process (trainer/export/child.ts), one at a time,
// then records the file, its sizes and checksum, or why it failed (E1105).
// An export whose trainer died is taken over like a job.
import { fork } from 'node:child_process'
import { mkdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Subject } from 'rxjs'
import type { Logger } from 'pino'
import type { Db, Export, Prisma } from '../../src/infra/db.ts'
import type { EventBus } from '../../src/infra/event-bus.ts'
import type { Storage } from '../../src/infra/storage.ts'
import { exportView, fileExtensions, type ExportFormat, type ExportOptions } from '../../src/domain/exports.ts'
import { exportRowOptionsOf, toJson } from '../../src/domain/json-columns.ts'
import { ErrorCodes } from '../../src/errors/index.ts'
import { publishExportUpdated, topics } from '../../src/events/index.ts'
import { processGone } from '../liveness.ts'
import { listen, startPasses, type PassLoop } from '../passes.ts'
import type { ExportResult, ExportSpec } from './child.ts'

const childEntry = fileURLToPath(new URL('./child.ts', import.meta.url))

export interface ExportRunnerOptions {
  db: Db
  bus: EventBus
  storage: Storage
  logger: Logger
  workerId: string
  backend: string | null
  pollSeconds?: number
  staleSeconds?: number
  /** An export still running after this long fails. */
  timeoutSeconds?: number
}

/** A file name for downloads: the job's name, the format and the weight type, in safe characters. */
export function downloadName(jobName: string, format: ExportFormat, options: ExportOptions): string {
  const base =
    jobName
      .normalize('NFKD')
      .replace(/[^\w.-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 80) || 'model'
  return `${base}-${format}${options.quantization ? `-${options.quantization}` : ''}.${fileExtensions[format]}`
}

export function createExportRunner(options: ExportRunnerOptions) {
  const { db, bus, logger, workerId } = options
  const pollMs = (options.pollSeconds ?? 2) * 1000
  const staleMs = (options.staleSeconds ?? 30) * 1000
  const timeoutMs = (options.timeoutSeconds ?? 600) * 1000
  const wake$ = new Subject<void>()
  const closed = new AbortController()
  let passes: PassLoop | undefined
  let stopping: Promise<void> | undefined

  async function publish(id: string) {
    const row = await db.export.findUnique({ where: { id } })
    if (row) await publishExportUpdated(bus, row.ownerId, exportView(row))
  }

  /** The next export nobody is producing (or whose producer died), now held by this runner. */
  async function claim(): Promise<Export | null> {
    const candidates = await db.export.findMany({ where: { status: 'processing' }, orderBy: { createdAt: 'asc' }, take: 20 })
    const now = Date.now()
    for (const candidate of candidates) {
      const free = candidate.workerId === null || !candidate.heartbeatAt || now - candidate.heartbeatAt.getTime() > staleMs || processGone(candidate.workerId)
      if (!free || candidate.workerId === workerId) continue
      const claimed = await db.export.updateMany({
        where: { id: candidate.id, status: 'processing', workerId: candidate.workerId },
        data: { workerId, heartbeatAt: new Date(), startedAt: new Date() },
      })
      if (claimed.count === 1) return { ...candidate, workerId }
    }
    return null
  }

  function produce(spec: ExportSpec): Promise<ExportResult> {
    // Stopping: the export is not started, and run() queues it again for the next trainer.
    if (closed.signal.aborted) return Promise.resolve({ ok: false, message: 'the trainer is stopping' })
    return new Promise((resolve) => {
      const child = fork(childEntry, [], { execArgv: ['--import', 'tsx'], serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
      const kill = () => child.kill('SIGKILL')
      closed.signal.addEventListener('abort', kill, { once: true })
      let stderr = ''
      let result: ExportResult | undefined
      const deadline = setTimeout(() => {
        result ??= { ok: false, message: `the export took longer than ${timeoutMs / 1000} s` }
        child.kill('SIGKILL')
      }, timeoutMs)
      child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)))
      child.on('message', (message: ExportResult) => (result ??= message))
      child.on('exit', (code, signal) => {
        clearTimeout(deadline)
        closed.signal.removeEventListener('abort', kill)
        const lastLine = stderr.trim().split('\n').at(-1)
        resolve(result ?? { ok: false, message: `the export process ended (${signal ?? `exit code ${code}`})${lastLine ? `: ${lastLine}` : ''}` })
      })
      child.send(spec)
    })
  }

  async function run(row: Export) {
    const job = await db.job.findUnique({ where: { id: row.jobId }, select: { name: true, task: true } })
    const checkpoint = row.checkpointId ? await db.checkpoint.findUnique({ where: { id: row.checkpointId } }) : null
    const format = row.format as ExportFormat
    const exportOptions = exportRowOptionsOf(row)
    const relative = `exports/${row.jobId}/${row.id}.${fileExtensions[format]}`
    const outFile = path.join(options.storage.root, relative)
    const heartbeat = setInterval(() => {
      void db.export.updateMany({ where: { id: row.id, workerId }, data: { heartbeatAt: new Date() } }).catch(() => undefined)
    }, 2000)
    let result: ExportResult
    try {
      if (!job || !checkpoint) {
        result = { ok: false, message: !job ? `job ${row.jobId} no longer exists` : `checkpoint ${row.checkpointId} no longer exists` }
      } else {
        await mkdir(path.dirname(outFile), { recursive: true })
        logger.info({ exportId: row.id, jobId: row.jobId, format, options: exportOptions }, 'export started')
        result = await produce({
          format,
          options: exportOptions,
          checkpointDir: path.join(options.storage.root, checkpoint.path),
          outFile,
          backend: options.backend,
          task: job.task,
          metadata: { jobId: row.jobId, exportId: row.id, checkpointId: checkpoint.id, jobName: job.name, exportedAt: new Date().toISOString() },
        })
      }
    } finally {
      clearInterval(heartbeat)
    }
    // Shutting down, not failing: leave it for the next trainer.
    if (closed.signal.aborted && !result.ok) return letGo(row.id)
    const data: Prisma.ExportUpdateManyMutationInput = result.ok
      ? {
          status: 'completed',
          filePath: relative,
          fileName: downloadName(job?.name ?? 'model', format, exportOptions),
          sizeBytes: BigInt(result.sizeBytes),
          sizeBeforeBytes: BigInt(result.sizeBeforeBytes),
          checksum: result.checksum,
          metadata: toJson(result.metadata),
          completedAt: new Date(),
          workerId: null,
        }
      : { status: 'failed', errorCode: ErrorCodes.exportFailed, errorMessage: result.message, completedAt: new Date(), workerId: null }
    const written = await db.export.updateMany({ where: { id: row.id, status: 'processing', workerId }, data })
    if (written.count === 0) {
      // The export (or its job) was deleted meanwhile: leave no file behind.
      await rm(outFile, { force: true })
      return
    }
    if (!result.ok) logger.warn({ exportId: row.id, reason: result.message }, 'export failed')
    else logger.info({ exportId: row.id, sizeBytes: result.sizeBytes }, 'export completed')
    await publish(row.id)
  }

  /** Leaves an export this runner holds to the next trainer, which takes it at once. */
  async function letGo(id: string) {
    await db.export.updateMany({ where: { id, workerId }, data: { workerId: null } })
  }

  async function pass() {
    for (let row = await claim(); row; row = await claim()) {
      // Claimed while stopping: not run here.
      if (closed.signal.aborted) return letGo(row.id)
      await run(row)
    }
  }

  return {
    async start() {
      await listen<unknown>(bus, topics.exportWake, closed.signal, logger, () => wake$.next())
      if (!closed.signal.aborted) passes = startPasses({ pollMs, wake$, pass, logger, what: 'export' })
    },

    /** Stops the export in progress (it is queued again for the next trainer) and resolves when its pass has ended. Idempotent. */
    stop(): Promise<void> {
      stopping ??= (async () => {
        closed.abort() // kills the export process in flight (see produce)
        await passes?.stop()
      })()
      return stopping
    },
  }
}
