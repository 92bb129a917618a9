// The live part of a tuning the controller holds: one subscription to the
// metrics of each open trial's job, and the objective values they brought
// that no pass has read yet. Memory only: a trainer that takes the tuning
// over reads the same values back from the stored metric points (see
// trial-sync.ts), so losing this costs a pass, not a result.
import type { Logger } from 'pino'
import type { EventBus } from '../../src/infra/event-bus.ts'
import type { IntermediateValue } from '../../src/domain/tuning-view.ts'
import { topics, type JobMetricsEvent } from '../../src/events/index.ts'

/** The points taken at the end of a whole epoch, as intermediate values. */
export function epochValues(points: readonly { step: number; epoch: number | null; value: number }[]): IntermediateValue[] {
  return points.flatMap(({ step, epoch, value }) => (epoch !== null && Number.isInteger(epoch) ? [{ epoch, step, value }] : []))
}

export interface TrialReportsOptions {
  bus: EventBus
  logger: Logger
  /** Ends every subscription (the controller stopped). */
  signal: AbortSignal
  /** Called when a value arrived, so that a pass reads it soon. */
  onReport: () => void
}

export class TrialReports {
  private readonly options: TrialReportsOptions
  private readonly watchers = new Map<string, AbortController>()
  private readonly unread = new Map<string, IntermediateValue[]>()

  constructor(options: TrialReportsOptions) {
    this.options = options
  }

  watching(trialId: string): boolean {
    return this.watchers.has(trialId)
  }

  /** Keeps every whole-epoch value of `metric` the trial's job reports until a pass takes it. */
  watch(trialId: string, jobId: string, metric: string): void {
    if (this.watchers.has(trialId)) return
    const watcher = new AbortController()
    this.watchers.set(trialId, watcher)
    const signal = AbortSignal.any([watcher.signal, this.options.signal])
    void (async () => {
      const events = await this.options.bus.subscribe<JobMetricsEvent>(topics.jobMetrics(jobId), signal)
      for await (const event of events) {
        const points = epochValues(event.points.filter((point) => point.name === metric))
        if (points.length === 0) continue
        this.unread.set(trialId, [...(this.unread.get(trialId) ?? []), ...points])
        this.options.onReport()
      }
    })().catch((error: unknown) => this.options.logger.warn({ err: error, trialId }, 'trial metrics subscription ended'))
  }

  /** Values reported before the subscription began (read from storage): they come before the live ones. */
  addMissed(trialId: string, points: readonly IntermediateValue[]): void {
    if (points.length > 0) this.unread.set(trialId, [...points, ...(this.unread.get(trialId) ?? [])])
  }

  /** The values no pass has read yet, now read. */
  take(trialId: string): IntermediateValue[] {
    const points = this.unread.get(trialId) ?? []
    this.unread.delete(trialId)
    return points
  }

  /** The trial has ended: no more values are kept for it. */
  forget(trialId: string): void {
    this.watchers.get(trialId)?.abort()
    this.watchers.delete(trialId)
    this.unread.delete(trialId)
  }

  /** Ends every subscription. */
  close(): void {
    for (const watcher of this.watchers.values()) watcher.abort()
    this.watchers.clear()
    this.unread.clear()
  }
}
