// Runs one claimed job in its own training process and records what
// happens: live progress on the job row about once a second (also the
// heartbeat that tells other trainers this one is alive), logs and metrics
// through the recorder, checkpoint and evaluation rows, and the end state
// (completed, cancelled, failed with E1104, or queued again) through the job
// lifecycle. The parts: child-process.ts (fork, IPC, kill grace),
// progress.ts (rate, ETA, cost), records.ts (rows), end-state.ts (log line
// and fields of the end), spec.ts (what the process starts from). What is
// left here is JobRun, the one place a run's state lives, with one short
// method per message and per stage, which is why the file runs to ~300 lines.
import type { Logger } from 'pino'
import type { Db, Job, Prisma } from '../../src/infra/db.ts'
import type { EventBus } from '../../src/infra/event-bus.ts'
import type { HistoryWriter } from '../../src/infra/history-writer.ts'
import type { Storage } from '../../src/infra/storage.ts'
import type { InstanceType } from '../../src/domain/instance-types.ts'
import type { JobConfig } from '../../src/domain/job-config.ts'
import { jobConfigOf } from '../../src/domain/json-columns.ts'
import { endStateOf, type EndState, type RunOutcome, type StopReason } from '../../src/domain/job-states.ts'
import type { JobLifecycle } from '../../src/core/job-lifecycle.ts'
import type { LogLevel } from '../../src/events/index.ts'
import { queueRequestedExport } from '../export/requested.ts'
import { createRecorder, type Recorder } from '../recorder.ts'
import type { ChildMessage, TrainingSpec } from '../worker/protocol.ts'
import type { Metrics } from '../ml/types.ts'
import { startTrainingProcess, stopGraceMs, type ProcessExit, type TrainingProcess } from './child-process.ts'
import { endFields, endLine } from './end-state.ts'
import { createProgress, sampleGpuUtilization, type Progress } from './progress.ts'
import { createRecords, type Records } from './records.ts'
import { trainingSpecOf } from './spec.ts'

const heartbeatMs = 1000

export type { StopReason }

export interface RunnerContext {
  db: Db
  /** Metric points and log lines go through this, in batches. */
  history: HistoryWriter
  bus: EventBus
  storage: Storage
  logger: Logger
  lifecycle: JobLifecycle
  workerId: string
  instanceTypes: readonly InstanceType[]
  /** TRAINER_BACKEND: force a TensorFlow.js backend; null picks the fastest present. */
  backend: string | null
}

export interface RunningJob {
  jobId: string
  /** Asks the job to stop at its next step (it checkpoints first). */
  stop(reason: StopReason): void
  /** Settles when the job has ended and everything is recorded. */
  done: Promise<void>
}

export function runJob(ctx: RunnerContext, job: Job): RunningJob {
  const run = new JobRun(ctx, job)
  return { jobId: job.id, stop: (reason) => run.stop(reason), done: run.done }
}

class JobRun {
  readonly done: Promise<void>
  private readonly config: JobConfig
  private readonly instanceType: InstanceType | undefined
  private readonly recorder: Recorder
  private readonly records: Records
  private readonly progress: Progress
  private process: TrainingProcess | undefined
  private stopReason: StopReason | null = null
  /** The job is no longer ours (deleted with force, or taken over): record nothing more. */
  private lost = false
  /** What the process reported, or a failure the runner decided on (out of memory). */
  private outcome: RunOutcome | undefined
  private evaluation: Extract<ChildMessage, { type: 'done' }>['evaluation'] = null
  private beating = false
  private gpu = false

  constructor(
    private readonly ctx: RunnerContext,
    private readonly job: Job,
  ) {
    this.config = jobConfigOf(job)
    this.instanceType = ctx.instanceTypes.find((type) => type.name === job.instanceType)
    this.recorder = createRecorder({ history: ctx.history, bus: ctx.bus, logger: ctx.logger, jobId: job.id, ownerId: job.ownerId })
    this.progress = createProgress(job, this.config.hyperparameters.epochs, this.instanceType)
    this.records = createRecords({
      db: ctx.db,
      storageRoot: ctx.storage.root,
      logger: ctx.logger,
      jobId: job.id,
      onCheckpoint: (info, rowId) =>
        this.log('debug', `Checkpoint ${rowId} saved at step ${info.step}${info.isBest ? ' (best so far)' : ''}`, { step: info.step, epoch: info.epoch }),
    })
    this.done = this.run().catch((error: unknown) => this.crashed(error))
  }

