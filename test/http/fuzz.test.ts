// Generated bad input against every REST route and GraphQL operation (seeded
// fast-check, bounded in count): bodies, path parameters, query strings,
// headers and dataset uploads that are wrong in every way we could think of.
// Each answer must be the contract's: never a 5xx, always the envelope (or a
// GraphQL error carrying a contract code); afterwards the service still
// answers /healthz and nothing was created.
import http from 'node:http'
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { buildSchema, getNamedType, isLeafType, type GraphQLField } from 'graphql'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { restEndpoints } from '../../src/rest/routes.ts'
import { startServer, tokens, type TestServer } from '../helpers/server.ts'

const seed = 20261202
const contractCode = /^E1(1\d\d|000)$/

let server: TestServer
let before: Record<string, number>

/** What a user owns, counted through the API: nothing of it may change. */
async function inventory(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  for (const [name, path] of [
    ['jobs', '/v1/training/jobs?limit=1'],
    ['datasets', '/v1/training/datasets?limit=1'],
    ['templates', '/v1/training/templates?limit=1'],
    ['tunings', '/v1/training/tuning?limit=1'],
  ] as const) {
    const reply = await server.request<{ pagination: { total: number } }>('GET', path, { token: tokens.alice })
    expect(reply.status, `${path}: ${reply.text}`).toBe(200)
    counts[name] = reply.body.data.pagination.total
  }
  return counts
}

interface RawAnswer {
  status: number
  body: string
  contentType: string | undefined
}

/** One raw HTTP request (node:http, so the path goes out byte for byte as written). */
function send(method: string, path: string, headers: Record<string, string>, body?: Buffer | string): Promise<RawAnswer> {
  const url = new URL(server.url)
  return new Promise((resolve, reject) => {
    const request = http.request({ host: url.hostname, port: url.port, method, path, headers, agent: false }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), contentType: response.headers['content-type'] }),
      )
    })
    request.on('error', reject)
    request.end(body)
  })
}

/** The contract's failure (or success) envelope, and no 5xx other than 503 E1103. */
function expectEnvelope(answer: RawAnswer, what: string) {
  const context = `${what} → ${answer.status} ${answer.body.slice(0, 300)}`
  expect(answer.status, context).toBeGreaterThanOrEqual(200)
  let parsed: { success?: unknown; error?: { code?: unknown; message?: unknown }; timestamp?: unknown }
  try {
    parsed = JSON.parse(answer.body)
  } catch {
    // A download or event stream may answer 200 with its own body; every failure is JSON.
    expect(answer.status, context).toBeLessThan(300)
    return
  }
  expect(typeof parsed.timestamp, context).toBe('string')
  if (parsed.success === true) {
    expect(answer.status, context).toBeLessThan(300)
    return
  }
  expect(parsed.success, context).toBe(false)
  expect(String(parsed.error?.code), context).toMatch(contractCode)
  expect(parsed.error?.code, context).not.toBe('E1000')
  expect(typeof parsed.error?.message, context).toBe('string')
  expect(answer.status === 503 ? parsed.error?.code : 'not 503', context).toBe(answer.status === 503 ? 'E1103' : 'not 503')
  expect(answer.status, context).toBeLessThan(answer.status === 503 ? 504 : 500)
}

// Path segments as they go on the wire: plain ids, ids of the right shape that do not exist,
// and everything an attacker types (bad percent-encoding, encoded surrogates and NUL, huge ids).
const wireSegment = fc.oneof(
  fc.constantFrom(
    'job-0000000000',
    'dataset-x',
    '%',
    '%zz',
    '%E0%A4%A',
    '%ED%A0%80',
    '%00',
    '%C0%AF',
    '..%2F..%2Fetc%2Fpasswd',
    '%F0%9F%98',
    'a'.repeat(2000),
    '%25',
    '%20',
    '-',
    '0',
  ),
  fc.string({ unit: 'grapheme-ascii', maxLength: 40 }).map((s) => encodeURIComponent(s) || 'x'),
  fc.string({ maxLength: 30 }).map((s) => encodeURIComponent(s) || 'y'),
)

