// How a run's end reads in the job's log and on its row: the line that says
// why it ended, and the fields the end writes (error code and message,
// percentage, cost). The end state itself comes from endStateOf
// (src/domain/job-states.ts).
import type { Prisma } from '../../src/infra/db.ts'
import type { EndState } from '../../src/domain/job-states.ts'
import type { JobConfig } from '../../src/domain/job-config.ts'
import { ErrorCodes } from '../../src/errors/index.ts'
import type { LogLevel } from '../../src/events/index.ts'

/** The error message a failed job records. */
function failureMessage(end: Extract<EndState, { status: 'failed' }>, config: JobConfig): string {
  if (end.why === 'error') return end.message
  return `Training exceeded options.maxRuntimeSeconds (${config.options.maxRuntimeSeconds} s) and was stopped at step ${end.step}; its checkpoint is kept`
}

/** The log line that says how the run ended; null where the end says nothing (a failure while its trainer shuts down). */
export function endLine(end: EndState, config: JobConfig, retriesLeft: number): { level: LogLevel; message: string } | null {
  switch (end.why) {
    case 'finished':
      return { level: 'info', message: 'Training completed' }
    case 'early-stopped':
      return { level: 'info', message: `Training stopped early at step ${end.step} and completed` }
    case 'shutdown':
      return end.step === null
        ? null
        : { level: 'info', message: `Trainer shutting down: checkpointed at step ${end.step} and queued again; it resumes when a trainer starts` }
    case 'stopped':
      return { level: 'info', message: `Training stopped at step ${end.step} on request; checkpoint saved` }
    case 'ended-while-stopping':
      return { level: 'warn', message: `Training process ended while stopping: ${end.message}` }
    case 'retry':
      return {
        level: 'warn',
        message: `Training failed: ${end.message}. Retrying from the last checkpoint (${retriesLeft} ${retriesLeft === 1 ? 'retry' : 'retries'} left)`,
      }
    case 'timeout':
      return { level: 'error', message: failureMessage(end, config) }
    case 'error':
      return { level: 'error', message: `Training failed: ${end.message}` }
  }
}

/** What the end writes to the job row besides its status. */
export function endFields(end: EndState, config: JobConfig): Prisma.JobUpdateManyMutationInput {
  if (end.status === 'completed') return { percentage: 100 }
  if (end.status === 'failed') return { errorCode: ErrorCodes.trainingFailed, errorMessage: failureMessage(end, config) }
  return {}
}
