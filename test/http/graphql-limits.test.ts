// The GraphQL limits against a real server: the reported cases (1,000 aliases
// of predict, 1,000 aliases of jobs with metricHistory, a selection nested
// 5,000 deep, a lone surrogate) under the default limits, each limit with a
// low value set through the environment, the subscription limits over real
// graphql-ws sockets, and GraphiQL: the page's options and its WebSocket's
// connectionParams, evaluated from the served page and used by a real client.
import vm from 'node:vm'
import { getIntrospectionQuery } from 'graphql'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { graphql } from '../gql/index.ts'
import { createDataset, jobRequest } from '../helpers/data.ts'
import { startServer, tokens, type TestServer } from '../helpers/server.ts'
import { createWsClient, probeName, tsubscribe, untilDelivering, type TSubscription } from '../helpers/ws.ts'
import { topics, type JobUpdatedEvent } from '../../src/events/index.ts'

const LimitsMyJobs = graphql(`
  subscription LimitsMyJobs {
    myJobs {
      id
      name
      status
    }
  }
`)

interface GraphqlError {
  message: string
  extensions?: { code?: string; limit?: string; details?: { field: string; message: string }[] }
}

interface GraphqlReply {
  status: number
  body: { data?: Record<string, unknown> | null; errors?: GraphqlError[] }
}

/** POST /graphql with any body (the typed client would not send these). */
async function post(server: TestServer, body: Record<string, unknown>, token: string | null = tokens.alice): Promise<GraphqlReply> {
  const response = await server.request('POST', '/graphql', { token, json: body })
  return { status: response.status, body: response.body as unknown as GraphqlReply['body'] }
}

/** The refusal of a limit: E1108 naming the variable, and nothing executed. */
function expectRefusal(reply: GraphqlReply, variable: string) {
  const errors = reply.body.errors ?? []
  const refusal = errors.find((error) => error.message.includes(variable))
  expect(refusal, JSON.stringify(reply.body).slice(0, 2000)).toBeDefined()
  expect(refusal?.extensions?.code).toBe('E1108')
  // Yoga reads the status from `extensions.http` and leaves it out of the answer.
  expect(refusal?.extensions).not.toHaveProperty('http')
  expect(reply.body.data ?? undefined).toBeUndefined()
  return refusal!
}

const aliases = (count: number, field: (index: number) => string) => Array.from({ length: count }, (_, index) => `a${index}: ${field(index)}`).join('\n')
const texts = Array.from({ length: 256 }, (_, index) => `text number ${index}`)
const predictField = 'predict(jobId: "job-doesnotexist", inputs: $texts) { predictions { label probabilities } }'
const historyField = 'jobs(first: 100) { edges { node { id metricHistory { name points { step value } } } } }'

let server: TestServer
/** The status GraphQL's own validation errors get (an unknown field), for comparison. */
let validationStatus: number

beforeAll(async () => {
  server = await startServer()
  validationStatus = (await post(server, { query: '{ noSuchField }' })).status
})

afterAll(async () => {
  await server?.close()
})

