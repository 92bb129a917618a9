// Runs one claimed job in its own child process and records what happens:
// progress and resources on the job row (about once a second, also the
// heartbeat that tells other trainers this one is alive), logs and metrics
// through the recorder, checkpoints and the evaluation as rows, and the end
// state: completed, cancelled, failed (E1104), or queued again for a retry.
import { fork, type ChildProcess } from 'node:child_process'
import { execFile } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Logger } from 'pino'
import type { Db, Job, Prisma } from '../src/infra/db.ts'
import type { EventBus } from '../src/infra/event-bus.ts'
import type { HistoryWriter } from '../src/infra/history-writer.ts'
import type { Storage } from '../src/infra/storage.ts'
import type { InstanceType } from '../src/domain/instance-types.ts'
import type { JobConfig } from '../src/domain/job-config.ts'
import { findBaseModel } from '../src/domain/catalog.ts'
import { newId } from '../src/domain/ids.ts'
import { jobView } from '../src/domain/views.ts'
import { publishJobUpdated } from '../src/events/index.ts'
import { queueRequestedExport } from './export/requested.ts'
import { createRecorder } from './recorder.ts'
import type { ChildMessage, ParentMessage, TrainingSpec } from './worker/protocol.ts'
import type { CheckpointInfo, EvaluationResult, Metrics } from './ml/types.ts'

const childEntry = fileURLToPath(new URL('./worker/child.ts', import.meta.url))

/** How long a stopping child may take to checkpoint and leave before it is killed. */
const stopGraceMs = 30_000
const heartbeatMs = 1000

export interface RunnerContext {
  db: Db
  /** Metric points and log lines go through this, in batches. */
  history: HistoryWriter
  bus: EventBus
  storage: Storage
  logger: Logger
  workerId: string
  instanceTypes: readonly InstanceType[]
  /** TRAINER_BACKEND: force a TensorFlow.js backend; null picks the fastest present. */
  backend: string | null
}

export type StopReason = 'stop' | 'timeout' | 'shutdown'

export interface RunningJob {
  jobId: string
  /** Asks the job to stop at its next step (it checkpoints first). */
  stop(reason: StopReason): void
  /** Settles when the job has ended and everything is recorded. */
  done: Promise<void>
}

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits

async function gpuUtilization(): Promise<number | null> {
  return new Promise((resolve) => {
    execFile('nvidia-smi', ['--query-gpu=utilization.gpu', '--format=csv,noheader,nounits'], { timeout: 2000 }, (error, stdout) => {
      const value = error ? NaN : Number(stdout.split('\n')[0])
      resolve(Number.isFinite(value) ? value : null)
    })
  })
}

/** The checkpoint a job continues from after a retry or a crash: its latest one. */
async function latestCheckpoint(db: Db, jobId: string) {
  return db.checkpoint.findFirst({ where: { jobId }, orderBy: [{ step: 'desc' }, { createdAt: 'desc' }] })
}

/** Where model.baseModel points when it is the id of a completed job of the same user: that job's best checkpoint. */
async function fineTuneSource(db: Db, job: Job) {
  if (findBaseModel(job.baseModel)) return { kind: 'builtin' as const }
  const source = await db.job.findFirst({ where: { id: job.baseModel, ownerId: job.ownerId, status: 'completed' } })
  if (!source) return { kind: 'unavailable' as const }
  const best =
    (await db.checkpoint.findFirst({ where: { jobId: source.id, isBest: true }, orderBy: { step: 'desc' } })) ?? (await latestCheckpoint(db, source.id))
  return best ? { kind: 'job' as const, checkpoint: best } : { kind: 'unavailable' as const }
}

