// The trainer: takes pending jobs as capacity allows and runs each in its own
// child process. An RxJS pipeline turns polls, wake-ups from the API (a job
// was queued) and finished jobs into scheduling passes, one at a time.
// Runs inside the API process (`npm start`) or on its own (`npm run worker`);
// either way it meets the API only through the database and the event bus.
import { randomBytes } from 'node:crypto'
import { Subject } from 'rxjs'
import type { Logger } from 'pino'
import type { Db } from '../src/infra/db.ts'
import type { EventBus } from '../src/infra/event-bus.ts'
import type { HistoryWriter } from '../src/infra/history-writer.ts'
import type { Storage } from '../src/infra/storage.ts'
import type { InstanceType } from '../src/domain/instance-types.ts'
import { createJobLifecycle } from '../src/core/job-lifecycle.ts'
import { topics } from '../src/events/index.ts'
import { refreshQueueEstimates } from './estimates.ts'
import { runJob, type RunningJob } from './runner/index.ts'
import { selectBackend } from './ml/backend.ts'
import { hostname } from './liveness.ts'
import { startHeartbeat, type Heartbeat } from './heartbeat.ts'
import { listen, startPasses, type PassLoop } from './passes.ts'
import { recoverAbandonedJobs } from './recovery.ts'
import { createTuningController } from './tuning/controller.ts'
import { createExportRunner } from './export/runner.ts'

export interface TrainerOptions {
  db: Db
  /** Bulk writes of metric points and log lines (src/infra/history-writer.ts). */
  history: HistoryWriter
  bus: EventBus
  storage: Storage
  logger: Logger
  instanceTypes: readonly InstanceType[]
  /** Jobs this trainer runs at once (TRAINER_CONCURRENCY). */
  concurrency: number
  /** TRAINER_BACKEND; null picks the fastest TensorFlow.js backend present. */
  backend: string | null
  /** Seconds between scheduling passes when nothing wakes the trainer. */
  pollSeconds?: number
  /** A running job whose holder has not written for this long is taken over. */
  staleSeconds?: number
  /** Seconds between this trainer's heartbeats (trainer/heartbeat.ts; the API counts a trainer silent for TRAINER_HEARTBEAT_TIMEOUT_SECONDS as gone). */
  heartbeatSeconds?: number
}

export interface Trainer {
  readonly workerId: string
  start(): Promise<void>
  /** Idempotent. Running jobs checkpoint and go back to the queue; resolves when they have. */
  stop(): Promise<void>
  runningJobs(): string[]
  /** The TensorFlow.js backend jobs train on (null until the start-up probe has answered) and the jobs running here. */
  status(): { backend: BackendSummary | null; runningJobs: number; workerId: string }
}

export interface BackendSummary {
  name: string
  gpu: boolean
  float16: boolean
  /** Kernels the backend lacks that run on the cpu backend instead. */
  fallbackKernels: string[]
}

export function createTrainer(options: TrainerOptions): Trainer {
  const { db, bus, logger } = options
  const workerId = `${hostname}:${process.pid}:${randomBytes(3).toString('hex')}`
  const pollMs = (options.pollSeconds ?? 2) * 1000
  const staleMs = (options.staleSeconds ?? 15) * 1000
  const running = new Map<string, RunningJob>()
  const wake$ = new Subject<void>()
  const closed = new AbortController()
  let passes: PassLoop | undefined
  let heartbeat: Heartbeat | undefined
  let stopping: Promise<void> | undefined
  const lifecycle = createJobLifecycle({ db, bus, instanceTypes: options.instanceTypes })
  const ctx = {
    db,
    history: options.history,
    bus,
    storage: options.storage,
    logger,
    lifecycle,
    workerId,
    instanceTypes: options.instanceTypes,
    backend: options.backend,
  }
  const tunings = createTuningController({ db, bus, logger, workerId, instanceTypes: options.instanceTypes })
  const exports = createExportRunner({ db, bus, storage: options.storage, logger, workerId, backend: options.backend })

  /** Free instances per type: capacity less what running jobs (of every trainer) hold. */
  async function freeInstances(): Promise<Map<string, number>> {
    const inUse = await db.job.groupBy({ by: ['instanceType'], where: { status: { in: ['running', 'stopping'] } }, _sum: { instanceCount: true } })
    const used = new Map(inUse.map((row) => [row.instanceType, row._sum.instanceCount ?? 0]))
    return new Map(options.instanceTypes.map((type) => [type.name, Math.max(0, type.capacity - (used.get(type.name) ?? 0))]))
  }

  let woken = false
  let queueMoved = false
  let backend: BackendSummary | null = null

  async function schedule() {
    do {
      woken = false
      await schedulePass()
    } while (woken && !closed.signal.aborted && running.size < options.concurrency)
  }

  async function schedulePass() {
    await recoverAbandonedJobs({ db, lifecycle, logger, workerId, staleMs })
    let started = 0
    while (!closed.signal.aborted && running.size < options.concurrency) {
      const job = await lifecycle.claimNext(workerId, await freeInstances())
      if (!job) break
      logger.info({ jobId: job.id, attempt: job.attempts }, 'job started')
      const run = runJob(ctx, job)
      running.set(job.id, run)
      started++
      void run.done.finally(() => {
        running.delete(job.id)
        logger.info({ jobId: job.id }, 'job left the trainer')
        queueMoved = true
        if (!closed.signal.aborted) wake$.next()
      })
    }
    if (started > 0 || queueMoved) {
      queueMoved = false
      await refreshQueueEstimates(db, options.instanceTypes, options.concurrency)
    }
  }

  return {
    workerId,
    runningJobs: () => [...running.keys()],
    status: () => ({ backend, runningJobs: running.size, workerId }),

    async start() {
      heartbeat = await startHeartbeat(db, workerId, (options.heartbeatSeconds ?? 10) * 1000, logger)
      // The same choice every job process makes; probed here so readiness can report it.
      const probe = await selectBackend(options.backend ? { prefer: options.backend } : undefined)
      backend = { name: probe.name, gpu: probe.gpu, float16: probe.float16, fallbackKernels: probe.fallbackKernels }
      logger.info({ backend }, 'TensorFlow.js backend')
      // A wake-up during a pass makes the pass look again before it ends (exhaustMap drops it otherwise).
      wake$.subscribe(() => (woken = true))
      await listen(bus, topics.trainerWake, closed.signal, logger, () => wake$.next())
      await listen(bus, topics.trainerStop, closed.signal, logger, (event) => running.get(event.jobId)?.stop('stop'))
      passes = startPasses({ pollMs, wake$, pass: schedule, logger, what: 'scheduling' })
      await tunings.start()
      await exports.start()
      logger.info({ workerId, concurrency: options.concurrency }, 'trainer started')
    },

    stop() {
      stopping ??= (async () => {
        closed.abort()
        // A pass that is claiming a job right now finishes first, so that its job is stopped too.
        await passes?.stop()
        // Tunings first, so that no trial is suggested or judged while jobs stop.
        await Promise.all([tunings.stop(), exports.stop()])
        const jobs = [...running.values()]
        for (const job of jobs) job.stop('shutdown')
        await Promise.all(jobs.map((job) => job.done))
        await heartbeat?.stop()
      })()
      return stopping
    },
  }
}