describe('the reported cases under the default limits', () => {
  it('refuses 1,000 aliases of predict over 256 texts with E1108 before any inference', async () => {
    const reply = await post(server, { query: `query Flood($texts: [JSON!]!) {\n${aliases(1000, () => predictField)}\n}`, variables: { texts } })
    // The job does not exist: had any alias run, it would have answered E1101.
    expectRefusal(reply, 'GRAPHQL_MAX_TOKENS')
    expect(reply.body.errors?.map((error) => error.extensions?.code)).not.toContain('E1101')
    expect(reply.status).toBe(validationStatus)
  })

  it('refuses eight concurrent requests of 1,000 aliases of jobs(first: 100) with metricHistory, and /healthz still answers', async () => {
    const query = `{\n${aliases(1000, () => historyField)}\n}`
    const replies = await Promise.all(Array.from({ length: 8 }, () => post(server, { query })))
    for (const reply of replies) expectRefusal(reply, 'GRAPHQL_MAX_')
    expect((await server.request('GET', '/healthz', { token: null })).status).toBe(200)
  })

  it('refuses a selection nested 5,000 deep with E1108 naming GRAPHQL_MAX_DEPTH, not a 500', async () => {
    const query = `${'{ a '.repeat(5000)}${'}'.repeat(5000)}`
    const reply = await post(server, { query })
    expect(reply.status).toBe(validationStatus)
    expect(expectRefusal(reply, 'GRAPHQL_MAX_DEPTH').message).toMatch(/Query depth limit of 15 exceeded/)
  })

  it('refuses a list value nested 5,000 deep with E1108 naming GRAPHQL_MAX_DEPTH', async () => {
    const reply = await post(server, { query: `{ compareJobs(ids: ${'['.repeat(5000)}${']'.repeat(5000)}) { jobs { id } } }` })
    expect(expectRefusal(reply, 'GRAPHQL_MAX_DEPTH').message).toMatch(/Input value nesting limit of 15/)
  })

  it('answers dataset(id: $id) with a lone surrogate with E1108 naming the variable', async () => {
    const reply = await post(server, { query: 'query Lone($id: ID!) { dataset(id: $id) { id } }', variables: { id: '\ud800' } })
    const error = reply.body.errors?.[0]
    expect(error?.extensions?.code, JSON.stringify(reply.body)).toBe('E1108')
    expect(error?.message).toMatch(/\$id .*surrogate/)
    expect(error?.extensions?.details).toEqual([{ field: 'id', message: expect.stringMatching(/surrogate/) }])
    expect(reply.status).toBe(validationStatus)
  })

  it('answers dataset(id: "\\ud800") written in the query with E1108, as the raw character too', async () => {
    for (const literal of ['\\ud800', '\ud800']) {
      const reply = await post(server, { query: `{ dataset(id: "${literal}") { id } }` })
      expect(reply.body.errors?.[0]?.extensions?.code, JSON.stringify(reply.body)).toBe('E1108')
      expect(reply.body.errors?.[0]?.message).toMatch(/Unicode|U\+D800/)
    }
  })

  it('answers a NUL in a string argument or inside an input object with E1108 naming the argument', async () => {
    const reply = await post(server, { query: '{ dataset(id: "a\\u0000b") { id } }' })
    expect(reply.body.errors?.[0]?.extensions).toMatchObject({ code: 'E1108', details: [{ field: 'id', message: 'contains a NUL character' }] })
    const nested = await post(server, { query: 'mutation { createTemplate(input: { name: "x\\u0000", model: {} }) { id } }' })
    const details = nested.body.errors?.flatMap((error) => error.extensions?.details ?? [])
    expect(details).toContainEqual({ field: 'input.name', message: 'contains a NUL character' })
  })

  it('answers a NUL anywhere in the variables with E1108 naming its path', async () => {
    const reply = await post(server, {
      query: 'query Nul($tags: [String!]) { datasets(tags: $tags) { totalCount } }',
      variables: { tags: ['ok', 'bad\u0000'] },
    })
    expect(reply.body.errors?.[0]?.extensions).toMatchObject({ code: 'E1108', details: [{ field: 'tags[1]', message: 'contains a NUL character' }] })
  })

  it('refuses variables nested 10,000 deep with E1108 naming GRAPHQL_MAX_DEPTH', async () => {
    const body = `{"query":"query Deep($ids: [ID!]!) { compareJobs(ids: $ids) { jobs { job { id } } } }","variables":{"ids":${'['.repeat(10_000)}${']'.repeat(10_000)}}}`
    const response = await server.request('POST', '/graphql', { body, headers: { 'content-type': 'application/json' } })
    const reply = { status: response.status, body: response.body as unknown as GraphqlReply['body'] }
    expect(expectRefusal(reply, 'GRAPHQL_MAX_DEPTH').message).toMatch(/^Variables nest deeper than 15 levels at \$ids/)
  })
})

