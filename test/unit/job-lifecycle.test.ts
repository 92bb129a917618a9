// The job lifecycle against a real SQLite file and the in-process bus: the
// transition table walked pair by pair (every allowed move happens and is
// published, every other one is refused and changes nothing), the guarded
// operations the API and the trainer use, and the pure end-state rule.
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createJobLifecycle, type JobLifecycle } from '../../src/core/job-lifecycle.ts'
import { canTransition, endStateOf, jobTransitions, sourcesOf, type JobStatus } from '../../src/domain/job-states.ts'
import { jobStatuses } from '../../src/domain/views.ts'
import { topics, type JobUpdatedEvent } from '../../src/events/index.ts'
import { createDatabase, type Database } from '../../src/infra/db.ts'
import { createMemoryEventBus, type EventBus } from '../../src/infra/event-bus.ts'
import { migrateDatabase } from '../../src/infra/migrate.ts'

const dir = mkdtempSync(path.join(os.tmpdir(), 'lifecycle-'))
let database: Database
let bus: EventBus
let lifecycle: JobLifecycle
let counter = 0

beforeAll(async () => {
  const url = `file:${dir}/training.db`
  await migrateDatabase(url)
  database = await createDatabase(url)
  bus = createMemoryEventBus()
  lifecycle = createJobLifecycle({ db: database.db, bus, instanceTypes: [] })
  await database.db.user.create({ data: { id: 'user-1', name: 'alice' } })
})

afterAll(async () => {
  await bus?.close()
  await database?.close()
  rmSync(dir, { recursive: true, force: true })
})

/** A job row in `status`, held by `workerId`, as the API and trainer leave them. */
async function jobIn(status: JobStatus, workerId: string | null = null): Promise<string> {
  const id = `job-${++counter}`
  await database.db.job.create({
    data: {
      id,
      ownerId: 'user-1',
      name: id,
      status,
      task: 'text-classification',
      baseModel: 'text-cnn',
      datasetId: 'dataset-1',
      modelConfig: {},
      datasetConfig: {},
      hyperparameters: {},
      resourcesConfig: {},
      outputConfig: {},
      optionsConfig: {},
      instanceType: 'cpu.small',
      instanceCount: 1,
      seed: 1,
      totalEpochs: 1,
      workerId,
    },
  })
  return id
}

const statusOf = async (id: string) => (await database.db.job.findUniqueOrThrow({ where: { id } })).status

/** The job.updated events of `id` published while `act` runs. */
async function published(id: string, act: () => Promise<unknown>): Promise<string[]> {
  const events = await bus.subscribe(topics.job(id))
  const seen: string[] = []
  const reading = (async () => {
    for await (const event of events as AsyncIterable<JobUpdatedEvent>) seen.push(event.job.status)
  })()
  await act()
  await new Promise((resolve) => setImmediate(resolve))
  await events.return?.()
  await reading
  return seen
}

describe('the job transition table', () => {
  it('mirrors DESIGN: pending → running → completed | failed, stop through stopping, back to the queue only from running', () => {
    expect(jobTransitions).toEqual({
      pending: ['running', 'cancelled'],
      running: ['stopping', 'completed', 'failed', 'pending'],
      stopping: ['cancelled', 'completed', 'failed'],
      completed: [],
      failed: [],
      cancelled: [],
    })
    expect(sourcesOf('cancelled')).toEqual(['pending', 'stopping'])
    expect(canTransition('stopping', 'pending')).toBe(false)
  })

  const pairs = jobStatuses.flatMap((from) => jobStatuses.map((to) => ({ from, to, allowed: canTransition(from, to) })))

  it.each(pairs)('$from → $to: moved and published only when the table allows it ($allowed)', async ({ from, to, allowed }) => {
    const id = await jobIn(from)
    let result: Awaited<ReturnType<JobLifecycle['move']>> | undefined
    const events = await published(id, async () => {
      result = await lifecycle.move(id, { from: [from], to })
    })
    expect(result?.moved).toBe(allowed)
    expect(await statusOf(id)).toBe(allowed ? to : from)
    expect(events).toEqual(allowed ? [to] : [])
    if (!allowed && result && !result.moved) expect(result.message).toContain(`${from} → ${to} is not a job transition`)
  })

  it('refuses a move from a status the job is not in, saying where it is, and changes nothing', async () => {
    const id = await jobIn('completed')
    const result = await lifecycle.move(id, { from: ['running'], to: 'failed' })
    expect(result).toEqual({ moved: false, status: 'completed', message: `Job ${id} is completed, not running: it was not moved to failed` })
    expect(await statusOf(id)).toBe('completed')
  })

  it('refuses a trainer write when another trainer holds the job', async () => {
    const id = await jobIn('running', 'trainer-b')
    const result = await lifecycle.finish(id, 'trainer-a', 'completed')
    expect(result).toMatchObject({ moved: false, status: 'running', message: expect.stringContaining('held by trainer-b, not trainer-a') })
    expect(await statusOf(id)).toBe('running')
    expect(await lifecycle.heartbeat(id, 'trainer-a', { step: 3 })).toBeUndefined()
    expect((await database.db.job.findUniqueOrThrow({ where: { id } })).step).toBeNull()
  })
})

