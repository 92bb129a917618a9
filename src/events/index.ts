// Topic names and payloads of the event bus, shared by the API and the
// trainer. Payloads are plain JSON (ISO strings, no Dates).
import type { JobView } from '../domain/views.ts'
import type { TuningView } from '../domain/tuning-view.ts'
import type { ExportView } from '../domain/exports.ts'

export const topics = {
  /** Every change of one job. */
  job: (jobId: string) => `job.${jobId}`,
  /** Every change of any job a user owns. */
  userJobs: (userId: string) => `user.${userId}.jobs`,
  /** Every change of one tuning: a trial suggested, reporting, pruned or ended; the tuning's state. */
  tuning: (tuningId: string) => `tuning.${tuningId}`,
  /** Sent by the API when a tuning is created or asked to stop, so that a trainer looks at once. */
  tuningWake: 'tuning.wake',
  /** Every change of one export (processing → completed | failed). */
  export: (exportId: string) => `export.${exportId}`,
  /** Sent by the API when an export is asked for, so that a trainer starts it at once. */
  exportWake: 'export.wake',
}

export interface ExportUpdatedEvent {
  type: 'export.updated'
  ownerId: string
  export: ExportView
}

export async function publishExportUpdated(bus: { publish(topic: string, payload: unknown): Promise<void> }, ownerId: string, view: ExportView): Promise<void> {
  const event: ExportUpdatedEvent = { type: 'export.updated', ownerId, export: view }
  await bus.publish(topics.export(view.id), event)
}

export interface TuningUpdatedEvent {
  type: 'tuning.updated'
  ownerId: string
  tuning: TuningView
}

export async function publishTuningUpdated(
  bus: { publish(topic: string, payload: unknown): Promise<void> },
  ownerId: string,
  tuning: TuningView,
): Promise<void> {
  const event: TuningUpdatedEvent = { type: 'tuning.updated', ownerId, tuning }
  await bus.publish(topics.tuning(tuning.id), event)
}

export interface JobUpdatedEvent {
  type: 'job.updated'
  ownerId: string
  job: JobView
}

/** Publishes a job's new state to its own topic and to its owner's (API and trainer alike). */
export async function publishJobUpdated(bus: { publish(topic: string, payload: unknown): Promise<void> }, ownerId: string, job: JobView): Promise<void> {
  const event: JobUpdatedEvent = { type: 'job.updated', ownerId, job }
  await Promise.all([bus.publish(topics.job(job.id), event), bus.publish(topics.userJobs(ownerId), event)])
}

export const trainingTopics = {
  /** Metric points of one job, in step order, a few steps per event. */
  jobMetrics: (jobId: string) => `job.${jobId}.metrics`,
  /** Log lines of one job, one per event. */
  jobLogs: (jobId: string) => `job.${jobId}.logs`,
  /** Sent by the API when jobs are queued or stopped, so that trainers look at once instead of at their next poll. */
  trainerWake: 'trainer.wake',
  /** Sent by the API when a user stops a running job; the trainer holding it stops it at the next step. */
  trainerStop: 'trainer.stop',
}

/** One stored metric value. `epoch` is fractional for training steps (1.5 = halfway through epoch 2), whole for validation. */
export interface MetricPointView {
  name: string
  step: number
  epoch: number | null
  value: number
  timestamp: string
}

export interface JobMetricsEvent {
  type: 'job.metrics'
  ownerId: string
  jobId: string
  /** In step order. */
  points: MetricPointView[]
  /** When the trainer emitted the event (ISO, ms): lets clients and benchmarks measure delivery latency. */
  emittedAt: string
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export const logSeverity: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }
export const logLevels = Object.keys(logSeverity) as LogLevel[]

export interface JobLogView {
  timestamp: string
  level: LogLevel
  message: string
  step: number | null
  epoch: number | null
  metrics: Record<string, number> | null
}

export interface JobLogEvent {
  type: 'job.log'
  ownerId: string
  jobId: string
  log: JobLogView
  emittedAt: string
}

export interface TrainerStopEvent {
  type: 'trainer.stop'
  jobId: string
}