describe('cost by size under the default limits', () => {
  it('lets one predict of 256 inputs through (it reaches the resolver: E1101 for a job that does not exist)', async () => {
    const reply = await post(server, { query: `query One($texts: [JSON!]!) { ${predictField} }`, variables: { texts } })
    expect(reply.body.errors?.map((error) => error.extensions?.code)).toEqual(['E1101'])
  })

  it('prices predict by its inputs: 20 aliases of 256 inputs go over GRAPHQL_MAX_COST', async () => {
    const reply = await post(server, { query: `query Twenty($texts: [JSON!]!) {\n${aliases(20, () => predictField)}\n}`, variables: { texts } })
    expect(expectRefusal(reply, 'GRAPHQL_MAX_COST').message).toMatch(/Query cost limit of 50000 exceeded, found \d+/)
    expect(reply.status).toBe(validationStatus)
  })

  it('prices jobs by first and metricHistory by its points, reading variables', async () => {
    const query = 'query History($first: Int) { jobs(first: $first) { edges { node { metricHistory { name points { step value } } } } } }'
    expectRefusal(await post(server, { query, variables: { first: 100 } }), 'GRAPHQL_MAX_COST')
    const small = await post(server, { query, variables: { first: 1 } })
    expect(small.body.errors).toBeUndefined()
    expect(small.body.data?.jobs).toEqual({ edges: [] })
    const downsampled = `{ jobs(first: 100) { edges { node { metricHistory(maxPoints: 50) { name points { step value } } } } } }`
    expect((await post(server, { query: downsampled })).body.errors).toBeUndefined()
  })

  it("serves GraphiQL's introspection query without a token, and nothing else without one", async () => {
    const query = getIntrospectionQuery({
      descriptions: true,
      schemaDescription: true,
      inputValueDeprecation: true,
      directiveIsRepeatable: true,
      specifiedByUrl: true,
    })
    const reply = await post(server, { query, operationName: 'IntrospectionQuery' }, null)
    expect(reply.status).toBe(200)
    expect(reply.body.errors).toBeUndefined()
    expect(reply.body.data?.__schema).toMatchObject({ queryType: { name: 'Query' } })
    const mixed = await post(server, { query: '{ __typename viewer { name } }' }, null)
    expect(mixed.status).toBe(401)
    expect(mixed.body.errors?.[0]?.extensions?.code).toBe('E1100')
  })
})

describe('each limit set low through the environment', () => {
  let low: TestServer

  beforeAll(async () => {
    low = await startServer({
      GRAPHQL_MAX_DEPTH: '4',
      GRAPHQL_MAX_ALIASES: '2',
      GRAPHQL_MAX_TOKENS: '60',
      GRAPHQL_MAX_DIRECTIVES: '2',
      GRAPHQL_MAX_COST: '200',
    })
  })

  afterAll(async () => {
    await low?.close()
  })

  it('GRAPHQL_MAX_DEPTH: refuses depth 5 while parsing, and through fragments while validating', async () => {
    const parsed = await post(low, { query: '{ jobs { edges { node { progress { percentage } } } } }' })
    expect(expectRefusal(parsed, 'GRAPHQL_MAX_DEPTH').message).toBe('Query depth limit of 4 exceeded while parsing (GRAPHQL_MAX_DEPTH).')
    const fragments = await post(low, {
      query: '{ jobs { edges { ...Edge } } } fragment Edge on QueryJobsConnectionEdge { node { progress { percentage } } }',
    })
    expect(expectRefusal(fragments, 'GRAPHQL_MAX_DEPTH').message).toBe('Query depth limit of 4 exceeded, found 5 (GRAPHQL_MAX_DEPTH).')
    expect(fragments.status).toBe(validationStatus)
    expect((await post(low, { query: '{ jobs { edges { node { id } } } }' })).body.errors).toBeUndefined()
  })

  it('GRAPHQL_MAX_ALIASES: refuses a third alias', async () => {
    const reply = await post(low, { query: '{ a: viewer { name } b: viewer { name } c: viewer { name } }' })
    expect(expectRefusal(reply, 'GRAPHQL_MAX_ALIASES').message).toBe('Aliases limit of 2 exceeded, found 3 (GRAPHQL_MAX_ALIASES).')
    expect((await post(low, { query: '{ a: viewer { name } b: viewer { name } }' })).body.errors).toBeUndefined()
  })

  it('GRAPHQL_MAX_DIRECTIVES: refuses a third directive', async () => {
    const reply = await post(low, { query: '{ viewer { name @include(if: true) scopes @include(if: true) n: name @skip(if: false) } }' })
    expect(expectRefusal(reply, 'GRAPHQL_MAX_DIRECTIVES').message).toMatch(/^Directives limit of 2 exceeded, found 3 \(GRAPHQL_MAX_DIRECTIVES\)\.$/)
  })

  it('GRAPHQL_MAX_TOKENS: refuses a document of more than 60 tokens while parsing', async () => {
    const reply = await post(low, { query: `{ viewer { ${'name '.repeat(60)}} }` })
    expect(expectRefusal(reply, 'GRAPHQL_MAX_TOKENS').message).toBe('Token limit of 60 exceeded (GRAPHQL_MAX_TOKENS).')
    expect(reply.status).toBe(validationStatus)
  })

  it('GRAPHQL_MAX_COST: prices a connection by first (and 20 without it)', async () => {
    const over = await post(low, { query: '{ jobs(first: 50) { edges { node { id name status } } } }' })
    expect(expectRefusal(over, 'GRAPHQL_MAX_COST').message).toMatch(/^Query cost limit of 200 exceeded, found 251 \(GRAPHQL_MAX_COST\)/)
    expect((await post(low, { query: '{ jobs(first: 10) { edges { node { id name status } } } }' })).body.errors).toBeUndefined()
    expect((await post(low, { query: '{ jobs { edges { node { id name status } } } }' })).body.errors).toBeUndefined()
  })
})

