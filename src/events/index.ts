// Topic names and payloads of the event bus, shared by the API and the
// trainer, in one typed map: a topic carries the type of its payload, so
// `bus.publish(topic, payload)` and `bus.subscribe(topic)` are checked by the
// compiler. Payloads are plain JSON (ISO strings, no Dates).
import type { JobView } from '../domain/views.ts'
import type { TuningView } from '../domain/tuning-view.ts'
import type { ExportView } from '../domain/exports.ts'

declare const payloadType: unique symbol

/** A bus topic whose events carry payloads of type `T` (a string at run time). */
export type Topic<T> = string & { readonly [payloadType]: T }

/** Names a topic with the type of its payload; the map below uses it for every topic there is. */
export function defineTopic<T>(name: string): Topic<T> {
  return name as Topic<T>
}

export const topics = {
  /** Every change of one job. */
  job: (jobId: string) => defineTopic<JobUpdatedEvent>(`job.${jobId}`),
  /** Every change of any job a user owns. */
  userJobs: (userId: string) => defineTopic<JobUpdatedEvent>(`user.${userId}.jobs`),
  /** Metric points of one job, in step order, a few steps per event. */
  jobMetrics: (jobId: string) => defineTopic<JobMetricsEvent>(`job.${jobId}.metrics`),
  /** Log lines of one job, one per event. */
  jobLogs: (jobId: string) => defineTopic<JobLogEvent>(`job.${jobId}.logs`),
  /** Every change of one tuning: a trial suggested, reporting, pruned or ended; the tuning's state. */
  tuning: (tuningId: string) => defineTopic<TuningUpdatedEvent>(`tuning.${tuningId}`),
  /** Every change of one export (processing → completed | failed). */
  export: (exportId: string) => defineTopic<ExportUpdatedEvent>(`export.${exportId}`),
  /** Sent by the API when jobs are queued or stopped, so that trainers look at once instead of at their next poll. */
  trainerWake: defineTopic<WakeEvent>('trainer.wake'),
  /** Sent when a running job is asked to stop; the trainer holding it stops it at the next step. */
  trainerStop: defineTopic<TrainerStopEvent>('trainer.stop'),
  /** Sent by the API when a tuning is created or asked to stop, so that a trainer looks at once. */
  tuningWake: defineTopic<WakeEvent>('tuning.wake'),
  /** Sent by the API when an export is asked for, so that a trainer starts it at once. */
  exportWake: defineTopic<WakeEvent>('export.wake'),
}

/** What a wake-up names (for logs); the receiver looks at the database either way. */
export interface WakeEvent {
  jobId?: string
  tuningId?: string
  exportId?: string
}

/** The one thing every bus can do that publishers need; lets publish helpers take any bus. */
export interface Publisher {
  publish<T>(topic: Topic<T>, payload: NoInfer<T>): Promise<void>
}

export interface ExportUpdatedEvent {
  type: 'export.updated'
  ownerId: string
  export: ExportView
}

export async function publishExportUpdated(bus: Publisher, ownerId: string, view: ExportView): Promise<void> {
  await bus.publish(topics.export(view.id), { type: 'export.updated', ownerId, export: view })
}

export interface TuningUpdatedEvent {
  type: 'tuning.updated'
  ownerId: string
  tuning: TuningView
}

export async function publishTuningUpdated(bus: Publisher, ownerId: string, tuning: TuningView): Promise<void> {
  await bus.publish(topics.tuning(tuning.id), { type: 'tuning.updated', ownerId, tuning })
}

export interface JobUpdatedEvent {
  type: 'job.updated'
  ownerId: string
  job: JobView
}

/** Publishes a job's new state to its own topic and to its owner's (API and trainer alike). */
export async function publishJobUpdated(bus: Publisher, ownerId: string, job: JobView): Promise<void> {
  const event: JobUpdatedEvent = { type: 'job.updated', ownerId, job }
  await Promise.all([bus.publish(topics.job(job.id), event), bus.publish(topics.userJobs(ownerId), event)])
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
