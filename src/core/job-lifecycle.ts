// The job lifecycle: every write of a job's status, by the API and the
// trainer alike, and the `job.updated` event that follows it, in one place.
// Each operation is one guarded update (it changes the job only from the
// statuses src/domain/job-states.ts allows and, for the trainer's writes,
// only while the writer still holds the job), then one publish of the new
// state. An update that finds the job elsewhere changes nothing and returns
// a refusal saying where the job is.
import type { Db, Job, Prisma } from '../infra/db.ts'
import type { EventBus } from '../infra/event-bus.ts'
import type { InstanceType } from '../domain/instance-types.ts'
import { canTransition, jobTransitions, type JobStatus } from '../domain/job-states.ts'
import { jobView, type JobView } from '../domain/views.ts'
import { logSeverity, publishJobUpdated, topics, type LogLevel } from '../events/index.ts'

type JobRow = Job & { owner: { name: string } }

const includeOwner = { owner: { select: { name: true } } } as const

/** The result of a guarded write: the new state, or why nothing changed. */
export type Moved = { moved: true; job: JobView } | { moved: false; status: JobStatus | null; message: string }

export interface Move {
  /** The statuses the job may be in for this write (each must be allowed to move to `to`). */
  from: readonly JobStatus[]
  to: JobStatus
  /** Only while this trainer holds the job (`workerId`); undefined: whoever holds it. */
  heldBy?: string | null
  data?: Prisma.JobUpdateManyMutationInput
  /** A line for the job's log, written only when the job moved. */
  log?: { level: LogLevel; message: string; step?: number | null }
}

export interface JobLifecycleDeps {
  db: Db
  bus: EventBus
  /** Prices for the cost figures of the views this publishes. */
  instanceTypes: readonly InstanceType[]
}

const ended: readonly JobStatus[] = ['completed', 'failed', 'cancelled']

/** The API's view of a job row, priced from the instance-type catalog. */
export function viewOf(deps: JobLifecycleDeps, row: JobRow): JobView {
  const price = deps.instanceTypes.find((type) => type.name === row.instanceType)?.pricePerHour ?? null
  return jobView(row, row.owner.name, price)
}

/** Publishes the job's current state; undefined when it is gone. */
async function publish(deps: JobLifecycleDeps, jobId: string): Promise<JobView | undefined> {
  const row = await deps.db.job.findUnique({ where: { id: jobId }, include: includeOwner })
  if (!row) return undefined
  const view = viewOf(deps, row)
  await publishJobUpdated(deps.bus, row.ownerId, view)
  return view
}

/** Where the job is, for a refusal. */
async function refusal(deps: JobLifecycleDeps, jobId: string, change: Pick<Move, 'from' | 'to' | 'heldBy'>): Promise<Moved> {
  const row = await deps.db.job.findUnique({ where: { id: jobId }, select: { status: true, workerId: true } })
  if (!row) return { moved: false, status: null, message: `Job ${jobId} no longer exists` }
  const status = row.status as JobStatus
  const elsewhere = change.heldBy !== undefined && row.workerId !== change.heldBy
  const message = elsewhere
    ? `Job ${jobId} is held by ${row.workerId ?? 'no trainer'}, not ${change.heldBy ?? 'no trainer'}: nothing changed`
    : `Job ${jobId} is ${status}, not ${change.from.join(' or ')}: it was not moved to ${change.to}`
  return { moved: false, status, message }
}

/** The one guarded write every transition goes through. */
export async function move(deps: JobLifecycleDeps, jobId: string, change: Move): Promise<Moved> {
  const illegal = change.from.filter((status) => !canTransition(status, change.to))
  if (illegal.length > 0) {
    const allowed = (from: JobStatus) => jobTransitions[from].join(', ') || 'nothing (it has ended)'
    const message = illegal.map((from) => `${from} → ${change.to} is not a job transition (${from} may move to ${allowed(from)})`).join('; ')
    return { moved: false, status: null, message }
  }
  const where: Prisma.JobWhereInput = { id: jobId, status: { in: [...change.from] } }
  if (change.heldBy !== undefined) where.workerId = change.heldBy
  const changed = await deps.db.job.updateMany({ where, data: { ...change.data, status: change.to } })
  if (changed.count !== 1) return refusal(deps, jobId, change)
  if (change.log) {
    const { level, message, step } = change.log
    await deps.db.jobLog.create({ data: { jobId, level, severity: logSeverity[level], message, step: step ?? null } })
  }
  const job = await publish(deps, jobId)
  return job ? { moved: true, job } : { moved: false, status: null, message: `Job ${jobId} was deleted while it moved to ${change.to}` }
}