describe('subscription limits over graphql-ws', () => {
  let subs: TestServer
  let aliceId: string
  let seed: JobUpdatedEvent['job']

  beforeAll(async () => {
    subs = await startServer({ GRAPHQL_MAX_SUBSCRIPTIONS_PER_CONNECTION: '2', GRAPHQL_MAX_SUBSCRIPTIONS_PER_USER: '3' })
    aliceId = (await subs.app.services.auth.authenticate(`Bearer ${tokens.alice}`)).userId
    const datasetId = await createDataset(subs)
    const created = await subs.request<{ job: JobUpdatedEvent['job'] }>('POST', '/v1/training/jobs', { json: jobRequest(datasetId) })
    expect(created.status, created.text).toBe(201)
    seed = created.body.data.job
  })

  afterAll(async () => {
    await subs?.close()
  })

  const publish = (event: JobUpdatedEvent) => subs.app.bus.publish(topics.userJobs(aliceId), event)
  const live = (subscription: TSubscription<unknown>) => untilDelivering(subscription, publish, seed, aliceId)

  /** Subscribes and waits for the server's verdict: the probe arrives (live) or the subscribe fails (refused). Bounded. */
  async function verdict(client: ReturnType<typeof createWsClient>['client']) {
    const subscription = tsubscribe(client, LimitsMyJobs, {})
    let failure: unknown
    const ended = subscription.waitForEnd(20_000).then(
      (end) => (failure = end.error ?? 'completed'),
      () => {},
    )
    for (let attempt = 0; attempt < 200 && failure === undefined && subscription.probesSeen() === 0; attempt++) {
      await publish({ type: 'job.updated', ownerId: aliceId, job: { ...seed, name: probeName } })
      await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 50))])
    }
    return { subscription, failure: failure as GraphqlError[] | undefined, live: subscription.probesSeen() > 0 }
  }

  it('refuses a third subscription on a connection and a fourth for the user with E1111 naming the limit; the others keep working', async () => {
    const first = createWsClient(subs, { token: tokens.alice })
    await first.connected
    const one = tsubscribe(first.client, LimitsMyJobs, {})
    const two = tsubscribe(first.client, LimitsMyJobs, {})
    await live(one)
    await live(two)

    const third = await verdict(first.client)
    expect(third.live).toBe(false)
    expect(third.failure?.[0]).toMatchObject({
      message: expect.stringContaining('GRAPHQL_MAX_SUBSCRIPTIONS_PER_CONNECTION'),
      extensions: { code: 'E1111', limit: 'GRAPHQL_MAX_SUBSCRIPTIONS_PER_CONNECTION' },
    })

    const second = createWsClient(subs, { token: tokens.alice })
    await second.connected
    expect((await verdict(second.client)).live).toBe(true)
    const fourth = await verdict(second.client)
    expect(fourth.failure?.[0]).toMatchObject({ extensions: { code: 'E1111', limit: 'GRAPHQL_MAX_SUBSCRIPTIONS_PER_USER' } })

    // The subscriptions that were live still deliver.
    await publish({ type: 'job.updated', ownerId: aliceId, job: { ...seed, name: 'after-refusals' } })
    expect((await one.waitForNext()).data).toEqual({ myJobs: { id: seed.id, name: 'after-refusals', status: seed.status } })
    expect((await two.waitForNext()).data).toEqual({ myJobs: { id: seed.id, name: 'after-refusals', status: seed.status } })

    // Closing the first socket frees its two slots for the user.
    first.client.dispose()
    let freed = await verdict(second.client)
    for (let attempt = 0; attempt < 50 && !freed.live; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      freed = await verdict(second.client)
    }
    expect(freed.live).toBe(true)
  })

  it('counts SSE subscriptions against the per-user limit too', async () => {
    const ws = createWsClient(subs, { token: tokens.bob })
    await ws.connected
    const bobId = (await subs.app.services.auth.authenticate(`Bearer ${tokens.bob}`)).userId
    const bobSeed = { ...seed, owner: 'bob' }
    const publishBob = (event: JobUpdatedEvent) => subs.app.bus.publish(topics.userJobs(bobId), event)
    const held = [tsubscribe(ws.client, LimitsMyJobs, {}), tsubscribe(ws.client, LimitsMyJobs, {})]
    for (const subscription of held) await untilDelivering(subscription, publishBob, bobSeed, bobId)
    const other = createWsClient(subs, { token: tokens.bob })
    await other.connected
    await untilDelivering(tsubscribe(other.client, LimitsMyJobs, {}), publishBob, bobSeed, bobId)

    const response = await fetch(`${subs.url}/graphql`, {
      method: 'POST',
      headers: { accept: 'text/event-stream', 'content-type': 'application/json', authorization: `Bearer ${tokens.bob}` },
      body: JSON.stringify({ query: 'subscription { myJobs { id } }' }),
    })
    const text = await response.text()
    expect(text).toContain('E1111')
    expect(text).toContain('GRAPHQL_MAX_SUBSCRIPTIONS_PER_USER')
  })
})

