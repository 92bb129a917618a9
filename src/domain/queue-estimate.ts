// Start and completion estimates for queued jobs: list scheduling of the
// queue (priority, then creation order) onto the slots of each instance type
// and the trainer's concurrency limit, with durations from measured
// throughput where the service has it and from priors where it has not.

export interface RunningEntry {
  instanceType: string
  instanceCount: number
  /** When the running job is expected to end. */
  endsAt: number
}

/** A running job as the simulation sees it: it ends when its measured throughput says, else after its estimated duration. */
export function runningEntryOf(
  job: { instanceType: string; instanceCount: number; estimatedCompletionTime: Date | null; startedAt: Date | null; estimatedDuration: number | null },
  now: number,
): RunningEntry {
  const endsAt = job.estimatedCompletionTime?.getTime() ?? (job.startedAt?.getTime() ?? now) + (job.estimatedDuration ?? 0) * 1000
  return { instanceType: job.instanceType, instanceCount: job.instanceCount, endsAt }
}

export interface QueuedEntry {
  id: string
  instanceType: string
  instanceCount: number
  durationMs: number
}

export interface Estimate {
  startsAt: number
  endsAt: number
}

/**
 * Simulates the queue from `now`. Jobs never start out of queue order within
 * an instance type (no backfilling), as the trainer schedules them. A job of
 * a type without capacity gets no estimate.
 */
export function simulateQueue(
  now: number,
  running: readonly RunningEntry[],
  queued: readonly QueuedEntry[],
  capacityOf: (instanceType: string) => number,
  concurrency: number,
): Map<string, Estimate> {
  const slots = new Map<string, number[]>()
  const slotsOf = (type: string) => {
    let free = slots.get(type)
    if (!free) {
      free = new Array<number>(capacityOf(type)).fill(now)
      slots.set(type, free)
    }
    return free
  }
  const global = new Array<number>(Math.max(1, concurrency)).fill(now)
  const occupy = (free: number[], count: number, until: number) => {
    free.sort((a, b) => a - b)
    for (let i = 0; i < count && i < free.length; i++) free[i] = until
  }
  for (const job of running) {
    occupy(slotsOf(job.instanceType), job.instanceCount, Math.max(now, job.endsAt))
    occupy(global, 1, Math.max(now, job.endsAt))
  }
  const estimates = new Map<string, Estimate>()
  for (const job of queued) {
    const free = slotsOf(job.instanceType)
    if (free.length < job.instanceCount) continue
    free.sort((a, b) => a - b)
    global.sort((a, b) => a - b)
    const startsAt = Math.max(now, free[job.instanceCount - 1], global[0])
    const endsAt = startsAt + job.durationMs
    occupy(free, job.instanceCount, endsAt)
    global[0] = endsAt
    estimates.set(job.id, { startsAt, endsAt })
  }
  return estimates
}

/** Training work in sample passes: training rows every epoch, plus validation and a final test pass at about a third of the cost. */
export function trainingWork(split: { train: number; validation: number; test: number }, epochs: number): number {
  return split.train * epochs + (split.validation * epochs + split.test) / 3
}
