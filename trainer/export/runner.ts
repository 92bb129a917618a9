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

/** What the functions below share: the runner's options, resolved, and the signal that aborts when it stops. */
interface RunnerContext {
  db: Db
  bus: EventBus
  logger: Logger
  workerId: string
  storageRoot: string
  backend: string | null
  staleMs: number
  timeoutMs: number
  closed: AbortSignal
}

async function publish(ctx: RunnerContext, id: string) {
  const row = await ctx.db.export.findUnique({ where: { id } })
  if (row) await publishExportUpdated(ctx.bus, row.ownerId, exportView(row))
}

/** The next export nobody is producing (or whose producer died), now held by this runner. */
async function claim(ctx: RunnerContext): Promise<Export | null> {
  const { db, workerId } = ctx
  const candidates = await db.export.findMany({ where: { status: 'processing' }, orderBy: { createdAt: 'asc' }, take: 20 })
  const now = Date.now()
  for (const candidate of candidates) {
    const free = candidate.workerId === null || !candidate.heartbeatAt || now - candidate.heartbeatAt.getTime() > ctx.staleMs || processGone(candidate.workerId)
    if (!free || candidate.workerId === workerId) continue
    const claimed = await db.export.updateMany({
      where: { id: candidate.id, status: 'processing', workerId: candidate.workerId },
      data: { workerId, heartbeatAt: new Date(), startedAt: new Date() },
    })
    if (claimed.count === 1) return { ...candidate, workerId }
  }
  return null
}

/** Runs the export process for `spec`; it is killed when the runner stops or the time limit passes. */
function produce(ctx: RunnerContext, spec: ExportSpec): Promise<ExportResult> {
  // Stopping: the export is not started, and run() queues it again for the next trainer.
  if (ctx.closed.aborted) return Promise.resolve({ ok: false, message: 'the trainer is stopping' })
  return new Promise((resolve) => {
    const child = fork(childEntry, [], { execArgv: ['--import', 'tsx'], serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
    const kill = () => child.kill('SIGKILL')
    ctx.closed.addEventListener('abort', kill, { once: true })
    let stderr = ''
    let result: ExportResult | undefined
    const deadline = setTimeout(() => {
      result ??= { ok: false, message: `the export took longer than ${ctx.timeoutMs / 1000} s` }
      child.kill('SIGKILL')
    }, ctx.timeoutMs)
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000)
    })
    child.on('message', (message: ExportResult) => {
      result ??= message
    })
    child.on('exit', (code, signal) => {
      clearTimeout(deadline)
      ctx.closed.removeEventListener('abort', kill)
      const lastLine = stderr.trim().split('\n').at(-1)
      resolve(result ?? { ok: false, message: `the export process ended (${signal ?? `exit code ${code}`})${lastLine ? `: ${lastLine}` : ''}` })
    })
    child.send(spec)
  })
}

/** Produces one claimed export, with a heartbeat while it runs. */
async function produceClaimed(ctx: RunnerContext, row: Export, outFile: string): Promise<{ result: ExportResult; jobName: string | null }> {
  const { db, workerId } = ctx
  const job = await db.job.findUnique({ where: { id: row.jobId }, select: { name: true, task: true } })
  const checkpoint = row.checkpointId ? await db.checkpoint.findUnique({ where: { id: row.checkpointId } }) : null
  if (!job || !checkpoint) {
    return {
      result: { ok: false, message: !job ? `job ${row.jobId} no longer exists` : `checkpoint ${row.checkpointId} no longer exists` },
      jobName: job?.name ?? null,
    }
  }
  const format = row.format as ExportFormat
  const options = exportRowOptionsOf(row)
  const heartbeat = setInterval(() => {
    void db.export.updateMany({ where: { id: row.id, workerId }, data: { heartbeatAt: new Date() } }).catch(() => undefined)
  }, 2000)
  try {
    await mkdir(path.dirname(outFile), { recursive: true })
    ctx.logger.info({ exportId: row.id, jobId: row.jobId, format, options }, 'export started')
    const result = await produce(ctx, {
      format,
      options,
      checkpointDir: path.join(ctx.storageRoot, checkpoint.path),
      outFile,
      backend: ctx.backend,
      task: job.task,
      metadata: { jobId: row.jobId, exportId: row.id, checkpointId: checkpoint.id, jobName: job.name, exportedAt: new Date().toISOString() },
    })
    return { result, jobName: job.name }
  } finally {
    clearInterval(heartbeat)
  }
}