const wireQuery = fc.array(
  fc.tuple(
    fc.oneof(fc.constantFrom('limit', 'page', 'status', 'sortBy', 'order', 'names', 'force', 'format', 'task', 'since', 'ids', 'metric'), wireSegment),
    fc.oneof(wireSegment, fc.constantFrom('-1', '1e309', 'NaN', '99999999999999999999', 'true', '', '[]', '{}')),
  ),
  { maxLength: 4 },
)

const authorization = fc.constantFrom(`Bearer ${tokens.alice}`, `Bearer ${tokens.alice}`, `Bearer ${tokens.reader}`, 'Bearer nope', 'Basic abc', '', 'Bearer')

const contentType = fc.constantFrom(
  'application/json',
  'application/json',
  'text/plain',
  'application/xml',
  'application/json; charset=utf-16',
  'multipart/form-data',
)

/** JSON text that is wrong in shape or in syntax; never a body any create accepts (the user has no dataset). */
const badJsonBody = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)),
  fc.constantFrom('{', '{"name":', '[1,2', 'null', '"\\ud800"', '{"name":"\\ud800"}', '{"a":"\\u0000"}', '\u0000', '{"__proto__":{"x":1}}', ''),
  fc
    .record({ name: fc.string({ unit: 'binary', maxLength: 20 }), model: fc.jsonValue({ maxDepth: 2 }), dataset: fc.jsonValue({ maxDepth: 2 }) })
    .map((value) => JSON.stringify(value)),
)

/** Fills each `:param` of a route's path with a generated wire segment. */
function fill(path: string, segments: string[]): string {
  let i = 0
  return path.replace(/:\w+/g, () => segments[i++ % segments.length])
}

beforeAll(async () => {
  server = await startServer()
  before = await inventory()
}, 60_000)

afterAll(async () => {
  await server?.close()
})