/** Creates a job `pending` (with `alongside` writes in the same transaction), publishes it and wakes the trainers. */
export async function queue<R extends Prisma.PrismaPromise<unknown>[]>(deps: JobLifecycleDeps, row: Prisma.JobUncheckedCreateInput, ...alongside: R) {
  const { db, bus } = deps
  const [created, ...rest] = await db.$transaction([db.job.create({ data: { ...row, status: 'pending' }, include: includeOwner }), ...alongside])
  const job = viewOf(deps, created)
  await publishJobUpdated(bus, created.ownerId, job)
  await bus.publish(topics.trainerWake, { jobId: job.id })
  return { job, alongside: rest as { [K in keyof R]: Awaited<R[K]> } }
}

/**
 * pending → running for `workerId`: the next job in priority, then creation
 * order among instance types with free instances (`available`: type → free
 * instances). A job asking for more instances than are free waits while
 * later, smaller jobs go ahead. Undefined when none can start.
 */
export async function claimNext(deps: JobLifecycleDeps, workerId: string, available: ReadonlyMap<string, number>): Promise<Job | undefined> {
  const fits = [...available].filter(([, free]) => free > 0).map(([instanceType, free]) => ({ instanceType, instanceCount: { lte: free } }))
  if (fits.length === 0) return undefined
  for (let attempt = 0; attempt < 5; attempt++) {
    const next = await deps.db.job.findFirst({
      where: { status: 'pending', deletedAt: null, OR: fits },
      orderBy: [{ priority: 'desc' }, { createdAt: 'asc' }, { id: 'asc' }],
      select: { id: true, startedAt: true },
    })
    if (!next) return undefined
    const now = new Date()
    // startedAt stays that of the first attempt: elapsed time and cost cover retries too.
    const data = { workerId, heartbeatAt: now, startedAt: next.startedAt ?? now, attempts: { increment: 1 } }
    const claimed = await move(deps, next.id, { from: ['pending'], to: 'running', data })
    // Another trainer (or a stop) got there first: look again.
    if (claimed.moved) return (await deps.db.job.findUnique({ where: { id: next.id } })) ?? undefined
  }
  return undefined
}

/**
 * A stop: pending → cancelled at once; running → stopping (the trainer
 * holding it stops it at its next step, told through the bus and its
 * heartbeat); already stopping: nothing to do (`changed: false`); ended:
 * refused. `log` goes to the job's log when the job moved.
 */
export async function requestStop(deps: JobLifecycleDeps, jobId: string, log?: Move['log']): Promise<Moved & { changed?: boolean }> {
  // A job may move between the read and the write (claimed, requeued): look again.
  for (let attempt = 0; attempt < 3; attempt++) {
    const row = await deps.db.job.findUnique({ where: { id: jobId }, include: includeOwner })
    if (!row) return { moved: false, status: null, message: `Job ${jobId} no longer exists` }
    const now = new Date()
    const status = row.status as JobStatus
    if (status === 'stopping') return { moved: true, job: viewOf(deps, row), changed: false }
    if (ended.includes(status)) return { moved: false, status, message: `Job ${jobId} has already ended (${status}); there is nothing to stop` }
    const result =
      status === 'pending'
        ? await move(deps, jobId, { from: ['pending'], to: 'cancelled', data: { stoppedAt: now, completedAt: now }, log })
        : await move(deps, jobId, { from: ['running'], to: 'stopping', data: { stoppedAt: now }, log })
    if (result.moved && status === 'running') await deps.bus.publish(topics.trainerStop, { type: 'trainer.stop', jobId })
    if (result.moved) return { ...result, changed: true }
  }
  return { moved: false, status: null, message: `Job ${jobId} changed state while stopping; try again` }
}

