// Start and completion estimates of queued jobs, refreshed by the trainer
// whenever the queue moves (a job starts or ends): running jobs end when
// their measured throughput says, queued ones take their estimated duration.
import type { Db } from '../src/infra/db.ts'
import type { InstanceType } from '../src/domain/instance-types.ts'
import { runningEntryOf, simulateQueue } from '../src/domain/queue-estimate.ts'

/** Queues longer than this keep the estimates they got when created. */
const refreshLimit = 2000
/** Changes smaller than this are not worth a write. */
const toleranceMs = 5000

export async function refreshQueueEstimates(db: Db, instanceTypes: readonly InstanceType[], concurrency: number, now = Date.now()): Promise<number> {
  const [running, queued] = await Promise.all([
    db.job.findMany({
      where: { status: { in: ['running', 'stopping'] } },
      select: { instanceType: true, instanceCount: true, estimatedCompletionTime: true, startedAt: true, estimatedDuration: true },
    }),
    db.job.findMany({
      where: { status: 'pending', deletedAt: null },
      select: { id: true, instanceType: true, instanceCount: true, estimatedDuration: true, estimatedStartTime: true, estimatedCompletionTime: true },
      orderBy: [{ priority: 'desc' }, { createdAt: 'asc' }, { id: 'asc' }],
      take: refreshLimit + 1,
    }),
  ])
  if (queued.length === 0 || queued.length > refreshLimit) return 0
  const capacity = new Map(instanceTypes.map((type) => [type.name, type.capacity]))
  const estimates = simulateQueue(
    now,
    running.map((job) => runningEntryOf(job, now)),
    queued.map((job) => ({ id: job.id, instanceType: job.instanceType, instanceCount: job.instanceCount, durationMs: (job.estimatedDuration ?? 0) * 1000 })),
    (type) => capacity.get(type) ?? 0,
    concurrency,
  )
  const changes = queued.flatMap((job) => {
    const estimate = estimates.get(job.id)
    if (!estimate) return []
    const moved = Math.abs((job.estimatedStartTime?.getTime() ?? 0) - estimate.startsAt) > toleranceMs
    return moved
      ? [
          db.job.updateMany({
            where: { id: job.id, status: 'pending' },
            data: { estimatedStartTime: new Date(estimate.startsAt), estimatedCompletionTime: new Date(estimate.endsAt) },
          }),
        ]
      : []
  })
  if (changes.length > 0) await db.$transaction(changes)
  return changes.length
}
