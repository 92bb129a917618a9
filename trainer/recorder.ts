// What a running job produces, recorded: log lines and metric points are
// published on the event bus as they come and written to the database in
// batches (one transaction per flush, not one write per step).
import type { HistoryWriter } from '../src/infra/history-writer.ts'
import type { EventBus } from '../src/infra/event-bus.ts'
import { logSeverity, topics, type JobLogEvent, type JobLogView, type JobMetricsEvent, type MetricPointView, type Topic } from '../src/events/index.ts'
import type { Logger } from 'pino'

/** Metric events go out at most this often per job (a few steps per event for fast models). */
const metricsEventInterval = 50

export function createRecorder(deps: { history: HistoryWriter; bus: EventBus; logger: Logger; jobId: string; ownerId: string }) {
  const { history, bus, logger, jobId, ownerId } = deps
  let logs: (JobLogView & { at: Date })[] = []
  let points: MetricPointView[] = []
  let unpublished: MetricPointView[] = []
  let publishTimer: NodeJS.Timeout | undefined
  let writing: Promise<void> = Promise.resolve()

  const publish = <T>(topic: Topic<T>, payload: NoInfer<T>) =>
    bus.publish(topic, payload).catch((error: unknown) => logger.warn({ err: error, jobId }, 'could not publish a training event'))

  function publishMetrics() {
    publishTimer = undefined
    if (unpublished.length === 0) return
    const event: JobMetricsEvent = { type: 'job.metrics', ownerId, jobId, points: unpublished, emittedAt: new Date().toISOString() }
    unpublished = []
    void publish(topics.jobMetrics(jobId), event)
  }

  return {
    log(entry: Omit<JobLogView, 'timestamp'> & { at?: number }) {
      const at = new Date(entry.at ?? Date.now())
      // Log lines carry whole epochs (as the spec's examples do); metric points keep the fraction.
      const epoch = entry.epoch === null ? null : Math.floor(entry.epoch)
      const view: JobLogView = { timestamp: at.toISOString(), level: entry.level, message: entry.message, step: entry.step, epoch, metrics: entry.metrics }
      logs.push({ ...view, at })
      const event: JobLogEvent = { type: 'job.log', ownerId, jobId, log: view, emittedAt: new Date().toISOString() }
      void publish(topics.jobLogs(jobId), event)
    },

    metrics(step: number, epoch: number, values: Record<string, number>, at: number) {
      const timestamp = new Date(at).toISOString()
      for (const [name, value] of Object.entries(values)) {
        if (!Number.isFinite(value)) continue
        const point = { name, step, epoch, value, timestamp }
        points.push(point)
        unpublished.push(point)
      }
      // The first point of a burst goes out at once; the rest of it within metricsEventInterval.
      if (!publishTimer) {
        publishMetrics()
        publishTimer = setTimeout(publishMetrics, metricsEventInterval)
      }
    },

    /** Writes what was buffered; calls are serialized so rows land in order. */
    flush(): Promise<void> {
      const batchLogs = logs
      const batchPoints = points
      logs = []
      points = []
      if (batchLogs.length === 0 && batchPoints.length === 0) return writing
      writing = writing.then(async () => {
        try {
          await history.write(
            batchPoints.map((point) => ({
              jobId,
              name: point.name,
              step: point.step,
              epoch: point.epoch,
              value: point.value,
              timestamp: new Date(point.timestamp),
            })),
            batchLogs.map((log) => ({
              jobId,
              timestamp: log.at,
              level: log.level,
              severity: logSeverity[log.level],
              message: log.message,
              step: log.step,
              epoch: log.epoch,
              metrics: log.metrics,
            })),
          )
        } catch (error) {
          // The job row may be gone (deleted with force): its history goes with it.
          logger.warn({ err: error, jobId }, 'could not record training logs and metrics')
        }
      })
      return writing
    },

    /** Publishes what is pending and writes the rest. */
    async close() {
      if (publishTimer) clearTimeout(publishTimer)
      publishMetrics()
      await this.flush()
    },
  }
}

export type Recorder = ReturnType<typeof createRecorder>
