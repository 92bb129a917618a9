// Authentication and isolation: bearer tokens, scopes, API_TOKENS bootstrap,
// and other users' resources answering as if absent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, tokens, type TestServer } from '../helpers/server.ts'
import { createDataset, jobRequest } from '../helpers/data.ts'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { parseApiTokens } from '../../src/services/auth.ts'
import type { JobListReply, JobReply } from '../helpers/replies.ts'

let server: TestServer

beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server?.close())

describe('bearer tokens', () => {
  it.each([
    ['no Authorization header', undefined],
    ['an unknown token', 'Bearer not-a-token'],
    ['another scheme', 'Basic YWxpY2U6c2VjcmV0'],
    ['a bearer header without a token', 'Bearer '],
  ])('answers %s with 401 E1100 and WWW-Authenticate: Bearer', async (_label, header) => {
    for (const [method, url] of [
      ['GET', '/v1/training/jobs'],
      ['POST', '/v1/training/jobs'],
      ['GET', '/v1/training/resources'],
    ]) {
      const response = await server.request(method, url, { token: null, headers: header === undefined ? {} : { authorization: header } })
      expect(response.status).toBe(401)
      expect(response.headers.get('www-authenticate')).toBe('Bearer')
      expect(response.body).toMatchObject({ success: false, error: { code: 'E1100', message: expect.any(String) }, timestamp: expect.any(String) })
    }
  })

  it('accepts the scheme in any case', async () => {
    const response = await server.request('GET', '/v1/training/jobs', { token: null, headers: { authorization: `bearer ${tokens.alice}` } })
    expect(response.status).toBe(200)
  })

  it('leaves the health endpoints open', async () => {
    expect((await server.request('GET', '/healthz', { token: null })).body).toMatchObject({ success: true, data: { status: 'ok' } })
    expect((await server.request('GET', '/readyz', { token: null })).body).toMatchObject({ success: true, data: { status: 'ready', database: 'ok' } })
  })

  it('answers an unknown route with a 404 envelope', async () => {
    const response = await server.request('GET', '/v1/training/nothing-here')
    expect(response.status).toBe(404)
    expect(response.body.error.code).toBe('E1109')
  })
})

describe('scopes', () => {
  it('lets a read-only token read but not write (403 E1107)', async () => {
    expect((await server.request('GET', '/v1/training/jobs', { token: tokens.reader })).status).toBe(200)
    const attempts: [string, string, unknown][] = [
      ['POST', '/v1/training/jobs', jobRequest('dataset-x')],
      ['POST', '/v1/training/templates', { name: 't', model: { baseModel: 'text-cnn', task: 'text-classification' } }],
      ['POST', '/v1/training/jobs/job-x/stop', undefined],
      ['DELETE', '/v1/training/jobs/job-x', undefined],
      ['DELETE', '/v1/training/datasets/dataset-x', undefined],
    ]
    for (const [method, url, json] of attempts) {
      const response = await server.request(method, url, { token: tokens.reader, json })
      expect(response.status, `${method} ${url}`).toBe(403)
      expect(response.body.error.code).toBe('E1107')
      expect(response.body.error.message).toMatch(/write scope/)
    }
  })
})

describe('isolation between users', () => {
  it("answers another user's job and dataset as if absent, and never lists them", async () => {
    const datasetId = await createDataset(server)
    const job = (await server.request<JobReply>('POST', '/v1/training/jobs', { json: jobRequest(datasetId, { name: 'private' }) })).body.data.job
    for (const [method, url] of [
      ['GET', `/v1/training/jobs/${job.id}`],
      ['POST', `/v1/training/jobs/${job.id}/stop`],
      ['DELETE', `/v1/training/jobs/${job.id}?force=true`],
    ]) {
      const response = await server.request(method, url, { token: tokens.bob })
      expect(response.status, `${method} ${url}`).toBe(404)
      expect(response.body.error.code).toBe('E1101')
    }
    expect((await server.request('GET', `/v1/training/datasets/${datasetId}`, { token: tokens.bob })).body.error.code).toBe('E1102')
    const bobsJobs = (await server.request<JobListReply>('GET', '/v1/training/jobs', { token: tokens.bob })).body.data.jobs
    expect(bobsJobs.map((j: { id: string }) => j.id)).not.toContain(job.id)
    // The job is untouched.
    expect((await server.request<JobReply>('GET', `/v1/training/jobs/${job.id}`)).body.data.job.status).toBe('pending')
  })

  it("lets an admin token read any user's job", async () => {
    const datasetId = await createDataset(server)
    const job = (await server.request<JobReply>('POST', '/v1/training/jobs', { json: jobRequest(datasetId) })).body.data.job
    const response = await server.request<JobReply>('GET', `/v1/training/jobs/${job.id}`, { token: tokens.root })
    expect(response.status).toBe(200)
    expect(response.body.data.job.owner).toBe('alice')
  })
})

describe('API_TOKENS bootstrap', () => {
  it('parses user:token[:scopes] entries and rejects malformed ones', () => {
    expect(parseApiTokens('alice:tok-a, bob:tok-b:read ,ops:tok-o:read+write+admin')).toEqual([
      { user: 'alice', token: 'tok-a', scopes: ['read', 'write'] },
      { user: 'bob', token: 'tok-b', scopes: ['read'] },
      { user: 'ops', token: 'tok-o', scopes: ['read', 'write', 'admin'] },
    ])
    expect(() => parseApiTokens('alice')).toThrow(/user:token/)
    expect(() => parseApiTokens('alice:tok:superuser')).toThrow(/superuser/)
    expect(() => parseApiTokens('bad name:tok')).toThrow(/User name/)
  })

  it('is idempotent across restarts and applies changed scopes', async () => {
    const config = (apiTokens: string) => loadConfig({ DATA_DIR: server.dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', API_TOKENS: apiTokens })
    // A second process on the same database, as after a restart.
    const again = await buildApp(config(`alice:${tokens.alice},bob:${tokens.bob}:read`))
    try {
      const url = await again.start()
      const tokensOfBob = await again.services.auth.listTokens('bob')
      expect(tokensOfBob).toHaveLength(1)
      expect(tokensOfBob[0].scopes).toBe('read')
      const write = await fetch(`${url}/v1/training/templates`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens.bob}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 't', model: { baseModel: 'text-cnn', task: 'text-classification' } }),
      })
      expect(write.status).toBe(403)
    } finally {
      await again.stop()
    }
    const restored = await buildApp(config(`bob:${tokens.bob}`))
    try {
      expect((await restored.services.auth.listTokens('bob'))[0].scopes).toBe('read+write')
    } finally {
      await restored.stop()
    }
  })
})
