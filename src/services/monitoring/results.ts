// What a job leaves behind: its checkpoints and its test-set evaluation.
import type { Db } from '../../infra/db.ts'
import { DomainError, ErrorCodes } from '../../errors/index.ts'
import type { JobView } from '../../domain/views.ts'
import type { Principal } from '../auth.ts'
import type { JobService } from '../jobs.ts'
import { checkpointMetricsOf, evaluationOf } from '../../domain/json-columns.ts'

export interface CheckpointView {
  id: string
  step: number
  epoch: number
  sizeBytes: number
  metrics: Record<string, number> | null
  isBest: boolean
  createdAt: string
}

export interface PerClassMetrics {
  label: string
  precision: number
  recall: number
  f1: number
  support: number
}

export interface EvaluationView {
  jobId: string
  checkpointId: string | null
  split: string
  sampleCount: number
  metrics: Record<string, number>
  perClass: PerClassMetrics[] | null
  confusionMatrix: number[][] | null
  labels: string[] | null
  createdAt: string
}

/** E1109 for a job that has no evaluation (yet). */
export class EvaluationMissingError extends DomainError {
  constructor(message: string) {
    super(ErrorCodes.notFound, message)
  }
}

function missingEvaluationMessage(job: JobView): string {
  const id = job.id
  switch (job.status) {
    case 'pending':
      return `Job ${id} has no evaluation yet: it is queued (pending); the test split is evaluated when training completes`
    case 'running':
      return `Job ${id} has no evaluation yet: it is still running; the test split is evaluated when training completes`
    case 'stopping':
      return `Job ${id} has no evaluation: it is stopping, and a stopped job is not evaluated`
    case 'failed':
      return `Job ${id} has no evaluation: it failed before evaluating${job.error ? ` (${job.error.code}: ${job.error.message})` : ''}`
    case 'cancelled':
      return `Job ${id} has no evaluation: it was cancelled before training completed`
    case 'completed':
      return job.dataset.testSplit === 0
        ? `Job ${id} has no evaluation: it trained without a test split (dataset.testSplit is 0)`
        : `Job ${id} completed but has no evaluation of its test split`
  }
}

export function createResultReads(deps: { db: Db; jobs: JobService }) {
  const { db, jobs } = deps

  /** The job's test-set evaluation, or null when it has none (yet). */
  async function findEvaluation(principal: Principal, jobId: string): Promise<{ job: JobView; evaluation: EvaluationView | null }> {
    const job = await jobs.get(principal, jobId)
    const row = await db.evaluation.findUnique({ where: { jobId } })
    if (!row) return { job, evaluation: null }
    return {
      job,
      evaluation: {
        jobId: row.jobId,
        checkpointId: row.checkpointId,
        split: row.split,
        sampleCount: row.sampleCount,
        ...evaluationOf<PerClassMetrics>(row),
        createdAt: row.createdAt.toISOString(),
      },
    }
  }

  return {
    /** Checkpoints kept for a job, in step order. */
    async checkpoints(principal: Principal, jobId: string): Promise<CheckpointView[]> {
      await jobs.get(principal, jobId)
      const rows = await db.checkpoint.findMany({ where: { jobId }, orderBy: [{ step: 'asc' }, { createdAt: 'asc' }, { id: 'asc' }] })
      return rows.map((row) => ({
        id: row.id,
        step: row.step,
        epoch: row.epoch,
        sizeBytes: Number(row.sizeBytes),
        metrics: checkpointMetricsOf(row),
        isBest: row.isBest,
        createdAt: row.createdAt.toISOString(),
      }))
    },

    /** The job's test-set evaluation, or null when it has none (yet). */
    findEvaluation,

    /** The job's test-set evaluation; E1109 saying why when there is none. */
    async evaluation(principal: Principal, jobId: string): Promise<EvaluationView> {
      const { job, evaluation } = await findEvaluation(principal, jobId)
      if (!evaluation) throw new EvaluationMissingError(missingEvaluationMessage(job))
      return evaluation
    },
  }
}
