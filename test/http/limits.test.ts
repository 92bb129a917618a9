// Limits at the HTTP edge, through a real server and raw sockets: strings
// that may not be kept (lone surrogates, NUL, control characters in names
// and ids) answer 400 E1108 naming the field; paths, headers and requests
// that fail before any route (bad percent-encoding, over-long ids, 431
// headers, garbage) answer the envelope; rate and concurrency limits answer
// 429 E1111 with Retry-After, per user, per client address and per expensive
// endpoint, shared through Redis by two servers. Nothing refused is created.
import http from 'node:http'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { restEndpoints } from '../../src/rest/routes.ts'
import { createDataset, jobRequest, textClassificationCsv, uploadDataset } from '../helpers/data.ts'
import { startServer, tokens, type TestServer } from '../helpers/server.ts'

const redisUrl = 'redis://127.0.0.1:6379'

interface RawAnswer {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
  json: { success?: boolean; error?: { code?: string; message?: string; details?: { field: string; message: string }[] }; timestamp?: string }
}

interface RawOptions {
  headers?: Record<string, string>
  body?: string
  /** Connect from another loopback address (Linux routes all of 127/8 to lo), so the server sees another client. */
  localAddress?: string
}

/** One request over node:http: the path goes out byte for byte as written. */
function send(server: TestServer, method: string, path: string, options: RawOptions = {}): Promise<RawAnswer> {
  const url = new URL(server.url)
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: url.hostname, port: url.port, method, path, headers: options.headers, agent: false, localAddress: options.localAddress },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8')
          let json: RawAnswer['json'] = {}
          try {
            json = JSON.parse(body)
          } catch {}
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body, json })
        })
      },
    )
    request.on('error', reject)
    request.end(options.body)
  })
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** Bytes written on a plain TCP socket, and everything the server answers until it closes the connection. */
function sendBytes(server: TestServer, bytes: string): Promise<string> {
  const url = new URL(server.url)
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname)
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')))
    socket.on('error', (error) => (chunks.length > 0 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(error)))
    socket.write(bytes)
  })
}

/** Status line and envelope of a raw HTTP answer. */
function parseRaw(text: string): { status: number; json: RawAnswer['json'] } {
  const [head, ...rest] = text.split('\r\n\r\n')
  return { status: Number(head.split(' ')[1]), json: JSON.parse(rest.join('\r\n\r\n')) }
}

function expectEnvelope(answer: { status: number; json: RawAnswer['json'] }, status: number, code: string) {
  expect(answer.status, JSON.stringify(answer.json)).toBe(status)
  expect(answer.json).toMatchObject({ success: false, error: { code, message: expect.any(String) }, timestamp: expect.any(String) })
}

/** What alice owns, counted through the API. */
async function inventory(server: TestServer): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  for (const kind of ['jobs', 'datasets', 'templates', 'tuning']) {
    const reply = await server.request<{ pagination: { total: number } }>('GET', `/v1/training/${kind}?limit=1`)
    expect(reply.status, reply.text).toBe(200)
    counts[kind] = reply.body.data.pagination.total
  }
  return counts
}