/** running | stopping → completed | failed | cancelled, written by the trainer holding the job. */
export function finish(
  deps: JobLifecycleDeps,
  jobId: string,
  heldBy: string | null,
  to: 'completed' | 'failed' | 'cancelled',
  data: Prisma.JobUpdateManyMutationInput = {},
  log?: Move['log'],
): Promise<Moved> {
  const from = (['running', 'stopping'] as const).filter((status) => canTransition(status, to))
  return move(deps, jobId, { from, to, heldBy, data: { completedAt: new Date(), estimatedCompletionTime: null, ...data, workerId: null }, log })
}

/** running → pending: back to the queue (a retry, a trainer shutting down, a trainer that died); it resumes from its last checkpoint. */
export function requeue(deps: JobLifecycleDeps, jobId: string, heldBy: string | null, data: Prisma.JobUpdateManyMutationInput = {}, log?: Move['log']) {
  return move(deps, jobId, { from: ['running'], to: 'pending', heldBy, data: { ...data, workerId: null }, log })
}

/**
 * Live progress of a running job (not a transition), written only while
 * `heldBy` holds it, then published. Undefined when the job is no longer
 * held (deleted, or taken over by a trainer that thought this one dead).
 */
export async function heartbeat(deps: JobLifecycleDeps, jobId: string, heldBy: string, data: Prisma.JobUpdateManyMutationInput): Promise<JobView | undefined> {
  const changed = await deps.db.job.updateMany({ where: { id: jobId, workerId: heldBy }, data: { ...data, heartbeatAt: new Date() } })
  return changed.count === 1 ? publish(deps, jobId) : undefined
}

/**
 * The job leaves the API. Without force it stays in the database with
 * `deletedAt` (a pending job is cancelled on the way: pending → cancelled);
 * with force its row goes. Either way subscribers get the last word on it:
 * an active job ends cancelled. A running job needs force; one that moved
 * meanwhile is refused.
 */
export async function discard(deps: JobLifecycleDeps, job: JobRow, force: boolean): Promise<Moved> {
  const now = new Date()
  const status = job.status as JobStatus
  if (!force && status === 'pending') {
    return move(deps, job.id, { from: ['pending'], to: 'cancelled', data: { deletedAt: now, stoppedAt: now, completedAt: now } })
  }
  if (!force && !ended.includes(status)) return { moved: false, status, message: `Job ${job.id} is ${status}` }
  const removed = force
    ? await deps.db.job.deleteMany({ where: { id: job.id } })
    : await deps.db.job.updateMany({ where: { id: job.id, status }, data: { deletedAt: now } })
  if (removed.count === 0) return refusal(deps, job.id, { from: [status], to: status })
  const last = ended.includes(status) ? {} : { status: 'cancelled', stoppedAt: job.stoppedAt ?? now, completedAt: now }
  const view = viewOf(deps, { ...job, ...last, updatedAt: now })
  await publishJobUpdated(deps.bus, job.ownerId, view)
  return { moved: true, job: view }
}

/** The operations bound to one database and bus, as the services and the trainer hold them. */
export function createJobLifecycle(deps: JobLifecycleDeps) {
  return {
    viewOf: (row: JobRow) => viewOf(deps, row),
    publish: (jobId: string) => publish(deps, jobId),
    move: (jobId: string, change: Move) => move(deps, jobId, change),
    queue: <R extends Prisma.PrismaPromise<unknown>[]>(row: Prisma.JobUncheckedCreateInput, ...alongside: R) => queue(deps, row, ...alongside),
    claimNext: (workerId: string, available: ReadonlyMap<string, number>) => claimNext(deps, workerId, available),
    requestStop: (jobId: string, log?: Move['log']) => requestStop(deps, jobId, log),
    finish: (jobId: string, heldBy: string | null, to: 'completed' | 'failed' | 'cancelled', data?: Prisma.JobUpdateManyMutationInput, log?: Move['log']) =>
      finish(deps, jobId, heldBy, to, data, log),
    requeue: (jobId: string, heldBy: string | null, data?: Prisma.JobUpdateManyMutationInput, log?: Move['log']) => requeue(deps, jobId, heldBy, data, log),
    heartbeat: (jobId: string, heldBy: string, data: Prisma.JobUpdateManyMutationInput) => heartbeat(deps, jobId, heldBy, data),
    discard: (job: JobRow, force: boolean) => discard(deps, job, force),
  }
}

export type JobLifecycle = ReturnType<typeof createJobLifecycle>