describe('the lifecycle operations', () => {
  it('queue creates a pending job with the rows written alongside it, publishes it and wakes the trainers', async () => {
    const wakes = await bus.subscribe(topics.trainerWake)
    const id = `job-${++counter}`
    const { job, alongside } = await lifecycle.queue(
      {
        id,
        ownerId: 'user-1',
        name: 'queued',
        task: 'tabular-regression',
        baseModel: 'tabular-mlp',
        datasetId: 'dataset-1',
        modelConfig: {},
        datasetConfig: {},
        hyperparameters: {},
        resourcesConfig: {},
        outputConfig: {},
        optionsConfig: {},
        instanceType: 'cpu.small',
        instanceCount: 1,
        seed: 1,
        totalEpochs: 1,
      },
      database.db.jobLog.create({ data: { jobId: id, level: 'info', severity: 20, message: 'written with the job' } }),
    )
    expect(job).toMatchObject({ id, status: 'pending', owner: 'alice' })
    expect(alongside[0]).toMatchObject({ jobId: id, message: 'written with the job' })
    expect((await wakes.next()).value).toEqual({ jobId: id })
    await wakes.return?.()
  })

  it('claimNext takes the highest-priority pending job that fits, marks it running for the trainer and publishes running', async () => {
    await database.db.job.updateMany({ where: { status: 'pending' }, data: { status: 'cancelled' } })
    const small = await jobIn('pending')
    const events = await published(small, async () => {
      const claimed = await lifecycle.claimNext('trainer-a', new Map([['cpu.small', 1]]))
      expect(claimed).toMatchObject({ id: small, status: 'running', workerId: 'trainer-a', attempts: 1 })
    })
    expect(events).toEqual(['running'])
    expect(await lifecycle.claimNext('trainer-a', new Map([['cpu.small', 0]]))).toBeUndefined()
  })

  it('requestStop cancels a pending job, moves a running one to stopping (telling its trainer), leaves a stopping one and refuses an ended one', async () => {
    const pending = await jobIn('pending')
    expect(await lifecycle.requestStop(pending)).toMatchObject({ moved: true, changed: true, job: { status: 'cancelled' } })
    const running = await jobIn('running', 'trainer-a')
    const stops = await bus.subscribe(topics.trainerStop)
    expect(await lifecycle.requestStop(running, { level: 'info', message: 'pruned' })).toMatchObject({ moved: true, job: { status: 'stopping' } })
    expect((await stops.next()).value).toEqual({ type: 'trainer.stop', jobId: running })
    await stops.return?.()
    expect(await database.db.jobLog.findMany({ where: { jobId: running }, select: { message: true } })).toEqual([{ message: 'pruned' }])
    expect(await lifecycle.requestStop(running)).toMatchObject({ moved: true, changed: false, job: { status: 'stopping' } })
    const ended = await jobIn('failed')
    expect(await lifecycle.requestStop(ended)).toEqual({
      moved: false,
      status: 'failed',
      message: `Job ${ended} has already ended (failed); there is nothing to stop`,
    })
  })

  it('finish ends a stopping job cancelled but never a running one, and requeue never takes a stopping job back to the queue', async () => {
    const running = await jobIn('running', 'trainer-a')
    expect((await lifecycle.finish(running, 'trainer-a', 'cancelled')).moved).toBe(false)
    expect((await lifecycle.finish(running, 'trainer-a', 'failed', { errorCode: 'E1104' })).moved).toBe(true)
    expect(await database.db.job.findUniqueOrThrow({ where: { id: running } })).toMatchObject({ status: 'failed', workerId: null, errorCode: 'E1104' })
    const stopping = await jobIn('stopping', 'trainer-a')
    expect(await lifecycle.requeue(stopping, 'trainer-a')).toMatchObject({ moved: false, status: 'stopping' })
    expect((await lifecycle.finish(stopping, 'trainer-a', 'cancelled')).moved).toBe(true)
  })

  it('discard cancels a pending job as it leaves the API, keeps an ended one, and refuses a running one without force', async () => {
    const pending = await jobIn('pending')
    const row = await database.db.job.findUniqueOrThrow({ where: { id: pending }, include: { owner: { select: { name: true } } } })
    expect(await lifecycle.discard(row, false)).toMatchObject({ moved: true, job: { status: 'cancelled' } })
    expect(await database.db.job.findUniqueOrThrow({ where: { id: pending } })).toMatchObject({ status: 'cancelled', deletedAt: expect.any(Date) })
    const running = await jobIn('running', 'trainer-a')
    const runningRow = await database.db.job.findUniqueOrThrow({ where: { id: running }, include: { owner: { select: { name: true } } } })
    expect(await lifecycle.discard(runningRow, false)).toMatchObject({ moved: false, status: 'running' })
    expect(await lifecycle.discard(runningRow, true)).toMatchObject({ moved: true, job: { status: 'cancelled' } })
    expect(await database.db.job.findUnique({ where: { id: running } })).toBeNull()
  })
})

