// The job queue as the trainer sees it: pending jobs, taken in priority then
// creation order, claimed atomically so that two trainers never run one job.
import type { Db, Job } from '../src/infra/db.ts'

/**
 * Claims the next pending job for `workerId` among instance types with free
 * instances (`available`: type → free instances): pending → running, with the
 * claim recorded. A job asking for more instances than are free waits while
 * later, smaller jobs go ahead. Returns undefined when none can start.
 */
export async function claimNextJob(db: Db, workerId: string, available: ReadonlyMap<string, number>): Promise<Job | undefined> {
  const fits = [...available].filter(([, free]) => free > 0).map(([instanceType, free]) => ({ instanceType, instanceCount: { lte: free } }))
  if (fits.length === 0) return undefined
  for (let attempt = 0; attempt < 5; attempt++) {
    const next = await db.job.findFirst({
      where: { status: 'pending', deletedAt: null, OR: fits },
      orderBy: [{ priority: 'desc' }, { createdAt: 'asc' }, { id: 'asc' }],
      select: { id: true, startedAt: true },
    })
    if (!next) return undefined
    const now = new Date()
    const claimed = await db.job.updateMany({
      where: { id: next.id, status: 'pending' },
      // startedAt stays that of the first attempt: elapsed time and cost cover retries too.
      data: { status: 'running', workerId, heartbeatAt: now, startedAt: next.startedAt ?? now, attempts: { increment: 1 } },
    })
    // Another trainer (or a stop) got there first: look again.
    if (claimed.count === 1) return (await db.job.findUnique({ where: { id: next.id } })) ?? undefined
  }
  return undefined
}
