// Query strings of the REST routes: every parameter a route takes, decoded
// from text (numbers, booleans, comma lists, ISO times) and checked. Strict:
// an unknown parameter is E1108 naming it. Services get the typed result.
import { z } from 'zod'
import { maxPageSize, sortOrders } from '../domain/pagination.ts'
import { eitherMessage, oneOfMessage } from '../domain/validation.ts'
import { jobStatuses } from '../domain/views.ts'
import { tuningStatuses } from '../domain/tuning-view.ts'
import { logLevels } from '../events/index.ts'
import { datasetSortFields, datasetTypes } from '../services/datasets.ts'
import { jobSortFields } from '../services/jobs.ts'
import { templateSortFields, templateVisibilities } from '../services/templates.ts'
import { tuningSortFields } from '../services/tunings.ts'

/** Routes that take no parameters. */
export const noQuery = z.strictObject({})

const isoPattern = /^(\d{4})-(\d{2})-(\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2}))?$/

/** A date-time with its zone (or a plain date, midnight UTC). A `+` that a query string turned into a space is taken back. */
const isoTime = z
  .string()
  .transform((text) => text.replace(/ (\d{2}:?\d{2})$/, '+$1'))
  .refine((text) => {
    const match = isoPattern.exec(text)
    if (!match || Number.isNaN(Date.parse(text))) return false
    const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])]
    return month >= 1 && month <= 12 && day >= 1 && day <= new Date(Date.UTC(year, month, 0)).getUTCDate()
  }, 'must be an ISO 8601 date-time with a time zone, e.g. 2026-02-03T12:00:00.000Z')
  .transform((text) => new Date(text))

const integer = z.coerce.number('must be an integer').int('must be an integer')
const nonEmpty = z.string().min(1, 'must not be empty')
const level = z.enum(logLevels, oneOfMessage(logLevels))
/** `a,b,c`: the list as given (the service rejects empty entries). */
const commaList = z.string().transform((text) => text.split(',').map((part) => part.trim()))
const sortOrder = z.enum(sortOrders, eitherMessage(sortOrders)).optional()
const sortBy = <T extends string>(fields: readonly [T, ...T[]]) => z.enum(fields, eitherMessage(fields)).optional()

/** `page` and `limit` of the spec's paginated lists. */
const page = {
  page: z.coerce.number().int('must be an integer').min(1, 'must be at least 1').max(1_000_000, 'must be at most 1000000').default(1),
  limit: z.coerce.number().int('must be an integer').min(1, 'must be at least 1').max(maxPageSize, `must be at most ${maxPageSize}`).default(20),
}

export const jobListQuery = z.strictObject({
  status: z.enum(jobStatuses, oneOfMessage(jobStatuses)).optional(),
  model: nonEmpty.optional(),
  owner: nonEmpty.optional(),
  sortBy: sortBy(jobSortFields),
  sortOrder,
  ...page,
})

export const deleteJobQuery = z.strictObject({
  force: z
    .enum(['true', 'false', '1', '0'], 'must be true or false')
    .transform((text) => text === 'true' || text === '1')
    .optional(),
})

export const datasetListQuery = z.strictObject({
  type: z.enum(datasetTypes, oneOfMessage(datasetTypes)).optional(),
  /** Every tag must match: comma-separated, or the parameter repeated. */
  tags: z
    .union([z.string(), z.array(z.string())], 'must be a string or a list of strings')
    .transform((tags) => (Array.isArray(tags) ? tags : tags.split(',')))
    .optional(),
  sortBy: sortBy(datasetSortFields),
  sortOrder,
  ...page,
})

export const templateListQuery = z.strictObject({
  visibility: z.enum(templateVisibilities, eitherMessage(templateVisibilities)).optional(),
  sortBy: sortBy(templateSortFields),
  sortOrder,
  ...page,
})

export const tuningListQuery = z.strictObject({
  status: z.enum(tuningStatuses, oneOfMessage(tuningStatuses)).optional(),
  sortBy: sortBy(tuningSortFields),
  sortOrder,
  ...page,
})

export const pageOnlyQuery = z.strictObject(page)

export const logsQuery = z.strictObject({
  level: level.optional(),
  startTime: isoTime.optional(),
  endTime: isoTime.optional(),
  limit: integer.optional(),
  cursor: z.string().optional(),
})
export const metricsQuery = z.strictObject({ metrics: commaList.optional(), maxPoints: integer.optional() })
export const compareQuery = z.strictObject({ ids: commaList })
export const eventsQuery = z.strictObject({ metrics: commaList.optional(), level: level.optional() })
export const modelsQuery = z.strictObject({ task: z.string().optional() })