/** Produces an export and records the file, its sizes and checksum, or why it failed (E1105). */
async function run(ctx: RunnerContext, row: Export) {
  const format = row.format as ExportFormat
  const relative = `exports/${row.jobId}/${row.id}.${fileExtensions[format]}`
  const outFile = path.join(ctx.storageRoot, relative)
  const { result, jobName } = await produceClaimed(ctx, row, outFile)
  // Shutting down, not failing: leave it for the next trainer.
  if (ctx.closed.aborted && !result.ok) return letGo(ctx, row.id)
  const data: Prisma.ExportUpdateManyMutationInput = result.ok
    ? {
        status: 'completed',
        filePath: relative,
        fileName: downloadName(jobName ?? 'model', format, exportRowOptionsOf(row)),
        sizeBytes: BigInt(result.sizeBytes),
        sizeBeforeBytes: BigInt(result.sizeBeforeBytes),
        checksum: result.checksum,
        metadata: toJson(result.metadata),
        completedAt: new Date(),
        workerId: null,
      }
    : {
        status: 'failed',
        errorCode: ErrorCodes.exportFailed,
        errorMessage: withinDataDir(result.message, ctx.storageRoot),
        completedAt: new Date(),
        workerId: null,
      }
  const written = await ctx.db.export.updateMany({ where: { id: row.id, status: 'processing', workerId: ctx.workerId }, data })
  if (written.count === 0) {
    // The export (or its job) was deleted meanwhile: leave no file behind.
    await rm(outFile, { force: true })
    return
  }
  if (!result.ok) ctx.logger.warn({ exportId: row.id, reason: result.message }, 'export failed')
  else ctx.logger.info({ exportId: row.id, sizeBytes: result.sizeBytes }, 'export completed')
  await publish(ctx, row.id)
}

/** Leaves an export this runner holds to the next trainer, which takes it at once. */
async function letGo(ctx: RunnerContext, id: string) {
  await ctx.db.export.updateMany({ where: { id, workerId: ctx.workerId }, data: { workerId: null } })
}

async function pass(ctx: RunnerContext) {
  for (let row = await claim(ctx); row; row = await claim(ctx)) {
    // Claimed while stopping: not run here.
    if (ctx.closed.aborted) return letGo(ctx, row.id)
    await run(ctx, row)
  }
}

export function createExportRunner(options: ExportRunnerOptions) {
  const closed = new AbortController()
  const ctx: RunnerContext = {
    db: options.db,
    bus: options.bus,
    logger: options.logger,
    workerId: options.workerId,
    storageRoot: options.storage.root,
    backend: options.backend,
    staleMs: (options.staleSeconds ?? 30) * 1000,
    timeoutMs: (options.timeoutSeconds ?? 600) * 1000,
    closed: closed.signal,
  }
  const wake$ = new Subject<void>()
  let passes: PassLoop | undefined
  let stopping: Promise<void> | undefined
  return {
    async start() {
      await listen(options.bus, topics.exportWake, closed.signal, options.logger, () => wake$.next())
      if (!closed.signal.aborted)
        passes = startPasses({ pollMs: (options.pollSeconds ?? 2) * 1000, wake$, pass: () => pass(ctx), logger: options.logger, what: 'export' })
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

/** A failure message as users read it: paths inside the data directory relative to it, no machine path in the answer. */
function withinDataDir(message: string, root: string): string {
  const prefix = `${path.resolve(root)}${path.sep}`
  return message.split(prefix).join('')
}
