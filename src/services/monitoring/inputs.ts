// Checks of monitoring inputs shared by the reads and the live feed: integer
// ranges and metric names, each reported as E1108 naming the caller's field.
import type { Db } from '../../infra/db.ts'
import { InvalidInputError, type FieldProblem } from '../../errors/index.ts'
import { metricNamesFor, type JobView } from '../../domain/views.ts'

/** The name each input has where the caller took it from (REST query parameter or GraphQL argument), for E1108 details. */
export type ParamNames<K extends string> = Partial<Record<K, string>>

/** E1108 unless `value` is absent or an integer within `range`. */
export function checkIntRange(value: number | undefined, range: { min: number; max: number }, field: string) {
  if (value === undefined) return
  if (!Number.isInteger(value) || value < range.min || value > range.max) {
    throw InvalidInputError.fromProblems([{ field, message: `must be an integer from ${range.min} to ${range.max}` }])
  }
}

/** Names a metric filter may use: the task's metric names and any stored for the job. E1108 for others; the names without repeats. */
export async function checkMetricNames(db: Db, job: JobView, names: readonly string[], field: string): Promise<string[]> {
  const problems: FieldProblem[] = []
  const unique = [...new Set(names)]
  if (names.some((name) => name.trim() === '')) problems.push({ field, message: 'must not contain empty names' })
  const known = metricNamesFor(job.model.task)
  const unknown = unique.filter((name) => name.trim() !== '' && !known.includes(name))
  if (unknown.length > 0) {
    const stored = (await db.metricPoint.groupBy({ by: ['name'], where: { jobId: job.id } })).map((row) => row.name)
    const invalid = unknown.filter((name) => !stored.includes(name))
    if (invalid.length > 0) {
      const valid = [...known, ...stored.filter((name) => !known.includes(name)).sort()]
      problems.push({
        field,
        message: `unknown metric ${invalid.map((n) => JSON.stringify(n)).join(', ')} for this ${job.model.task} job; valid names: ${valid.join(', ')}`,
      })
    }
  }
  if (problems.length > 0) throw InvalidInputError.fromProblems(problems)
  return unique
}
