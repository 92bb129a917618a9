// Jobs whose trainer died: a running job goes back to the queue and resumes
// from its last checkpoint; a stopping one ends cancelled with its last
// checkpoint. At once when the holder's process is gone from this host,
// else after its heartbeat has been silent for `staleMs`.
import type { Logger } from 'pino'
import type { Db } from '../src/infra/db.ts'
import type { JobLifecycle } from '../src/core/job-lifecycle.ts'
import { processGone } from './liveness.ts'

export async function recoverAbandonedJobs(deps: { db: Db; lifecycle: JobLifecycle; logger: Logger; workerId: string; staleMs: number }): Promise<void> {
  const { db, lifecycle, logger } = deps
  const held = await db.job.findMany({
    where: { status: { in: ['running', 'stopping'] }, NOT: { workerId: deps.workerId } },
    select: { id: true, status: true, workerId: true, heartbeatAt: true, step: true },
  })
  const now = Date.now()
  for (const job of held) {
    const stale = !job.heartbeatAt || now - job.heartbeatAt.getTime() > deps.staleMs
    if (!stale && !processGone(job.workerId)) continue
    if (job.status === 'stopping') {
      const message = `The trainer holding this job (${job.workerId}) stopped while the job was stopping; it ends cancelled with its last checkpoint`
      const ended = await lifecycle.finish(job.id, job.workerId, 'cancelled', {}, { level: 'warn', message, step: job.step })
      if (ended.moved) logger.warn({ jobId: job.id, previous: job.workerId }, 'abandoned stopping job cancelled')
    } else {
      const message = `The trainer holding this job (${job.workerId}) stopped responding at step ${job.step ?? 0}; the job is queued again and resumes from its last checkpoint`
      const queued = await lifecycle.requeue(job.id, job.workerId, {}, { level: 'warn', message, step: job.step })
      if (queued.moved) logger.warn({ jobId: job.id, previous: job.workerId }, 'abandoned job queued again')
    }
  }
}
