// The job state machine as data: which status may follow which (DESIGN's job
// states), and how a finished training run ends. Pure: the operations that
// write these transitions live in src/core/job-lifecycle.ts, and nothing else
// writes a job's status.
import type { JobStatus } from './views.ts'

export type { JobStatus }

/**
 * Allowed transitions. pending → running → completed | failed; a stop:
 * running → stopping → cancelled, pending → cancelled. Added to DESIGN's
 * list: running → pending (a retry, a trainer shutting down, or a trainer
 * that died: the job goes back to the queue and resumes from its last
 * checkpoint), and stopping → completed | failed (the run ended before the
 * stop reached it). A stop always wins over a requeue: there is no
 * stopping → pending.
 */
export const jobTransitions: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  pending: ['running', 'cancelled'],
  running: ['stopping', 'completed', 'failed', 'pending'],
  stopping: ['cancelled', 'completed', 'failed'],
  completed: [],
  failed: [],
  cancelled: [],
}

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return jobTransitions[from].includes(to)
}

/** The statuses a job may be in to move to `to`. */
export function sourcesOf(to: JobStatus): JobStatus[] {
  return (Object.keys(jobTransitions) as JobStatus[]).filter((from) => canTransition(from, to))
}

/** How a training run ended, as the trainer saw it. */
export type RunOutcome = { kind: 'completed' | 'early-stopped' | 'stopped' | 'timeout'; step: number } | { kind: 'failed'; message: string; badInput: boolean }

/** Why a running job was asked to stop: a user's stop (or a tuning's prune), its time limit, or its trainer shutting down. */
export type StopReason = 'stop' | 'timeout' | 'shutdown'

/** The status a run ends in and why (the runner's log line says which). */
export type EndState =
  | { status: 'completed'; why: 'finished' }
  | { status: 'completed'; why: 'early-stopped'; step: number }
  | { status: 'cancelled'; why: 'stopped'; step: number }
  | { status: 'cancelled'; why: 'ended-while-stopping'; message: string }
  | { status: 'failed'; why: 'timeout'; step: number }
  | { status: 'failed'; why: 'error'; message: string }
  | { status: 'pending'; why: 'shutdown'; step: number | null }
  | { status: 'pending'; why: 'retry'; message: string }

/**
 * The end state of a run. A run that finished counts as finished whatever
 * was asked meanwhile; a trainer shutting down queues its jobs again; a
 * stopped run is cancelled; a failure is retried while retries are left,
 * unless the input is at fault.
 */
export function endStateOf(outcome: RunOutcome, stopReason: StopReason | null, retriesLeft: number): EndState {
  if (outcome.kind === 'failed') {
    if (stopReason === 'shutdown') return { status: 'pending', why: 'shutdown', step: null }
    if (stopReason === 'stop') return { status: 'cancelled', why: 'ended-while-stopping', message: outcome.message }
    if (!outcome.badInput && retriesLeft > 0) return { status: 'pending', why: 'retry', message: outcome.message }
    return { status: 'failed', why: 'error', message: outcome.message }
  }
  const step = outcome.step
  if (outcome.kind === 'completed') return { status: 'completed', why: 'finished' }
  if (outcome.kind === 'early-stopped') return { status: 'completed', why: 'early-stopped', step }
  if (stopReason === 'shutdown') return { status: 'pending', why: 'shutdown', step }
  return outcome.kind === 'timeout' ? { status: 'failed', why: 'timeout', step } : { status: 'cancelled', why: 'stopped', step }
}
