// The trainer's own heartbeat: a row per trainer process, written when it
// starts and every few seconds after, removed when it stops. The API reads
// it to tell whether any trainer is taking jobs (GET /readyz, job creates,
// the start estimates of pending jobs; src/services/resources.ts).
import type { Logger } from 'pino'
import type { Db } from '../src/infra/db.ts'

/** Rows of trainers that have been silent this long are removed (crashed processes leave theirs behind). */
const pruneAfterMs = 24 * 3600 * 1000

export interface Heartbeat {
  stop(): Promise<void>
}

/** Writes `workerId`'s heartbeat now and every `intervalMs`; stop() removes it. */
export async function startHeartbeat(db: Db, workerId: string, intervalMs: number, logger: Logger): Promise<Heartbeat> {
  const beat = async () => {
    const seenAt = new Date()
    await db.trainerHeartbeat.upsert({ where: { workerId }, create: { workerId, seenAt }, update: { seenAt } })
  }
  await db.trainerHeartbeat.deleteMany({ where: { seenAt: { lt: new Date(Date.now() - pruneAfterMs) } } })
  await beat()
  let pending: Promise<void> = Promise.resolve()
  const timer = setInterval(() => {
    pending = beat().catch((error: unknown) => logger.warn({ err: error }, 'trainer heartbeat not written'))
  }, intervalMs)
  timer.unref()
  return {
    async stop() {
      clearInterval(timer)
      await pending
      await db.trainerHeartbeat.deleteMany({ where: { workerId } }).catch((error: unknown) => logger.warn({ err: error }, 'trainer heartbeat not removed'))
    },
  }
}