describe('endStateOf', () => {
  it('counts a finished run as finished whatever was asked meanwhile', () => {
    expect(endStateOf({ kind: 'completed', step: 9 }, 'shutdown', 0)).toEqual({ status: 'completed', why: 'finished' })
    expect(endStateOf({ kind: 'early-stopped', step: 4 }, 'stop', 0)).toEqual({ status: 'completed', why: 'early-stopped', step: 4 })
  })

  it('queues a run again when its trainer shuts down, whether it stopped or failed on the way', () => {
    expect(endStateOf({ kind: 'stopped', step: 5 }, 'shutdown', 0)).toEqual({ status: 'pending', why: 'shutdown', step: 5 })
    expect(endStateOf({ kind: 'failed', message: 'killed', badInput: false }, 'shutdown', 0)).toEqual({ status: 'pending', why: 'shutdown', step: null })
  })

  it('cancels a stopped run, fails a timed-out one, and retries a failure only while retries are left and the input is not at fault', () => {
    expect(endStateOf({ kind: 'stopped', step: 5 }, 'stop', 3)).toEqual({ status: 'cancelled', why: 'stopped', step: 5 })
    expect(endStateOf({ kind: 'failed', message: 'gone', badInput: false }, 'stop', 3)).toEqual({
      status: 'cancelled',
      why: 'ended-while-stopping',
      message: 'gone',
    })
    expect(endStateOf({ kind: 'timeout', step: 7 }, 'timeout', 3)).toEqual({ status: 'failed', why: 'timeout', step: 7 })
    expect(endStateOf({ kind: 'failed', message: 'oom', badInput: false }, null, 1)).toEqual({ status: 'pending', why: 'retry', message: 'oom' })
    expect(endStateOf({ kind: 'failed', message: 'oom', badInput: false }, null, 0)).toEqual({ status: 'failed', why: 'error', message: 'oom' })
    expect(endStateOf({ kind: 'failed', message: 'no label', badInput: true }, null, 5)).toEqual({ status: 'failed', why: 'error', message: 'no label' })
  })
})