export function runJob(ctx: RunnerContext, claimed: Job): RunningJob {
  const { db, history, bus, storage, logger, workerId } = ctx
  const job = claimed
  const config: JobConfig = {
    name: job.name,
    description: job.description,
    priority: job.priority,
    model: job.modelConfig as JobConfig['model'],
    dataset: job.datasetConfig as JobConfig['dataset'],
    hyperparameters: job.hyperparameters as JobConfig['hyperparameters'],
    resources: job.resourcesConfig as JobConfig['resources'],
    output: job.outputConfig as JobConfig['output'],
    options: job.optionsConfig as JobConfig['options'],
  }
  const instanceType = ctx.instanceTypes.find((type) => type.name === job.instanceType)
  const recorder = createRecorder({ history, bus, logger, jobId: job.id, ownerId: job.ownerId })
  const log = (level: 'debug' | 'info' | 'warn' | 'error', message: string, extra: { step?: number; epoch?: number; metrics?: Metrics } = {}) =>
    recorder.log({ level, message, step: extra.step ?? null, epoch: extra.epoch ?? null, metrics: extra.metrics ?? null })

  let child: ChildProcess | undefined
  let stopReason: StopReason | null = null
  let lost = false
  // Live state, written to the row on each heartbeat.
  const live: Prisma.JobUpdateManyMutationInput & { metrics: Metrics } = { metrics: { ...((job.metrics as Metrics | null) ?? {}) } }
  let totalSteps = job.totalSteps ?? 0
  let lastStep = job.step ?? 0
  let lastEpoch = 0
  let rate: { fromStep: number; fromAt: number; samples: number } | undefined
  let outcome: Extract<ChildMessage, { type: 'done' }> | Extract<ChildMessage, { type: 'failed' }> | undefined
  let memoryBytes = 0
  let gpu = false
  let runtimeTimer: NodeJS.Timeout | undefined

  function send(message: ParentMessage) {
    if (child?.connected) child.send(message)
  }

  function stop(reason: StopReason) {
    if (stopReason && stopReason !== 'shutdown') return
    stopReason = reason
    send({ type: 'stop', reason: reason === 'timeout' ? 'timeout' : 'stop' })
    const killer = setTimeout(() => {
      if (child && child.exitCode === null) {
        log('warn', `The training process did not stop within ${stopGraceMs / 1000} s; it was killed`)
        child.kill('SIGKILL')
      }
    }, stopGraceMs)
    killer.unref()
  }

  async function publishJob() {
    const row = await db.job.findUnique({ where: { id: job.id }, include: { owner: { select: { name: true } } } })
    if (!row) return undefined
    await publishJobUpdated(bus, row.ownerId, jobView(row, row.owner.name, instanceType?.pricePerHour ?? null)).catch((error: unknown) =>
      logger.warn({ err: error, jobId: job.id }, 'could not publish a job update'),
    )
    return row
  }

  /** Writes live state; notices a stop requested through the database or a job that is no longer ours. */
  let beating = false
  async function heartbeat() {
    // A slow database must not stack heartbeats up.
    if (beating) return
    beating = true
    try {
      await beat()
    } finally {
      beating = false
    }
  }

  async function beat() {
    await recorder.flush()
    if (lost) return
    const changed = await db.job.updateMany({
      where: { id: job.id, workerId },
      data: { ...live, metrics: live.metrics, heartbeatAt: new Date() },
    })
    if (changed.count === 0) {
      // Deleted with force, or taken over by another trainer that thought us dead.
      lost = true
      logger.warn({ jobId: job.id }, 'job is no longer held by this trainer; stopping its process')
      child?.kill('SIGKILL')
      return
    }
    const row = await publishJob()
    if (row?.status === 'stopping' && !stopReason) stop('stop')
  }

  function onStep(message: Extract<ChildMessage, { type: 'step' }>) {
    lastStep = message.step
    lastEpoch = message.epoch
    Object.assign(live.metrics, message.metrics)
    recorder.metrics(message.step, message.epoch, message.metrics, message.at)
    if (!rate) rate = { fromStep: message.step, fromAt: message.at, samples: 0 }
    else rate.samples += message.samples
    const seconds = (message.at - rate.fromAt) / 1000
    const stepsPerSecond = seconds > 0 ? (message.step - rate.fromStep) / seconds : 0
    live.step = message.step
    live.epoch = Math.min(config.hyperparameters.epochs, Math.floor(message.epoch) + (Number.isInteger(message.epoch) ? 0 : 1))
    live.percentage = totalSteps > 0 ? Math.min(100, (message.step / totalSteps) * 100) : 0
    if (seconds >= 1 && stepsPerSecond > 0) {
      // Measured over this attempt, validation passes included, so the estimate holds for the rest.
      live.samplesPerSecond = rate.samples / seconds
      const completion = Date.now() + ((totalSteps - message.step) / stepsPerSecond) * 1000
      live.estimatedCompletionTime = new Date(completion)
      if (instanceType && job.startedAt) {
        live.estimatedCost = (instanceType.pricePerHour * job.instanceCount * (completion - job.startedAt.getTime())) / 3_600_000
      }
    }
  }

  function onMessage(message: ChildMessage) {
    switch (message.type) {
      case 'backend':
        live.backend = message.name
        gpu = message.gpu
        break
      case 'log':
        recorder.log({
          level: message.level,
          message: message.message,
          step: message.step ?? null,
          epoch: message.epoch ?? null,
          metrics: message.metrics ?? null,
          at: message.at,
        })
        break
      case 'step':
        onStep(message)
        break
      case 'steps':
        for (const step of message.steps) onStep(step)
        break
      case 'validation': {
        // As the spec's §4.1 example: the epoch's training metrics, then its validation.
        const training: Metrics = {}
        for (const [name, value] of Object.entries(live.metrics as Metrics)) if (name.startsWith('train')) training[name] = value
        recorder.log({
          level: 'info',
          message: `Epoch ${message.epoch}/${config.hyperparameters.epochs}`,
          step: message.step,
          epoch: message.epoch,
          metrics: training,
          at: message.at,
        })
        Object.assign(live.metrics, message.metrics)
        recorder.metrics(message.step, message.epoch, message.metrics, message.at)
        recorder.log({
          level: 'info',
          message: `Epoch ${message.epoch}/${config.hyperparameters.epochs}: validation`,
          step: message.step,
          epoch: message.epoch,
          metrics: message.metrics,
          at: message.at,
        })
        break
      }
      case 'checkpoint':
        void recordCheckpoint(message.info)
        break
      case 'resources':
        live.cpuUtilization = message.cpuUtilization === null ? null : round(message.cpuUtilization, 1)
        live.memoryUsage = message.memoryUsage === null ? null : round(message.memoryUsage, 1)
        memoryBytes = message.memoryBytes
        if (instanceType && memoryBytes > instanceType.memoryGb * 1024 ** 3) {
          outcome = {
            type: 'failed',
            badInput: false,
            message: `out of memory: the training process used ${(memoryBytes / 1024 ** 3).toFixed(2)} GiB, over the ${instanceType.memoryGb} GiB of ${instanceType.name}`,
          }
          child?.kill('SIGKILL')
        }
        break
      case 'data':
        if (message.totalSteps !== totalSteps) {
          totalSteps = message.totalSteps
          live.totalSteps = totalSteps
        }
        break
      case 'done':
      case 'failed':
        outcome ??= message
        break
    }
  }

  // Checkpoint folders are named per job (ckpt-<step>); their rows need ids unique across jobs.
  const checkpointRowId = (folder: string) => `${job.id}.${folder}`

  let checkpointWrites: Promise<unknown> = Promise.resolve()
  function recordCheckpoint(info: CheckpointInfo) {
    checkpointWrites = checkpointWrites.then(async () => {
      try {
        await db.$transaction([
          ...(info.isBest ? [db.checkpoint.updateMany({ where: { jobId: job.id, isBest: true }, data: { isBest: false } })] : []),
          db.checkpoint.deleteMany({ where: { jobId: job.id, id: { in: info.removed.map(checkpointRowId) } } }),
          // A resumed run may save a step again that an earlier attempt saved.
          db.checkpoint.deleteMany({ where: { id: checkpointRowId(info.id) } }),
          db.checkpoint.create({
            data: {
              id: checkpointRowId(info.id),
              jobId: job.id,
              step: info.step,
              epoch: info.epoch,
              path: path.relative(storage.root, info.dir),
              sizeBytes: BigInt(info.sizeBytes),
              metrics: info.metrics,
              isBest: info.isBest,
            },
          }),
        ])
        log('debug', `Checkpoint ${checkpointRowId(info.id)} saved at step ${info.step}${info.isBest ? ' (best so far)' : ''}`, {
          step: info.step,
          epoch: info.epoch,
        })
      } catch (error) {
        logger.warn({ err: error, jobId: job.id }, 'could not record a checkpoint')
      }
    })
    return checkpointWrites
  }

  async function recordEvaluation(evaluation: EvaluationResult) {
    const data = {
      checkpointId: evaluation.checkpointId === null ? null : checkpointRowId(evaluation.checkpointId),
      split: evaluation.split,
      sampleCount: evaluation.sampleCount,
      metrics: evaluation.metrics,
      perClass: evaluation.perClass ?? undefined,
      confusionMatrix: evaluation.confusionMatrix ?? undefined,
      labels: evaluation.labels ?? undefined,
    }
    await db.evaluation.upsert({ where: { jobId: job.id }, create: { id: newId('eval'), jobId: job.id, ...data }, update: data })
  }

  async function prepare(): Promise<TrainingSpec | string> {
    const dataset = await db.dataset.findUnique({ where: { id: job.datasetId } })
    if (!dataset) return `dataset ${job.datasetId} no longer exists (it was deleted after the job was created)`
    const columns = (dataset.schema as { columns: { name: string }[] }).columns.map((column) => column.name)
    let initFrom: string | null = null
    const source = await fineTuneSource(db, job)
    if (source.kind === 'job') initFrom = storage.resolve(source.checkpoint.path)
    if (source.kind === 'unavailable') {
      log('warn', `Base model ${JSON.stringify(job.baseModel)} is not available here; training a new ${config.model.architecture} model from scratch`)
    }
    const resume = await latestCheckpoint(db, job.id)
    if (resume) {
      log('info', `Resuming from checkpoint ${resume.id} at step ${resume.step} (attempt ${job.attempts})`, { step: resume.step, epoch: resume.epoch })
    }
    if (config.resources.instanceCount > 1) {
      log(
        'info',
        `instanceCount ${config.resources.instanceCount}: training runs in one process here (no data-parallel workers); capacity and cost count ${config.resources.instanceCount} instances`,
      )
    }
    return {
      jobId: job.id,
      config,
      dataset: {
        id: dataset.id,
        file: storage.resolve(dataset.filePath),
        format: dataset.format,
        columns,
        metadata: (dataset.metadata as Record<string, unknown> | null) ?? null,
      },
      checkpointDir: storage.resolve(`checkpoints/${job.id}`),
      resumeFrom: resume ? storage.resolve(resume.path) : null,
      initFrom,
      backend: ctx.backend,
      vcpus: instanceType?.vcpus ?? 1,
      memoryLimitBytes: (instanceType?.memoryGb ?? 0) * 1024 ** 3,
    }
  }

  /** Starts the child and settles when it has exited. */
  function spawn(spec: TrainingSpec): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return new Promise((resolve) => {
      const maxOldSpace = Math.max(256, Math.floor((instanceType?.memoryGb ?? 2) * 1024 * 0.75))
      child = fork(childEntry, [], {
        execArgv: ['--import', 'tsx', `--max-old-space-size=${maxOldSpace}`],
        serialization: 'advanced',
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      })
      let stderr = ''
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString()).slice(-4000)
      })
      child.on('message', (message: ChildMessage) => onMessage(message))
      child.on('error', (error) => logger.error({ err: error, jobId: job.id }, 'training process error'))
      child.on('exit', (code, signal) => {
        if (!outcome && stderr.trim()) logger.error({ jobId: job.id, stderr: stderr.trim() }, 'training process exited early')
        if (!outcome && /heap out of memory|Allocation failed/i.test(stderr)) {
          outcome = { type: 'failed', badInput: false, message: 'out of memory: the training process ran out of JavaScript heap' }
        }
        resolve({ code, signal })
      })
      child.send({ type: 'start', spec } satisfies ParentMessage)
      if (stopReason) send({ type: 'stop', reason: stopReason === 'timeout' ? 'timeout' : 'stop' })
    })
  }

  /** The end state in the database, conditioned on the job still being ours. */
  async function finish(data: Prisma.JobUpdateManyMutationInput) {
    await Promise.all([recorder.close(), checkpointWrites])
    if (lost) return
    const now = new Date()
    const ended = data.status === 'completed' || data.status === 'failed' || data.status === 'cancelled'
    const startedAt = job.startedAt ?? now
    const hours = (now.getTime() - startedAt.getTime()) / 3_600_000
    await db.job.updateMany({
      where: { id: job.id, workerId },
      data: {
        ...live,
        metrics: live.metrics,
        ...data,
        ...(ended
          ? { completedAt: now, estimatedCompletionTime: null, actualCost: instanceType ? instanceType.pricePerHour * job.instanceCount * hours : null }
          : {}),
        workerId: null,
        heartbeatAt: now,
      },
    })
    await publishJob()
  }

  async function run() {
    log('info', job.attempts > 1 ? `Training job started again (attempt ${job.attempts})` : 'Training job started', { step: job.step ?? 0, epoch: 0 })
    const spec = await prepare()
    if (typeof spec === 'string') {
      log('error', `Training failed: ${spec}`)
      await finish({ status: 'failed', errorCode: 'E1104', errorMessage: spec })
      return
    }
    const beat = setInterval(() => {
      void heartbeat().catch((error: unknown) => logger.warn({ err: error, jobId: job.id }, 'heartbeat failed'))
      if (gpu) void gpuUtilization().then((value) => (live.gpuUtilization = value))
    }, heartbeatMs)
    if (config.options.maxRuntimeSeconds) {
      runtimeTimer = setTimeout(() => stop('timeout'), config.options.maxRuntimeSeconds * 1000)
    }
    const exit = await spawn(spec)
    clearInterval(beat)
    clearTimeout(runtimeTimer)
    if (lost) {
      await recorder.close()
      // Deleted with force while training: files the process wrote after the delete go too.
      if (!(await db.job.findUnique({ where: { id: job.id }, select: { id: true } }))) await storage.remove(`checkpoints/${job.id}`)
      return
    }

    const epochNow = { step: lastStep, epoch: lastEpoch }
    if (outcome?.type === 'done') {
      if (outcome.evaluation) await recordEvaluation(outcome.evaluation)
      if (outcome.outcome === 'completed' || outcome.outcome === 'early-stopped') {
        log('info', outcome.outcome === 'early-stopped' ? `Training stopped early at step ${outcome.step} and completed` : 'Training completed', epochNow)
        const exportId = await queueRequestedExport(db, bus, job, config.output.exportFormat)
        if (exportId) log('info', `Exporting the best checkpoint as ${config.output.exportFormat} (output.exportFormat): ${exportId}`, epochNow)
        await finish({ status: 'completed', percentage: 100 })
      } else if (stopReason === 'shutdown') {
        log('info', `Trainer shutting down: checkpointed at step ${outcome.step} and queued again; it resumes when a trainer starts`, epochNow)
        await finish({ status: 'pending' })
      } else if (outcome.outcome === 'timeout') {
        const message = `Training exceeded options.maxRuntimeSeconds (${config.options.maxRuntimeSeconds} s) and was stopped at step ${outcome.step}; its checkpoint is kept`
        log('error', message, epochNow)
        await finish({ status: 'failed', errorCode: 'E1104', errorMessage: message })
      } else {
        log('info', `Training stopped at step ${outcome.step} on request; checkpoint saved`, epochNow)
        await finish({ status: 'cancelled' })
      }
      return
    }

    const failure =
      outcome?.type === 'failed'
        ? outcome
        : {
            type: 'failed' as const,
            badInput: false,
            message: `the training process exited unexpectedly (${exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`})`,
          }
    if (stopReason === 'stop') {
      log('warn', `Training process ended while stopping: ${failure.message}`, epochNow)
      await finish({ status: 'cancelled' })
      return
    }
    if (stopReason === 'shutdown') {
      await finish({ status: 'pending' })
      return
    }
    const retriesLeft = config.options.maxRetries - (job.attempts - 1)
    if (!failure.badInput && retriesLeft > 0) {
      log(
        'warn',
        `Training failed: ${failure.message}. Retrying from the last checkpoint (${retriesLeft} ${retriesLeft === 1 ? 'retry' : 'retries'} left)`,
        epochNow,
      )
      await finish({ status: 'pending' })
      return
    }
    log('error', `Training failed: ${failure.message}`, epochNow)
    await finish({ status: 'failed', errorCode: 'E1104', errorMessage: failure.message })
  }

  const done = run().catch(async (error: unknown) => {
    logger.error({ err: error, jobId: job.id }, 'runner error')
    child?.kill('SIGKILL')
    const message = `internal trainer error: ${(error as Error).message}`
    log('error', `Training failed: ${message}`)
    await finish({ status: 'failed', errorCode: 'E1104', errorMessage: message }).catch(() => undefined)
  })
  return { jobId: job.id, stop, done }
}
