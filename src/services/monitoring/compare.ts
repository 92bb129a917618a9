// Jobs side by side: results, duration, cost, the configuration that
// differs, and the best of them by a test metric.
import type { Db } from '../../infra/db.ts'
import { InvalidInputError, NotFoundError, type FieldProblem } from '../../errors/index.ts'
import type { JobView } from '../../domain/views.ts'
import type { Principal } from '../auth.ts'
import type { JobService } from '../jobs.ts'
import { evaluationMetricsOf } from '../../domain/json-columns.ts'

export const compareRange = { min: 2, max: 20 }

export interface ComparedJob {
  id: string
  name: string
  status: JobView['status']
  model: JobView['model']
  dataset: JobView['dataset']
  hyperparameters: JobView['hyperparameters']
  finalMetrics: JobView['metrics']
  testMetrics: Record<string, number> | null
  /** Seconds from start to end; null until the job has ended (or when it never started). */
  duration: number | null
  cost: { actualCost: number | null; estimatedCost: number | null }
  /** The whole job, for callers that want more than the comparison shows. */
  job: JobView
}

export interface Comparison {
  jobs: ComparedJob[]
  /** Configuration paths whose values differ, each with one value per job in the order asked (null where a job lacks it). */
  differences: Record<string, unknown[]>
  /** Highest test accuracy (classification) or lowest test RMSE (regression); null without evaluations or across task families. */
  best: { metric: string; jobId: string; value: number } | null
}

const configGroups = ['model', 'dataset', 'hyperparameters', 'options'] as const

const isRegression = (task: string) => task === 'tabular-regression'

/** Leaves of plain objects under `prefix`, as dotted paths; arrays are values. */
function flatten(value: unknown, prefix: string, out: Map<string, unknown>) {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) flatten(inner, `${prefix}.${key}`, out)
  } else {
    out.set(prefix, value)
  }
}

function differencesOf(jobs: readonly JobView[]): Record<string, unknown[]> {
  const flat = jobs.map((job) => {
    const out = new Map<string, unknown>()
    for (const group of configGroups) flatten(job[group], group, out)
    return out
  })
  const paths: string[] = []
  for (const map of flat) for (const path of map.keys()) if (!paths.includes(path)) paths.push(path)
  const differences: Record<string, unknown[]> = {}
  for (const path of paths) {
    const values = flat.map((map) => map.get(path) ?? null)
    if (new Set(values.map((v) => JSON.stringify(v))).size > 1) differences[path] = values
  }
  return differences
}

function bestOf(jobs: readonly ComparedJob[]): Comparison['best'] {
  const regression = new Set(jobs.map((job) => isRegression(job.model.task)))
  if (regression.size > 1) return null
  const lowerIsBetter = regression.has(true)
  const metric = lowerIsBetter ? 'rmse' : 'accuracy'
  let best: Comparison['best'] = null
  for (const job of jobs) {
    const value = job.testMetrics?.[metric]
    if (typeof value !== 'number' || !Number.isFinite(value)) continue
    if (!best || (lowerIsBetter ? value < best.value : value > best.value)) best = { metric, jobId: job.id, value }
  }
  return best
}

export function createComparison(deps: { db: Db; jobs: JobService }) {
  const { db, jobs } = deps
  return {
    /** Jobs side by side: results, duration, cost, the configuration that differs, and the best by test metric. */
    async compare(principal: Principal, ids: readonly string[], field = 'ids'): Promise<Comparison> {
      const problems: FieldProblem[] = []
      if (ids.length < compareRange.min || ids.length > compareRange.max) {
        problems.push({ field, message: `must list from ${compareRange.min} to ${compareRange.max} job ids (got ${ids.length})` })
      }
      if (ids.some((id) => id.trim() === '')) problems.push({ field, message: 'must not contain empty ids' })
      const repeated = [...new Set(ids.filter((id, i) => ids.indexOf(id) !== i))]
      if (repeated.length > 0) problems.push({ field, message: `lists ${repeated.join(', ')} more than once` })
      if (problems.length > 0) throw InvalidInputError.fromProblems(problems)

      const found = await Promise.all(
        ids.map((id) => jobs.get(principal, id).catch((error: unknown) => (error instanceof NotFoundError ? id : Promise.reject(error)))),
      )
      const missing = found.filter((entry): entry is string => typeof entry === 'string')
      if (missing.length > 0) {
        const names = missing.map((id) => JSON.stringify(id)).join(', ')
        throw new NotFoundError('job', missing[0], missing.length === 1 ? `Job ${names} not found` : `Jobs ${names} not found`)
      }
      const views = found as JobView[]
      const evaluations = await db.evaluation.findMany({ where: { jobId: { in: [...ids] } }, select: { jobId: true, metrics: true } })
      const testMetrics = new Map(evaluations.map((row) => [row.jobId, evaluationMetricsOf(row)]))
      const compared = views.map((job): ComparedJob => {
        const { startedAt, completedAt } = job.time
        return {
          id: job.id,
          name: job.name,
          status: job.status,
          model: job.model,
          dataset: job.dataset,
          hyperparameters: job.hyperparameters,
          finalMetrics: job.metrics,
          testMetrics: testMetrics.get(job.id) ?? null,
          duration: startedAt && completedAt ? (Date.parse(completedAt) - Date.parse(startedAt)) / 1000 : null,
          cost: { actualCost: job.cost.actualCost, estimatedCost: job.cost.estimatedCost },
          job,
        }
      })
      return { jobs: compared, differences: differencesOf(views), best: bestOf(compared) }
    },
  }
}
