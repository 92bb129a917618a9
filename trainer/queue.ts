// The job queue as the trainer sees it: pending jobs, taken in priority then
// creation order, claimed atomically so that two trainers never run one job.
import type { Db, Job } from '../src/infra/db.ts'

/**
 * Claims the next pending job of one of `instanceTypes` for `workerId`:
 * pending → running, with the claim recorded. Returns undefined when none waits.
 */
export async function claimNextJob(db: Db, workerId: string, instanceTypes: readonly string[]): Promise<Job | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const next = await db.job.findFirst({
      where: { status: 'pending', deletedAt: null, instanceType: { in: [...instanceTypes] } },
      orderBy: [{ priority: 'desc' }, { createdAt: 'asc' }, { id: 'asc' }],
      select: { id: true },
    })
    if (!next) return undefined
    const now = new Date()
    const claimed = await db.job.updateMany({
      where: { id: next.id, status: 'pending' },
      data: { status: 'running', workerId, heartbeatAt: now, startedAt: now, attempts: { increment: 1 } },
    })
    // Another trainer (or a stop) got there first: look again.
    if (claimed.count === 1) return (await db.job.findUnique({ where: { id: next.id } })) ?? undefined
  }
  return undefined
}
