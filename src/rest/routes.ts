// The REST compatibility layer as one table, in the order of the spec's
// table of contents: each endpoint's method and path, query parameters,
// body, success status and message, and the service call (the same services
// the GraphQL resolvers call) whose answer is the envelope's `data`.
import type { FastifyInstance } from 'fastify'
import { baseModels } from '../domain/catalog.ts'
import type { PageRequest } from '../domain/pagination.ts'
import { decodeFormFields } from '../services/datasets.ts'
import type { Services } from '../services/index.ts'
import {
  compareQuery,
  datasetListQuery,
  deleteJobQuery,
  eventsQuery,
  jobListQuery,
  logsQuery,
  metricsQuery,
  modelsQuery,
  noQuery,
  pageOnlyQuery,
  templateListQuery,
  tuningListQuery,
} from './queries.ts'
import { valueStringProblems } from './input-strings.ts'
import { sendExportFile, streamJobEvents } from './raw-replies.ts'
import { registerRoutes, route } from './table.ts'

/** `page` and `limit` apart from the filters of a list query. */
const split = <Q extends PageRequest>({ page, limit, ...filter }: Q) => ({ filter, page: { page, limit } })

const routes = [
  // §1 Training jobs
  route({
    method: 'POST',
    path: '/v1/training/jobs',
    query: noQuery,
    body: 'json',
    cost: 'expensive',
    status: 201,
    message: '训练任务创建成功',
    handle: ({ services, principal, body }) => services.jobs.createWithWarnings(principal, body),
  }),
  route({
    method: 'GET',
    path: '/v1/training/jobs/:jobId',
    query: noQuery,
    handle: async ({ services, principal, params }) => ({ job: await services.jobs.get(principal, params.jobId) }),
  }),
  route({
    method: 'GET',
    path: '/v1/training/jobs',
    query: jobListQuery,
    handle: async ({ services, principal, query }) => {
      const { filter, page } = split(query)
      const { items, pagination } = await services.jobs.list(principal, filter, page)
      return { jobs: items, pagination }
    },
  }),
  route({
    method: 'POST',
    path: '/v1/training/jobs/:jobId/stop',
    query: noQuery,
    body: 'none',
    handle: async ({ services, principal, params }) => {
      const job = await services.jobs.stop(principal, params.jobId)
      return { job: { id: job.id, status: job.status, stoppedAt: job.stoppedAt } }
    },
    // After `handle`: the message's argument is what handle answers.
    message: ({ job }) => (job.status === 'cancelled' ? '训练任务已取消' : '训练任务停止中'),
  }),
  route({
    method: 'DELETE',
    path: '/v1/training/jobs/:jobId',
    query: deleteJobQuery,
    message: '训练任务删除成功',
    handle: ({ services, principal, params, query }) => services.jobs.delete(principal, params.jobId, query.force ?? false),
  }),

  // §2 Datasets
  route({
    method: 'POST',
    path: '/v1/training/datasets',
    query: noQuery,
    body: 'multipart',
    cost: 'upload',
    status: 201,
    message: '数据集创建成功',
    handle: async ({ services, principal, body: form }) => {
      const { fields, problems } = decodeFormFields(form.fields)
      const all = [...form.problems, ...problems, ...valueStringProblems(fields)]
      return { dataset: await services.datasets.create(principal, { fields, problems: all, file: form.file }) }
    },
  }),
  route({
    method: 'GET',
    path: '/v1/training/datasets',
    query: datasetListQuery,
    handle: async ({ services, principal, query }) => {
      const { filter, page } = split(query)
      const { items, pagination } = await services.datasets.list(principal, filter, page)
      return { datasets: items, pagination }
    },
  }),
  route({
    method: 'GET',
    path: '/v1/training/datasets/:datasetId',
    query: noQuery,
    handle: async ({ services, principal, params }) => ({ dataset: await services.datasets.get(principal, params.datasetId) }),
  }),
  route({
    method: 'DELETE',
    path: '/v1/training/datasets/:datasetId',
    query: noQuery,
    message: '数据集删除成功',
    handle: ({ services, principal, params }) => services.datasets.delete(principal, params.datasetId),
  }),

  // §3 Hyperparameter tuning
  route({
    method: 'POST',
    path: '/v1/training/tuning',
    query: noQuery,
    body: 'json',
    cost: 'expensive',
    status: 201,
    message: '调优任务创建成功',
    handle: async ({ services, principal, body }) => ({ tuning: await services.tunings.create(principal, body) }),
  }),
  route({
    method: 'GET',
    path: '/v1/training/tuning/:tuningId',
    query: noQuery,
    handle: async ({ services, principal, params }) => ({ tuning: await services.tunings.get(principal, params.tuningId) }),
  }),
  route({
    method: 'GET',
    path: '/v1/training/tuning',
    query: tuningListQuery,
    handle: async ({ services, principal, query }) => {
      const { filter, page } = split(query)
      const { items, pagination } = await services.tunings.list(principal, filter, page)
      return { tunings: items, pagination }
    },
  }),
  route({
    method: 'POST',
    path: '/v1/training/tuning/:tuningId/stop',
    query: noQuery,
    body: 'none',
    handle: async ({ services, principal, params }) => ({ tuning: await services.tunings.stop(principal, params.tuningId) }),
    message: ({ tuning }) => (tuning.status === 'cancelled' ? '调优任务已取消' : '调优任务停止中'),
  }),

  // §4 Monitoring. `/jobs/compare` is a static path: the router prefers it over `/jobs/:jobId`.
  route({
    method: 'GET',
    path: '/v1/training/jobs/:jobId/logs',
    query: logsQuery,
    handle: ({ services, principal, params, query: q }) => {
      const logQuery = { minLevel: q.level, startTime: q.startTime, endTime: q.endTime, limit: q.limit, after: q.cursor }
      return services.monitoring.logs(principal, params.jobId, logQuery, { minLevel: 'level', after: 'cursor' })
    },
  }),
  route({
    method: 'GET',
    path: '/v1/training/jobs/:jobId/metrics',
    query: metricsQuery,
    handle: async ({ services, principal, params, query: q }) => ({
      metrics: await services.monitoring.metricHistory(principal, params.jobId, { names: q.metrics, maxPoints: q.maxPoints }, { names: 'metrics' }),
    }),
  }),
  route({
    method: 'GET',
    path: '/v1/training/jobs/:jobId/checkpoints',
    query: noQuery,
    handle: async ({ services, principal, params }) => ({ checkpoints: await services.monitoring.checkpoints(principal, params.jobId) }),
  }),
  route({
    method: 'GET',
    path: '/v1/training/jobs/:jobId/evaluation',
    query: noQuery,
    handle: async ({ services, principal, params }) => ({ evaluation: await services.monitoring.evaluation(principal, params.jobId) }),
  }),
  route({
    method: 'GET',
    path: '/v1/training/jobs/compare',
    query: compareQuery,
    handle: async ({ services, principal, query }) => {
      const { jobs, differences, best } = await services.monitoring.compare(principal, query.ids, 'ids')
      return { jobs: jobs.map(({ job: _job, ...entry }) => entry), differences, best }
    },
  }),
  route({
    method: 'GET',
    path: '/v1/training/jobs/:jobId/events',
    query: eventsQuery,
    reply: async ({ services, principal, params, query: q }, request, reply) => {
      const watch = { metrics: true, names: q.metrics, logs: true, minLevel: q.level }
      return streamJobEvents(request, reply, await services.monitoring.watch(principal, params.jobId, watch, { names: 'metrics' }))
    },
  }),

  // §5 Model export, and prediction
  route({
    method: 'POST',
    path: '/v1/training/jobs/:jobId/export',
    query: noQuery,
    body: 'json',
    cost: 'expensive',
    message: '模型导出任务创建成功',
    handle: async ({ services, principal, params, body }) => ({ export: await services.exports.create(principal, params.jobId, body) }),
  }),
  route({
    method: 'GET',
    path: '/v1/training/jobs/:jobId/exports',
    query: pageOnlyQuery,
    handle: async ({ services, principal, params, query }) => {
      const { items, pagination } = await services.exports.list(principal, params.jobId, query)
      return { exports: items, pagination }
    },
  }),
  route({
    method: 'GET',
    path: '/v1/training/jobs/:jobId/exports/:exportId',
    query: noQuery,
    handle: async ({ services, principal, params }) => ({ export: await services.exports.get(principal, params.jobId, params.exportId) }),
  }),
  route({
    method: 'GET',
    path: '/v1/training/jobs/:jobId/exports/:exportId/download',
    query: noQuery,
    reply: async ({ services, principal, params }, request, reply) =>
      sendExportFile(request, reply, params.exportId, await services.exports.file(principal, params.jobId, params.exportId)),
  }),
  route({
    method: 'POST',
    path: '/v1/training/jobs/:jobId/predict',
    query: noQuery,
    body: 'json',
    cost: 'expensive',
    handle: ({ services, principal, params, body }) => services.exports.predict(principal, params.jobId, body),
  }),

  // §6 Templates
  route({
    method: 'POST',
    path: '/v1/training/templates',
    query: noQuery,
    body: 'json',
    status: 201,
    message: '训练模板创建成功',
    handle: async ({ services, principal, body }) => ({ template: await services.templates.create(principal, body) }),
  }),
  route({
    method: 'GET',
    path: '/v1/training/templates',
    query: templateListQuery,
    handle: async ({ services, principal, query }) => {
      const { filter, page } = split(query)
      const { items, pagination } = await services.templates.list(principal, filter, page)
      return { templates: items, pagination }
    },
  }),
  route({
    method: 'GET',
    path: '/v1/training/templates/:templateId',
    query: noQuery,
    handle: async ({ services, principal, params }) => ({ template: await services.templates.get(principal, params.templateId) }),
  }),
  route({
    method: 'DELETE',
    path: '/v1/training/templates/:templateId',
    query: noQuery,
    message: '训练模板删除成功',
    handle: ({ services, principal, params }) => services.templates.delete(principal, params.templateId),
  }),
  route({
    method: 'POST',
    path: '/v1/training/templates/:templateId/create-job',
    query: noQuery,
    body: 'json',
    cost: 'expensive',
    status: 201,
    message: '训练任务创建成功',
    handle: ({ services, principal, params, body }) => services.templates.createJobWithWarnings(principal, params.templateId, body),
  }),

  // Added reads: what can be asked for
  route({ method: 'GET', path: '/v1/training/resources', query: noQuery, handle: ({ services }) => services.resources.usage() }),
  route({
    method: 'GET',
    path: '/v1/training/models',
    query: modelsQuery,
    handle: async ({ query: { task } }) => ({ models: baseModels.filter((model) => !task || (model.tasks as readonly string[]).includes(task)) }),
  }),
]

/** Every endpoint of the table (method and path pattern), e.g. for tests that visit them all. */
export const restEndpoints: readonly { method: string; path: string }[] = routes.map(({ method, path }) => ({ method, path }))

export function registerRestRoutes(app: FastifyInstance, services: Services) {
  registerRoutes(app, services, routes)
}