  stop(reason: StopReason) {
    // A user's stop or a time limit is final; a shutdown may still become one of them.
    if (this.stopReason && this.stopReason !== 'shutdown') return
    this.stopReason = reason
    this.process?.stop(reason === 'timeout' ? 'timeout' : 'stop', () =>
      this.log('warn', `The training process did not stop within ${stopGraceMs / 1000} s; it was killed`),
    )
  }

  private log(level: LogLevel, message: string, extra: { step?: number; epoch?: number; metrics?: Metrics } = {}) {
    this.recorder.log({ level, message, step: extra.step ?? null, epoch: extra.epoch ?? null, metrics: extra.metrics ?? null })
  }

  private async run() {
    const { job } = this
    this.log('info', job.attempts > 1 ? `Training job started again (attempt ${job.attempts})` : 'Training job started', { step: job.step ?? 0, epoch: 0 })
    const spec = await trainingSpecOf(
      { db: this.ctx.db, storage: this.ctx.storage, backend: this.ctx.backend, log: (level, message, at) => this.log(level, message, at) },
      job,
      this.config,
      this.instanceType,
    )
    if (typeof spec === 'string') {
      this.log('error', `Training failed: ${spec}`)
      await this.finish({ status: 'failed', why: 'error', message: spec })
      return
    }
    const exit = await this.train(spec)
    if (this.lost) return this.abandon()
    await this.end(this.outcomeOf(exit))
  }

  /** Runs the training process to its exit, with heartbeats and the time limit. */
  private async train(spec: TrainingSpec): Promise<ProcessExit> {
    const beat = setInterval(() => {
      void this.heartbeat().catch((error: unknown) => this.ctx.logger.warn({ err: error, jobId: this.job.id }, 'heartbeat failed'))
      if (this.gpu) void sampleGpuUtilization().then((value) => this.progress.gpu(value))
    }, heartbeatMs)
    const limit = this.config.options.maxRuntimeSeconds
    const runtimeTimer = limit ? setTimeout(() => this.stop('timeout'), limit * 1000) : undefined
    try {
      this.process = startTrainingProcess(spec, {
        memoryGb: this.instanceType?.memoryGb ?? 2,
        onMessage: (message) => this.onMessage(message),
        onError: (error) => this.ctx.logger.error({ err: error, jobId: this.job.id }, 'training process error'),
      })
      // A stop asked for while the process was being prepared.
      if (this.stopReason) this.process.stop(this.stopReason === 'timeout' ? 'timeout' : 'stop', () => undefined)
      const exit = await this.process.exited
      if (!this.outcome && exit.stderr) this.ctx.logger.error({ jobId: this.job.id, stderr: exit.stderr }, 'training process exited early')
      return exit
    } finally {
      clearInterval(beat)
      clearTimeout(runtimeTimer)
    }
  }

  private onMessage(message: ChildMessage) {
    switch (message.type) {
      case 'backend':
        this.progress.backend(message.name)
        this.gpu = message.gpu
        break
      case 'log':
        this.recorder.log({
          level: message.level,
          message: message.message,
          step: message.step ?? null,
          epoch: message.epoch ?? null,
          metrics: message.metrics ?? null,
          at: message.at,
        })
        break
      case 'step':
        this.onStep(message)
        break
      case 'steps':
        for (const step of message.steps) this.onStep(step)
        break
      case 'validation':
        this.onValidation(message)
        break
      case 'checkpoint':
        void this.records.checkpoint(message.info)
        break
      case 'resources':
        this.onResources(message)
        break
      case 'data':
        this.progress.totalSteps(message.totalSteps)
        break
      case 'done':
        this.outcome ??= { kind: message.outcome, step: message.step }
        this.evaluation = message.evaluation
        break
      case 'failed':
        this.outcome ??= { kind: 'failed', message: message.message, badInput: message.badInput }
        break
    }
  }

  private onStep(message: Extract<ChildMessage, { type: 'step' }>) {
    this.progress.step(message)
    this.recorder.metrics(message.step, message.epoch, message.metrics, message.at)
  }

  /** As the spec's §4.1 example: the epoch's training metrics, then its validation. */
  private onValidation(message: { step: number; epoch: number; metrics: Metrics; at: number }) {
    const { step, epoch, metrics, at } = message
    const epochs = this.config.hyperparameters.epochs
    this.recorder.log({ level: 'info', message: `Epoch ${epoch}/${epochs}`, step, epoch, metrics: this.progress.trainingMetrics(), at })
    this.progress.validation(metrics)
    this.recorder.metrics(step, epoch, metrics, at)
    this.recorder.log({ level: 'info', message: `Epoch ${epoch}/${epochs}: validation`, step, epoch, metrics, at })
  }

