// The REST compatibility layer: the endpoints of the spec, each a thin
// projection onto the same services the GraphQL resolvers call, answering
// with the spec's envelope, status codes and messages.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import type { Services } from '../services/index.ts'
import type { Principal } from '../services/auth.ts'
import { decodeFormFields } from '../services/datasets.ts'
import { baseModels } from '../domain/catalog.ts'
import { parseInput } from '../domain/validation.ts'
import { InvalidInputError } from '../errors/index.ts'
import { ok } from './envelope.ts'
import { readDatasetForm } from './multipart.ts'
import { registerMonitoringRoutes } from './monitoring-routes.ts'
import { registerExportRoutes } from './export-routes.ts'

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null
  }
}

type Params = Record<string, string>

const isJson = (request: FastifyRequest) => /^application\/([\w.+-]+\+)?json\b/i.test(request.headers['content-type'] ?? '')

/** The JSON body of a request; a clear E1108 when it is missing or not JSON. */
function jsonBody(request: FastifyRequest): unknown {
  const type = request.headers['content-type']
  if (type !== undefined && !isJson(request)) {
    throw new InvalidInputError(`Content-Type ${JSON.stringify(type)} is not accepted here; send a JSON body with Content-Type: application/json`)
  }
  if (request.body === undefined || request.body === null) {
    throw new InvalidInputError('A JSON request body is required (Content-Type: application/json)')
  }
  return request.body
}

/** Endpoints without a body accept none (a JSON `{}` is tolerated). */
function noBody(request: FastifyRequest) {
  const body = request.body
  const empty = body === undefined || body === null || (typeof body === 'object' && Object.keys(body).length === 0)
  if (!empty) throw new InvalidInputError('This endpoint takes no request body')
}

const deleteJobQuery = z.strictObject({
  force: z.enum(['true', 'false', '1', '0'], 'must be true or false').optional(),
})
const noQuery = z.strictObject({})

function principalOf(request: FastifyRequest): Principal {
  // Set by the onRequest hook of every /v1 route.
  return request.principal as Principal
}