describe('generated bad requests', () => {
  it('answers every REST route with the envelope, never a 5xx', { timeout: 240_000 }, async () => {
    expect(restEndpoints.length).toBeGreaterThan(25)
    for (const endpoint of restEndpoints) {
      await fc.assert(
        fc.asyncProperty(
          fc.array(wireSegment, { minLength: 1, maxLength: 2 }),
          wireQuery,
          authorization,
          contentType,
          badJsonBody,
          async (segments, query, auth, type, body) => {
            const search = query.map(([key, value]) => `${key}=${value}`).join('&')
            const path = fill(endpoint.path, segments) + (search ? `?${search}` : '')
            const headers: Record<string, string> = auth ? { authorization: auth } : {}
            const withBody = endpoint.method === 'POST'
            if (withBody) headers['content-type'] = type
            const answer = await send(endpoint.method, path, headers, withBody ? Buffer.from(body, 'utf8') : undefined)
            expectEnvelope(answer, `${endpoint.method} ${path} (${type}) ${body.slice(0, 80)}`)
          },
        ),
        { seed, numRuns: 12 },
      )
    }
  })

  it('answers bad dataset uploads with the envelope and keeps nothing', { timeout: 120_000 }, async () => {
    // Each form has at least one defect: a bad type or format, a name that may not be kept, no file, or a file of the wrong kind.
    const defect = fc.constantFrom('type', 'format', 'name', 'no-file', 'binary-json', 'empty')
    await fc.assert(
      fc.asyncProperty(defect, fc.uint8Array({ maxLength: 2000 }), fc.string({ unit: 'binary', maxLength: 30 }), async (which, bytes, name) => {
        const form = new FormData()
        form.append('name', which === 'name' ? `${name}\u0000\ud800` : name.replace(/[\ud800-\udfff]/gu, '') || 'n')
        form.append('type', which === 'type' ? 'spreadsheet' : 'tabular')
        form.append('format', which === 'format' ? 'xlsx' : which === 'binary-json' ? 'json' : 'csv')
        if (which !== 'no-file') {
          const content = which === 'empty' ? new Uint8Array() : which === 'binary-json' ? Uint8Array.from([0x7b, 0xff, ...bytes]) : Uint8Array.from(bytes)
          form.append('file', new Blob([content]), 'data.bin')
        }
        const reply = await fetch(`${server.url}/v1/training/datasets`, { method: 'POST', headers: { authorization: `Bearer ${tokens.alice}` }, body: form })
        const text = await reply.text()
        expectEnvelope({ status: reply.status, body: text, contentType: reply.headers.get('content-type') ?? undefined }, `upload (${which})`)
        expect(reply.status, `upload (${which}) ${text}`).toBeGreaterThanOrEqual(400)
      }),
      { seed, numRuns: 40 },
    )
  })

  it('answers generated arguments of every GraphQL query and mutation with contract codes', { timeout: 240_000 }, async () => {
    const schema = buildSchema(readFileSync(new URL('../../schema/schema.graphql', import.meta.url), 'utf8'))
    const roots = [
      ['query', schema.getQueryType()],
      ['mutation', schema.getMutationType()],
    ] as const
    const operations = roots.flatMap(([kind, type]) => Object.values(type?.getFields() ?? {}).map((field) => ({ kind, field })))
    expect(operations.length).toBeGreaterThan(20)
    for (const { kind, field } of operations) {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.jsonValue({ maxDepth: 3 }), { minLength: field.args.length, maxLength: field.args.length }), async (values) => {
          const document = operationFor(kind, field)
          const variables = Object.fromEntries(field.args.map((arg, i) => [arg.name, values[i]]))
          const answer = await send(
            'POST',
            '/graphql',
            { authorization: `Bearer ${tokens.alice}`, 'content-type': 'application/json' },
            JSON.stringify({ query: document, variables }),
          )
          const context = `${document} ${JSON.stringify(variables).slice(0, 200)} → ${answer.status} ${answer.body.slice(0, 300)}`
          expect(answer.status, context).toBeLessThan(500)
          const result = JSON.parse(answer.body) as { errors?: { extensions?: { code?: string } }[] }
          for (const error of result.errors ?? []) expect(String(error.extensions?.code), context).toMatch(/^E11\d\d$/)
          // Generated arguments never make a valid create: a mutation that answered without errors must not be a create.
          if (kind === 'mutation' && !result.errors) expect(field.name, context).not.toMatch(/^create|^upload|^start/)
        }),
        { seed, numRuns: 6 },
      )
    }
  })

  it('answers malformed GraphQL documents with a contract code', { timeout: 60_000 }, async () => {
    const documents = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.constantFrom('{', '{ jobs(first: ) }', 'query { __typename', `{ ${'a { '.repeat(3000)}}`, '{ dataset(id: "\\ud800") { id } }', 'subscription { x }'),
      fc.nat({ max: 4000 }).map((depth) => `{ jobs { edges { node { ${'dataset { '.repeat(depth % 50)} id ${'} '.repeat(depth % 50)}} } } }`),
    )
    await fc.assert(
      fc.asyncProperty(documents, async (query) => {
        const answer = await send(
          'POST',
          '/graphql',
          { authorization: `Bearer ${tokens.alice}`, 'content-type': 'application/json' },
          JSON.stringify({ query }),
        )
        const context = `${query.slice(0, 120)} → ${answer.status} ${answer.body.slice(0, 300)}`
        expect(answer.status, context).toBeLessThan(500)
        const result = JSON.parse(answer.body) as { errors?: { extensions?: { code?: string } }[] }
        for (const error of result.errors ?? []) expect(String(error.extensions?.code), context).toMatch(/^E11\d\d$/)
      }),
      { seed, numRuns: 60 },
    )
  })

  it('still answers /healthz and has created nothing', async () => {
    const started = Date.now()
    const health = await send('GET', '/healthz', {})
    expect(health.status).toBe(200)
    // A guard, not a timing assertion: the 100 ms figure is measured in bench/.
    expect(Date.now() - started).toBeLessThan(5000)
    expect(await inventory()).toEqual(before)
  })
})

/** A document calling `field` with every argument as a variable, selecting `__typename` (or the scalar itself). */
function operationFor(kind: 'query' | 'mutation', field: GraphQLField<unknown, unknown>): string {
  const declarations = field.args.map((arg) => `$${arg.name}: ${String(arg.type)}`).join(', ')
  const passes = field.args.map((arg) => `${arg.name}: $${arg.name}`).join(', ')
  const named = getNamedType(field.type)
  const selection = isLeafType(named) ? '' : ' { __typename }'
  return `${kind}${declarations ? `(${declarations})` : ''} { ${field.name}${passes ? `(${passes})` : ''}${selection} }`
}