  private onResources(message: Extract<ChildMessage, { type: 'resources' }>) {
    this.progress.resources(message)
    const type = this.instanceType
    if (type && message.memoryBytes > type.memoryGb * 1024 ** 3) {
      const used = (message.memoryBytes / 1024 ** 3).toFixed(2)
      this.outcome = {
        kind: 'failed',
        badInput: false,
        message: `out of memory: the training process used ${used} GiB, over the ${type.memoryGb} GiB of ${type.name}`,
      }
      this.process?.kill()
    }
  }

  /** Writes live state; notices a stop asked for through the database, or a job that is no longer ours. */
  private async heartbeat() {
    // A slow database must not stack heartbeats up.
    if (this.beating) return
    this.beating = true
    try {
      await this.recorder.flush()
      if (this.lost) return
      const view = await this.ctx.lifecycle.heartbeat(this.job.id, this.ctx.workerId, this.progress.fields())
      if (!view) {
        this.lost = true
        this.ctx.logger.warn({ jobId: this.job.id }, 'job is no longer held by this trainer; stopping its process')
        this.process?.kill()
      } else if (view.status === 'stopping' && !this.stopReason) {
        this.stop('stop')
      }
    } finally {
      this.beating = false
    }
  }

  private outcomeOf(exit: ProcessExit): RunOutcome {
    if (this.outcome) return this.outcome
    if (exit.outOfHeap) return { kind: 'failed', badInput: false, message: 'out of memory: the training process ran out of JavaScript heap' }
    const how = exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`
    return { kind: 'failed', badInput: false, message: `the training process exited unexpectedly (${how})` }
  }

  /** Records the evaluation, says how the run ended and writes its end state. */
  private async end(outcome: RunOutcome) {
    if (this.evaluation) await this.records.evaluation(this.evaluation)
    const retriesLeft = this.config.options.maxRetries - (this.job.attempts - 1)
    const end = endStateOf(outcome, this.stopReason, retriesLeft)
    const position = this.progress.position()
    const line = endLine(end, this.config, retriesLeft)
    if (line) this.log(line.level, line.message, position)
    if (end.status === 'completed') {
      const exportId = await queueRequestedExport(this.ctx.db, this.ctx.bus, this.job, this.config.output.exportFormat)
      if (exportId) this.log('info', `Exporting the best checkpoint as ${this.config.output.exportFormat} (output.exportFormat): ${exportId}`, position)
    }
    await this.finish(end)
  }

  /** The end state on the job row, through the lifecycle, once everything the run produced is written. */
  private async finish(end: EndState) {
    await Promise.all([this.recorder.close(), this.records.settled()])
    if (this.lost) return
    const { lifecycle, workerId } = this.ctx
    const now = new Date()
    const data: Prisma.JobUpdateManyMutationInput = { ...this.progress.fields(), ...endFields(end, this.config), heartbeatAt: now }
    let result =
      end.status === 'pending'
        ? await lifecycle.requeue(this.job.id, workerId, data)
        : await lifecycle.finish(this.job.id, workerId, end.status, { ...data, actualCost: this.costUntil(now) })
    if (!result.moved && end.status === 'pending' && result.status === 'stopping') {
      // Asked to stop while it was going back to the queue: the stop wins.
      const log = { level: 'info' as const, message: 'The job was asked to stop while it went back to the queue; it ends cancelled with its last checkpoint' }
      result = await lifecycle.finish(this.job.id, workerId, 'cancelled', { ...data, actualCost: this.costUntil(now) }, log)
    }
    if (!result.moved) this.ctx.logger.warn({ jobId: this.job.id, end: end.status, reason: result.message }, 'the end of the job was not recorded')
  }

  /** Price × instances × time since the first attempt started. */
  private costUntil(now: Date): number | null {
    if (!this.instanceType) return null
    const hours = (now.getTime() - (this.job.startedAt ?? now).getTime()) / 3_600_000
    return this.instanceType.pricePerHour * this.job.instanceCount * hours
  }

  /** Deleted with force while training: files the process wrote after the delete go too. */
  private async abandon() {
    await this.recorder.close()
    const row = await this.ctx.db.job.findUnique({ where: { id: this.job.id }, select: { id: true } })
    if (!row) await this.ctx.storage.remove(`checkpoints/${this.job.id}`)
  }

  private async crashed(error: unknown) {
    this.ctx.logger.error({ err: error, jobId: this.job.id }, 'runner error')
    this.process?.kill()
    const message = `internal trainer error: ${error instanceof Error ? error.message : String(error)}`
    this.log('error', `Training failed: ${message}`)
    await this.finish({ status: 'failed', why: 'error', message }).catch(() => undefined)
  }
}