export function registerRestRoutes(app: FastifyInstance, services: Services) {
  const { jobs, datasets, templates, tunings, resources } = services

  app.register(async (v1) => {
    v1.addHook('onRequest', async (request) => {
      request.principal = await services.auth.authenticate(request.headers.authorization)
    })

    const route = (
      method: 'GET' | 'POST' | 'DELETE',
      url: string,
      handler: (
        request: FastifyRequest<{ Params: Params; Querystring: Record<string, unknown> }>,
        reply: FastifyReply,
        principal: Principal,
      ) => Promise<unknown>,
    ) =>
      v1.route<{ Params: Params; Querystring: Record<string, unknown> }>({
        method,
        url,
        handler: (request, reply) => handler(request, reply, principalOf(request)),
      })

    // §1 Training jobs
    route('POST', '/v1/training/jobs', async (request, reply, principal) => {
      parseInput(noQuery, request.query)
      return ok(reply, 201, { job: await jobs.create(principal, jsonBody(request)) }, '训练任务创建成功')
    })
    route('GET', '/v1/training/jobs', async (request, reply, principal) => {
      const page = await jobs.list(principal, request.query)
      return ok(reply, 200, { jobs: page.items, pagination: page.pagination })
    })
    route('GET', '/v1/training/jobs/:jobId', async (request, reply, principal) => {
      parseInput(noQuery, request.query)
      return ok(reply, 200, { job: await jobs.get(principal, request.params.jobId) })
    })
    route('POST', '/v1/training/jobs/:jobId/stop', async (request, reply, principal) => {
      parseInput(noQuery, request.query)
      noBody(request)
      const job = await jobs.stop(principal, request.params.jobId)
      return ok(
        reply,
        200,
        { job: { id: job.id, status: job.status, stoppedAt: job.stoppedAt } },
        job.status === 'cancelled' ? '训练任务已取消' : '训练任务停止中',
      )
    })
    route('DELETE', '/v1/training/jobs/:jobId', async (request, reply, principal) => {
      const query = parseInput(deleteJobQuery, request.query)
      const result = await jobs.delete(principal, request.params.jobId, query.force === 'true' || query.force === '1')
      return ok(reply, 200, result, '训练任务删除成功')
    })
    registerMonitoringRoutes(v1, services)
    registerExportRoutes(v1, services, { jsonBody })

    // §2 Datasets
    route('POST', '/v1/training/datasets', async (request, reply, principal) => {
      parseInput(noQuery, request.query)
      if (!/^multipart\/form-data\b/i.test(request.headers['content-type'] ?? '')) {
        throw new InvalidInputError('Upload a dataset as multipart/form-data with a "file" part and the fields name, type and format')
      }
      const form = await readDatasetForm(request.raw, services.storage, services.maxUploadBytes)
      const decoded = decodeFormFields(form.fields)
      const dataset = await datasets.create(principal, { fields: decoded.fields, problems: [...form.problems, ...decoded.problems], file: form.file })
      return ok(reply, 201, { dataset }, '数据集创建成功')
    })
    route('GET', '/v1/training/datasets', async (request, reply, principal) => {
      const page = await datasets.list(principal, request.query)
      return ok(reply, 200, { datasets: page.items, pagination: page.pagination })
    })
    route('GET', '/v1/training/datasets/:datasetId', async (request, reply, principal) => {
      parseInput(noQuery, request.query)
      return ok(reply, 200, { dataset: await datasets.get(principal, request.params.datasetId) })
    })
    route('DELETE', '/v1/training/datasets/:datasetId', async (request, reply, principal) => {
      parseInput(noQuery, request.query)
      return ok(reply, 200, await datasets.delete(principal, request.params.datasetId), '数据集删除成功')
    })

    // §3 Hyperparameter tuning
    route('POST', '/v1/training/tuning', async (request, reply, principal) => {
      parseInput(noQuery, request.query)
      return ok(reply, 201, { tuning: await tunings.create(principal, jsonBody(request)) }, '调优任务创建成功')
    })
    route('GET', '/v1/training/tuning', async (request, reply, principal) => {
      const page = await tunings.list(principal, request.query)
      return ok(reply, 200, { tunings: page.items, pagination: page.pagination })
    })
    route('GET', '/v1/training/tuning/:tuningId', async (request, reply, principal) => {
      parseInput(noQuery, request.query)
      return ok(reply, 200, { tuning: await tunings.get(principal, request.params.tuningId) })
    })
    route('POST', '/v1/training/tuning/:tuningId/stop', async (request, reply, principal) => {
      parseInput(noQuery, request.query)
      noBody(request)
      const tuning = await tunings.stop(principal, request.params.tuningId)
      return ok(reply, 200, { tuning }, tuning.status === 'cancelled' ? '调优任务已取消' : '调优任务停止中')
    })

    // §6 Templates
    route('POST', '/v1/training/templates', async (request, reply, principal) => {
      parseInput(noQuery, request.query)
      return ok(reply, 201, { template: await templates.create(principal, jsonBody(request)) }, '训练模板创建成功')
    })
    route('GET', '/v1/training/templates', async (request, reply, principal) => {
      const page = await templates.list(principal, request.query)
      return ok(reply, 200, { templates: page.items, pagination: page.pagination })
    })
    route('GET', '/v1/training/templates/:templateId', async (request, reply, principal) => {
      parseInput(noQuery, request.query)
      return ok(reply, 200, { template: await templates.get(principal, request.params.templateId) })
    })
    route('DELETE', '/v1/training/templates/:templateId', async (request, reply, principal) => {
      parseInput(noQuery, request.query)
      return ok(reply, 200, await templates.delete(principal, request.params.templateId), '训练模板删除成功')
    })
    route('POST', '/v1/training/templates/:templateId/create-job', async (request, reply, principal) => {
      parseInput(noQuery, request.query)
      const job = await templates.createJob(principal, request.params.templateId, jsonBody(request))
      return ok(reply, 201, { job }, '训练任务创建成功')
    })

    // Added reads: what can be asked for
    route('GET', '/v1/training/resources', async (request, reply) => {
      parseInput(noQuery, request.query)
      return ok(reply, 200, await resources.usage())
    })
    route('GET', '/v1/training/models', async (request, reply) => {
      const { task } = parseInput(z.strictObject({ task: z.string().optional() }), request.query)
      return ok(reply, 200, { models: baseModels.filter((model) => !task || (model.tasks as readonly string[]).includes(task)) })
    })
  })
}