describe('strings, paths and headers', () => {
  let server: TestServer
  let datasetId: string
  let jobId: string
  let before: Record<string, number>

  beforeAll(async () => {
    server = await startServer()
    datasetId = await createDataset(server)
    const job = await server.request<{ job: { id: string } }>('POST', '/v1/training/jobs', { json: jobRequest(datasetId) })
    expect(job.status, job.text).toBe(201)
    jobId = job.body.data.job.id
    before = await inventory(server)
  })
  afterAll(() => server?.close())

  const template = { name: 't', description: 'd', model: { baseModel: 'text-cnn', task: 'text-classification' } }
  const tuning = () => ({
    name: 'tune',
    description: 'd',
    baseJobId: jobId,
    parameters: { learningRate: { type: 'float', min: 0.0001, max: 0.01 } },
    strategy: { type: 'random', maxTrials: 2 },
    objective: { metric: 'valAccuracy', direction: 'maximize' },
  })
  /** Sets a dotted path of a request body. */
  const withValue = (body: Record<string, unknown>, field: string, value: string) => {
    const copy = structuredClone(body)
    const parts = field.split('.')
    let node = copy
    for (const part of parts.slice(0, -1)) node = node[part] as Record<string, unknown>
    node[parts[parts.length - 1]] = value
    return copy
  }

  // The nine 500s of the campaign: a lone surrogate in these fields of these creates.
  it.each([
    ['/v1/training/jobs', 'name'],
    ['/v1/training/jobs', 'description'],
    ['/v1/training/jobs', 'model.baseModel'],
    ['/v1/training/jobs', 'dataset.id'],
    ['/v1/training/templates', 'name'],
    ['/v1/training/templates', 'description'],
    ['/v1/training/templates', 'model.baseModel'],
    ['/v1/training/tuning', 'name'],
    ['/v1/training/tuning', 'description'],
  ])('answers a lone surrogate in %s %s with 400 E1108 naming the field', async (path, field) => {
    const base = path.endsWith('jobs') ? { ...jobRequest(datasetId), description: 'd' } : path.endsWith('templates') ? template : tuning()
    const response = await server.request('POST', path, { json: withValue(base, field, 'bad \ud800 text') })
    expectEnvelope({ status: response.status, json: response.body }, 400, 'E1108')
    expect(response.body.error.details).toEqual([{ field, message: expect.stringMatching(/surrogate/) }])
  })

  it('answers NUL anywhere in a body, and a lone surrogate in a key, with E1108 naming each field', async () => {
    const nul = await server.request('POST', '/v1/training/templates', { json: { ...template, description: 'a\u0000b' } })
    expect(nul.status).toBe(400)
    expect(nul.body.error.details).toEqual([{ field: 'description', message: expect.stringMatching(/NUL/) }])
    const key = await server.request('POST', '/v1/training/templates', { json: { ...template, 'x\udc00': 1 } })
    expect(key.status).toBe(400)
    expect(key.body.error.details?.[0].message).toMatch(/key .*surrogate/)
  })

  it('refuses control characters in names and ids but keeps them in other text', async () => {
    const name = await server.request('POST', '/v1/training/templates', { json: { ...template, name: 'tab\there' } })
    expect(name.status).toBe(400)
    expect(name.body.error.details).toEqual([{ field: 'name', message: expect.stringMatching(/control character \(U\+0009\)/) }])
    const id = await server.request('POST', '/v1/training/jobs', { json: jobRequest(`${datasetId}\u001b`) })
    expect(id.status).toBe(400)
    expect(id.body.error.details).toEqual([{ field: 'dataset.id', message: expect.stringMatching(/U\+001B/) }])
    const upload = await uploadDataset(server, { name: 'line\u0007bell' })
    expect(upload.status).toBe(400)
    expect(upload.body.error.details).toEqual([{ field: 'name', message: expect.stringMatching(/U\+0007/) }])
    // A newline in a description is text, not an id.
    const ok = await server.request<{ template: { id: string } }>('POST', '/v1/training/templates', { json: { ...template, description: 'one\ntwo' } })
    expect(ok.status, ok.text).toBe(201)
    expect((await server.request('DELETE', `/v1/training/templates/${ok.body.data.template.id}`)).status).toBe(200)
  })

  it('answers NUL and control characters in path ids and query strings with E1108 naming the parameter', async () => {
    for (const [path, field] of [
      ['/v1/training/jobs/job-%00', 'jobId'],
      ['/v1/training/datasets/dataset-%09x', 'datasetId'],
      [`/v1/training/jobs/${'job-1'}/exports/export-%7F`, 'exportId'],
      ['/v1/training/jobs?model=a%00b', 'model'],
      ['/v1/training/jobs/compare?ids=job-a,job-%01', 'ids'],
    ]) {
      const answer = await send(server, 'GET', path, { headers: bearer(tokens.alice) })
      expectEnvelope(answer, 400, 'E1108')
      expect(answer.json.error?.details?.[0].field, path).toBe(field)
    }
  })

  it('answers malformed percent-encoding in the path of every route with 400 E1108 in the envelope', async () => {
    const withParams = restEndpoints.filter((endpoint) => endpoint.path.includes(':'))
    expect(withParams.length).toBeGreaterThan(15)
    for (const endpoint of withParams) {
      for (const segment of ['%zz', '%E0%A4%A', '%ED%A0%80', '%']) {
        const path = endpoint.path.replace(/:\w+/g, segment)
        const answer = await send(server, endpoint.method, path, { headers: { ...bearer(tokens.alice), 'content-type': 'application/json' }, body: '{}' })
        expectEnvelope(answer, 400, 'E1108')
        expect(answer.json.error?.message, path).toMatch(/percent-encod/)
      }
    }
  })

  it('answers an id longer than 100 characters with 414 E1108 in the envelope naming the limit', async () => {
    const long = await send(server, 'GET', `/v1/training/jobs/job-${'a'.repeat(97)}`, { headers: bearer(tokens.alice) })
    expectEnvelope(long, 414, 'E1108')
    expect(long.json.error?.message).toMatch(/longer than 100 characters/)
    const stop = await send(server, 'POST', `/v1/training/jobs/${'x'.repeat(500)}/stop`, { headers: bearer(tokens.alice) })
    expectEnvelope(stop, 414, 'E1108')
    // 100 characters is still an id: just not one that exists.
    expectEnvelope(await send(server, 'GET', `/v1/training/jobs/job-${'a'.repeat(96)}`, { headers: bearer(tokens.alice) }), 404, 'E1101')
  })

  it('answers headers over 16 KiB with 431 and the envelope, and a malformed request with 400 E1108', async () => {
    const big = await sendBytes(
      server,
      `GET /v1/training/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokens.alice}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    )
    const oversized = parseRaw(big)
    expectEnvelope(oversized, 431, 'E1108')
    expect(oversized.json.error?.message).toMatch(/headers are larger than \d+ bytes/)
    const garbage = parseRaw(await sendBytes(server, 'NOT HTTP AT ALL\r\n\r\n'))
    expectEnvelope(garbage, 400, 'E1108')
    // The server still answers.
    expect((await send(server, 'GET', '/healthz')).status).toBe(200)
  })

  it('has created nothing for any refused request', async () => {
    expect(await inventory(server)).toEqual(before)
  })
})

describe('rate limits', () => {
  const servers: TestServer[] = []
  const start = async (env: Record<string, string>) => {
    const server = await startServer(env)
    servers.push(server)
    return server
  }
  afterAll(async () => {
    // Last started first: a server sharing another's data directory closes before that directory goes.
    for (const server of servers.reverse()) await server.close()
  })

  it('limits requests per user, apart from other users and from requests without a token, and never /healthz or /readyz', async () => {
    const server = await start({ RATE_LIMIT_REQUESTS: '5' })
    for (let i = 0; i < 5; i++) {
      const answer = await send(server, 'GET', '/v1/training/jobs', { headers: bearer(tokens.alice) })
      expect(answer.status).toBe(200)
      expect(answer.headers['x-ratelimit-remaining']).toBe(String(4 - i))
    }
    const limited = await send(server, 'GET', '/v1/training/resources', { headers: bearer(tokens.alice) })
    expectEnvelope(limited, 429, 'E1111')
    expect(limited.json.error?.message).toMatch(/at most 5 requests per 60 s per user \(RATE_LIMIT_REQUESTS\); retry in \d+ s/)
    const retryAfter = Number(limited.headers['retry-after'])
    expect(retryAfter).toBeGreaterThanOrEqual(1)
    expect(retryAfter).toBeLessThanOrEqual(60)
    // Bob's budget is his own; so is the client address's (requests without a token).
    expect((await send(server, 'GET', '/v1/training/jobs', { headers: bearer(tokens.bob) })).status).toBe(200)
    expectEnvelope(await send(server, 'GET', '/v1/training/jobs'), 401, 'E1100')
    for (let i = 0; i < 20; i++) {
      expect((await send(server, 'GET', '/healthz')).status).toBe(200)
      expect((await send(server, 'GET', '/readyz')).status).toBe(200)
    }
    // GraphQL over HTTP counts too, and answers in its own shape with the code.
    const graphql = await send(server, 'POST', '/graphql', {
      headers: { ...bearer(tokens.alice), 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    })
    expect(graphql.status).toBe(429)
    expect(graphql.headers['retry-after']).toMatch(/^\d+$/)
    expect(JSON.parse(graphql.body).errors[0].extensions.code).toBe('E1111')
  })

  it('locks out an address after too many bad tokens, keeps tokens already in use from it, and leaves other addresses alone', async () => {
    const server = await start({ RATE_LIMIT_AUTH_FAILURES: '3' })
    expect((await send(server, 'GET', '/v1/training/jobs', { headers: bearer(tokens.alice) })).status).toBe(200)
    for (let i = 0; i < 3; i++) expectEnvelope(await send(server, 'GET', '/v1/training/jobs', { headers: bearer(`wrong-${i}`) }), 401, 'E1100')
    const locked = await send(server, 'GET', '/v1/training/jobs', { headers: bearer('wrong-3') })
    expectEnvelope(locked, 429, 'E1111')
    expect(locked.json.error?.message).toMatch(/failed authentication attempts.*at most 3 per 60 s \(RATE_LIMIT_AUTH_FAILURES\)/)
    expect(Number(locked.headers['retry-after'])).toBeGreaterThanOrEqual(1)
    // A long run of guesses is answered 429 without a lookup, and so is a right token not yet used from here.
    for (let i = 0; i < 200; i++) expect((await send(server, 'GET', '/v1/training/jobs', { headers: bearer(`guess-${i}`) })).status).toBe(429)
    expectEnvelope(await send(server, 'GET', '/v1/training/jobs', { headers: bearer(tokens.bob) }), 429, 'E1111')
    expect((await send(server, 'GET', '/v1/training/jobs', { headers: bearer(tokens.alice) })).status).toBe(200)
    // Another client address is not locked out.
    const elsewhere = { localAddress: '127.0.0.2' }
    expectEnvelope(await send(server, 'GET', '/v1/training/jobs', { headers: bearer('wrong-x'), ...elsewhere }), 401, 'E1100')
    expect((await send(server, 'GET', '/v1/training/jobs', { headers: bearer(tokens.bob), ...elsewhere })).status).toBe(200)
  })

  it('gives expensive endpoints their own lower limit per user', async () => {
    const server = await start({ RATE_LIMIT_EXPENSIVE: '2' })
    const createJob = (token: string) => server.request('POST', '/v1/training/jobs', { token, json: jobRequest('dataset-missing') })
    expect((await createJob(tokens.alice)).body.error.code).toBe('E1102')
    expect((await createJob(tokens.alice)).body.error.code).toBe('E1102')
    const limited = await createJob(tokens.alice)
    expectEnvelope({ status: limited.status, json: limited.body }, 429, 'E1111')
    expect(limited.body.error.message).toMatch(/POST \/v1\/training\/jobs: at most 2 requests per 60 s per user \(RATE_LIMIT_EXPENSIVE\)/)
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/)
    // Other endpoints, other expensive ones and other users keep their own counts.
    expect((await server.request('GET', '/v1/training/jobs')).status).toBe(200)
    expect((await server.request('POST', '/v1/training/jobs/job-missing/predict', { json: { inputs: ['x'] } })).status).toBe(404)
    expect((await createJob(tokens.bob)).body.error.code).toBe('E1102')
    expect((await server.request('GET', '/v1/training/jobs?limit=1')).body).toMatchObject({ data: { pagination: { total: 0 } } })
  })

  it('lets a user have only so many uploads in flight', { timeout: 20_000 }, async () => {
    const server = await start({ RATE_LIMIT_CONCURRENT_UPLOADS: '1' })
    const url = new URL(server.url)
    // An upload that has sent its headers and part of its body, and then waits.
    const boundary = 'limits-boundary'
    const stuck = http.request({
      host: url.hostname,
      port: url.port,
      method: 'POST',
      path: '/v1/training/datasets',
      agent: false,
      headers: { ...bearer(tokens.alice), 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': '100000' },
    })
    stuck.on('error', () => {})
    stuck.write(`--${boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nstuck\r\n`)
    let second = await uploadDataset(server, { content: '' })
    for (let tries = 0; second.status !== 429 && tries < 50; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      second = await uploadDataset(server, { content: '' })
    }
    expectEnvelope({ status: second.status, json: second.body }, 429, 'E1111')
    expect(second.body.error.message).toMatch(/At most 1 dataset uploads at once per user \(RATE_LIMIT_CONCURRENT_UPLOADS\)/)
    expect(second.headers.get('retry-after')).toBe('1')
    // Bob uploads meanwhile.
    expect((await uploadDataset(server, { token: tokens.bob })).status).toBe(201)
    // Once the stuck upload is gone, alice can upload again; nothing of the stuck one is kept.
    stuck.destroy()
    let third = await uploadDataset(server, { content: textClassificationCsv() })
    for (let tries = 0; third.status === 429 && tries < 50; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      third = await uploadDataset(server, { content: textClassificationCsv() })
    }
    expect(third.status, third.text).toBe(201)
    expect((await server.request('GET', '/v1/training/datasets?limit=1')).body).toMatchObject({ data: { pagination: { total: 1 } } })
  })

  it('shares the counts of two servers on one Redis and one database', async () => {
    const first = await start({ REDIS_URL: redisUrl, RATE_LIMIT_REQUESTS: '4' })
    const second = await start({ REDIS_URL: redisUrl, RATE_LIMIT_REQUESTS: '4', DATA_DIR: first.dataDir })
    for (const server of [first, second, first, second])
      expect((await send(server, 'GET', '/v1/training/jobs', { headers: bearer(tokens.alice) })).status).toBe(200)
    for (const server of [first, second]) {
      const answer = await send(server, 'GET', '/v1/training/jobs', { headers: bearer(tokens.alice) })
      expectEnvelope(answer, 429, 'E1111')
      expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(1)
    }
    expect((await send(second, 'GET', '/v1/training/jobs', { headers: bearer(tokens.bob) })).status).toBe(200)
  })

  it('applies no limit with RATE_LIMIT=off', async () => {
    const server = await start({ RATE_LIMIT: 'off', RATE_LIMIT_REQUESTS: '1', RATE_LIMIT_AUTH_FAILURES: '1' })
    for (let i = 0; i < 5; i++) {
      const answer = await send(server, 'GET', '/v1/training/jobs', { headers: bearer(tokens.alice) })
      expect(answer.status).toBe(200)
      expect(answer.headers['x-ratelimit-limit']).toBeUndefined()
      expectEnvelope(await send(server, 'GET', '/v1/training/jobs', { headers: bearer('wrong') }), 401, 'E1100')
    }
  })
})
