// Instance types with their current use (GET /v1/training/resources), the
// capacity check every new job goes through, and whether any trainer is
// alive (the heartbeat each trainer writes, trainer/heartbeat.ts).
import type { Db } from '../infra/db.ts'
import type { InstanceType } from '../domain/instance-types.ts'
import { CapacityError, InvalidInputError } from '../errors/index.ts'

export interface InstanceTypeUsage extends InstanceType {
  /** Instances held by running or stopping jobs. */
  inUse: number
  /** Instances free right now. */
  available: number
  /** Jobs of this type waiting in the queue. */
  queued: number
}

/** Whether a trainer is taking jobs: one has written its heartbeat within the timeout. */
export interface TrainerLiveness {
  alive: boolean
  /** The newest heartbeat of any trainer (ISO), or null when none was ever recorded. */
  lastSeenAt: string | null
  /** Trainers with a heartbeat within the timeout. */
  trainers: number
  /**
   * No trainer for the whole timeout (counted from this process's start until
   * one has reported): pending jobs get no start estimate and creates warn.
   */
  missing: boolean
  timeoutSeconds: number
}

/** How long an answer that a trainer is alive is reused (reads of every job view ask). */
const aliveCacheMs = 2000

export function createResourceService(deps: {
  db: Db
  instanceTypes: readonly InstanceType[]
  trainerConcurrency: number
  gpus: number
  /** TRAINER_HEARTBEAT_TIMEOUT_SECONDS: a trainer silent for longer counts as gone (default 30). */
  trainerHeartbeatTimeoutSeconds?: number
}) {
  const { db, instanceTypes } = deps
  const byName = new Map(instanceTypes.map((type) => [type.name, type]))
  const timeoutMs = (deps.trainerHeartbeatTimeoutSeconds ?? 30) * 1000
  // Until a trainer has reported, the timeout counts from this process's start: a worker starting alongside has time to report.
  const startedAt = Date.now()
  let cached: { liveness: TrainerLiveness; until: number } | undefined

  async function trainerLiveness(now = Date.now()): Promise<TrainerLiveness> {
    if (cached && now < cached.until) return cached.liveness
    const since = new Date(now - timeoutMs)
    const [newest, trainers] = await Promise.all([
      db.trainerHeartbeat.findFirst({ orderBy: { seenAt: 'desc' }, select: { seenAt: true } }),
      db.trainerHeartbeat.count({ where: { seenAt: { gte: since } } }),
    ])
    const lastSeenAt = newest?.seenAt.toISOString() ?? null
    const alive = trainers > 0
    const missing = !alive && now - Math.max(startedAt, newest?.seenAt.getTime() ?? 0) >= timeoutMs
    const liveness = { alive, lastSeenAt, trainers, missing, timeoutSeconds: timeoutMs / 1000 }
    // Only a heartbeat seen is worth reusing; an absent trainer is looked for again on the next ask.
    cached = trainers > 0 ? { liveness, until: now + aliveCacheMs } : undefined
    return liveness
  }

  function availableNames(): string[] {
    return instanceTypes.filter((type) => type.capacity > 0).map((type) => type.name)
  }

  return {
    instanceTypes,
    find: (name: string) => byName.get(name),
    trainerLiveness,

    /**
     * The instance type a job asks for, if this deployment can ever run it:
     * unknown → 400 E1108; known but without capacity here → 503 E1103 naming what is available.
     */
    requireRunnable(name: string, instanceCount: number): InstanceType {
      const type = byName.get(name)
      if (!type) {
        throw InvalidInputError.fromProblems([
          {
            field: 'resources.instanceType',
            message: `unknown instance type ${JSON.stringify(name)}; known types: ${instanceTypes.map((t) => t.name).join(', ')}`,
          },
        ])
      }
      if (type.capacity === 0) {
        const reason = type.gpus > 0 ? 'no GPU backend is present on this deployment' : 'this deployment has too few vCPUs for it'
        throw new CapacityError(`Instance type ${name} has no capacity here (${reason}); available instance types: ${availableNames().join(', ') || 'none'}`)
      }
      if (instanceCount > type.capacity) {
        throw new CapacityError(
          `Instance type ${name} has capacity for ${type.capacity} instance${type.capacity === 1 ? '' : 's'} here; the job asks for ${instanceCount}`,
        )
      }
      return type
    },

    async usage(): Promise<{ instanceTypes: InstanceTypeUsage[]; trainerConcurrency: number; gpus: number; runningJobs: number; queuedJobs: number }> {
      const [running, queued] = await Promise.all([
        db.job.groupBy({ by: ['instanceType'], where: { status: { in: ['running', 'stopping'] } }, _sum: { instanceCount: true }, _count: { _all: true } }),
        db.job.groupBy({ by: ['instanceType'], where: { status: 'pending' }, _count: { _all: true } }),
      ])
      const inUse = new Map(running.map((row) => [row.instanceType, row._sum.instanceCount ?? 0]))
      const waiting = new Map(queued.map((row) => [row.instanceType, row._count._all]))
      return {
        instanceTypes: instanceTypes.map((type) => {
          const used = inUse.get(type.name) ?? 0
          return { ...type, inUse: used, available: Math.max(0, type.capacity - used), queued: waiting.get(type.name) ?? 0 }
        }),
        trainerConcurrency: deps.trainerConcurrency,
        gpus: deps.gpus,
        runningJobs: running.reduce((sum, row) => sum + row._count._all, 0),
        queuedJobs: queued.reduce((sum, row) => sum + row._count._all, 0),
      }
    },
  }
}

export type ResourceService = ReturnType<typeof createResourceService>