describe('GraphiQL', () => {
  /** The options object the served page passes to renderYogaGraphiQL, evaluated as the browser would (storage empty). */
  async function pageOptions(): Promise<Record<string, unknown>> {
    const response = await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html' } })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/html/)
    const html = await response.text()
    const call = html.slice(html.lastIndexOf('YogaGraphiQL.renderYogaGraphiQL('))
    const match = /^YogaGraphiQL\.renderYogaGraphiQL\(\s*window\.document\.querySelector\('#root'\),\s*([\s\S]*?),\s*\);\s*<\/script>/.exec(call)
    expect(match, call.slice(0, 500)).not.toBeNull()
    const storage = { getItem: () => null }
    return vm.runInNewContext(`(${match![1]})`, { window: { localStorage: storage } }) as Record<string, unknown>
  }

  it('opens on a jobs(first: 5) example with the token hint in comments, empty headers and WebSocket subscriptions', async () => {
    const options = await pageOptions()
    expect(options.subscriptionsProtocol).toBe('WS')
    expect(options.defaultQuery).toMatch(/jobs\(first: 5\)/)
    expect(options.defaultQuery).toMatch(/^# .*Authorization.*Bearer <your token>/m)
    // The Headers pane holds only a comment: GraphiQL sends no header, so nothing fails on open.
    expect(options.headers).toMatch(/^\{\s*\/\/ "Authorization": "Bearer <your token>"\s*\}\s*$/)
    expect((options.connectionParams as () => unknown)()).toEqual({})

    // The example works once a token is there.
    const reply = await post(server, { query: options.defaultQuery })
    expect(reply.body.errors).toBeUndefined()
    expect(reply.body.data?.jobs).toMatchObject({ totalCount: expect.any(Number), edges: expect.any(Array) })
  })

  it("sends the Headers pane as connectionParams, and a graphql-ws client with exactly those receives a subscription's events", async () => {
    const options = await pageOptions()
    // What GraphiQL reports as the user types: JSON with comments and a trailing comma, as its editor allows.
    ;(options.onEditHeaders as (text: string) => void)(`{\n  // my token\n  "Authorization": "Bearer ${tokens.alice}",\n}`)
    const connectionParams = (options.connectionParams as () => Record<string, unknown>)()
    expect(connectionParams).toEqual({ Authorization: `Bearer ${tokens.alice}` })

    const aliceId = (await server.app.services.auth.authenticate(`Bearer ${tokens.alice}`)).userId
    const datasetId = await createDataset(server, { name: 'graphiql-texts' })
    const created = await server.request<{ job: JobUpdatedEvent['job'] }>('POST', '/v1/training/jobs', { json: jobRequest(datasetId) })
    const job = created.body.data.job
    const ws = createWsClient(server, { connectionParams })
    await ws.connected
    const subscription = tsubscribe(ws.client, LimitsMyJobs, {})
    await untilDelivering(subscription, (event) => server.app.bus.publish(topics.userJobs(aliceId), event), job, aliceId)
    const stopped = await server.request('POST', `/v1/training/jobs/${job.id}/stop`)
    expect(stopped.status, stopped.text).toBe(200)
    expect((await subscription.waitForNext()).data).toEqual({ myJobs: { id: job.id, name: job.name, status: 'cancelled' } })
  })

  it('accepts the token as connectionParams.headers.authorization too', async () => {
    const ws = createWsClient(server, { connectionParams: { headers: { authorization: `Bearer ${tokens.alice}` } } })
    await ws.connected
  })
})
