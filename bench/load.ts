// Load and soak: 200 concurrent clients mixing job status reads, job lists,
// GraphQL queries, live subscriptions, small dataset uploads and predictions
// against one service process, first with the trainer idle (the baseline,
// same run), then while two jobs train and an export runs. Reports requests
// by status, p50/p99 per kind, errors, /healthz latency sampled every 50 ms,
// the service's RSS before and after, and checks afterwards that every
// upload is present with the checksum of the bytes that were sent.
//   npm run bench:load -- [--duration 60] [--baseline 20] [--clients 200]
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import autocannon from 'autocannon'
import { createClient } from 'graphql-ws'
import WebSocket from 'ws'
import { machine, median, numberOption, restClient, rssBytes, spawnService, table } from './lib.ts'

const duration = numberOption('duration', 60)
const baselineDuration = numberOption('baseline', 20)
const clients = numberOption('clients', 200)
const token = 'tok-load'
const auth = { authorization: `Bearer ${token}` }

// The mix of the 200 clients (shares of `clients`).
const share = { status: 0.38, list: 0.2, graphql: 0.2, subscriptions: 0.1, uploads: 0.1, predict: 0.02 }
const count = (part: keyof typeof share) => Math.max(1, Math.round(clients * share[part]))

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-load-'))
// RATE_LIMIT=off: one token drives 200 clients here; the limits are tested in test/http/limits.test.ts.
const service = await spawnService('src/main.ts', {
  DATA_DIR: dataDir,
  API_TOKENS: `load:${token}`,
  TRAINER_CONCURRENCY: '2',
  LOG_LEVEL: 'warn',
  RATE_LIMIT: 'off',
})
const api = restClient(service.url, token)

interface Kind {
  label: string
  latencies: number[]
  statuses: Map<string, number>
  errors: number
}

const kind = (label: string): Kind => ({ label, latencies: [], statuses: new Map(), errors: 0 })
const countStatus = (into: Kind, status: string, n = 1) => into.statuses.set(status, (into.statuses.get(status) ?? 0) + n)

function tabularCsv(rows: number, seed: number): string {
  const lines = ['a,b,y']
  for (let i = 0; i < rows; i++) lines.push(`${(i * seed) % 97},${(i * 7 + seed) % 13},${((i * seed) % 97) * 2 - ((i * 7 + seed) % 13)}`)
  return lines.join('\n')
}

async function upload(name: string, csv: string): Promise<{ id: string; status: number }> {
  const form = new FormData()
  form.append('name', name)
  form.append('type', 'tabular')
  form.append('format', 'csv')
  form.append('file', new Blob([csv]), `${name}.csv`)
  const response = await fetch(`${service.url}/v1/training/datasets`, { method: 'POST', headers: auth, body: form })
  const body = (await response.json()) as { data?: { dataset: { id: string } } }
  return { id: body.data?.dataset.id ?? '', status: response.status }
}

interface JobReply {
  job: { id: string; status: string; progress: { step: number | null } }
}

async function createJob(dataset: string, epochs: number): Promise<string> {
  const reply = await api<JobReply>('POST', '/v1/training/jobs', {
    name: `load-${epochs}`,
    model: { baseModel: 'tabular-mlp', task: 'tabular-regression' },
    dataset: { id: dataset, labelColumn: 'y' },
    hyperparameters: { batchSize: 32, epochs },
    resources: { instanceType: 'cpu.small' },
  })
  return reply.job.id
}

/** autocannon on one request shape; its latencies (histogram percentiles) and status counts go into `into`. */
async function hammer(into: Kind, connections: number, seconds: number, urlPath: string, options: Partial<autocannon.Options> = {}) {
  const result = await autocannon({ url: service.url + urlPath, connections, duration: seconds, headers: auth, ...options })
  into.latencies.push(result.latency.p50, result.latency.p99)
  for (const [code, stats] of Object.entries(result.statusCodeStats ?? {})) countStatus(into, code, (stats as { count: number }).count)
  into.errors += result.errors + result.timeouts
  return { p50: result.latency.p50, p99: result.latency.p99, requests: result.requests.total }
}

/** `n` graphql-ws clients on jobMetricBatches of `jobs` for `seconds`: results and errors counted. */
async function subscribers(into: Kind, n: number, seconds: number, jobs: string[]) {
  let results = 0
  const sockets = Array.from({ length: n }, (_, i) => {
    const client = createClient({ url: `${service.url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: auth })
    const id = jobs[i % jobs.length]
    const stop = client.subscribe(
      { query: 'subscription($id: ID!) { jobMetricBatches(id: $id) { jobId points { step value } } }', variables: { id } },
      { next: () => void results++, error: () => void into.errors++, complete: () => {} },
    )
    return { client, stop }
  })
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
  for (const { client, stop } of sockets) {
    stop()
    await client.dispose()
  }
  countStatus(into, 'results', results)
}

/** `n` clients uploading small CSVs back to back for `seconds`; what was sent is kept for the check afterwards. */
async function uploaders(into: Kind, n: number, seconds: number, sent: Map<string, string>) {
  const until = Date.now() + seconds * 1000
  await Promise.all(
    Array.from({ length: n }, async (_, client) => {
      for (let i = 0; Date.now() < until; i++) {
        const csv = `${tabularCsv(200, 3 + ((client + i) % 50))}\n${client},${i},${randomBytes(2).readUInt16BE(0)}`
        const started = performance.now()
        try {
          const { id, status } = await upload(`u-${client}-${i}`, csv)
          into.latencies.push(performance.now() - started)
          countStatus(into, String(status))
          if (status === 201) sent.set(id, `sha256:${createHash('sha256').update(csv).digest('hex')}`)
        } catch {
          into.errors++
        }
      }
    }),
  )
}

/** `n` clients asking a trained model for 32 predictions at a time, back to back. */
async function predictors(into: Kind, n: number, seconds: number, job: string) {
  const until = Date.now() + seconds * 1000
  const inputs = Array.from({ length: 32 }, (_, i) => ({ a: i % 97, b: i % 13 }))
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (Date.now() < until) {
        const started = performance.now()
        try {
          const response = await fetch(`${service.url}/v1/training/jobs/${job}/predict`, {
            method: 'POST',
            headers: { ...auth, 'content-type': 'application/json' },
            body: JSON.stringify({ inputs }),
          })
          await response.arrayBuffer()
          into.latencies.push(performance.now() - started)
          countStatus(into, String(response.status))
        } catch {
          into.errors++
        }
      }
    }),
  )
}

/** /healthz every 50 ms for `seconds`: its latencies. */
async function sampleHealth(seconds: number): Promise<number[]> {
  const until = Date.now() + seconds * 1000
  const latencies: number[] = []
  while (Date.now() < until) {
    const started = performance.now()
    await fetch(`${service.url}/healthz`).then(
      (response) => response.arrayBuffer(),
      () => undefined,
    )
    latencies.push(performance.now() - started)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return latencies
}

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]

async function phase(label: string, seconds: number, jobs: string[], sent: Map<string, string>, trained: string) {
  const kinds = {
    status: kind('GET /v1/training/jobs/{id}'),
    list: kind('GET /v1/training/jobs?limit=20'),
    graphql: kind('GraphQL jobs(first: 10)'),
    subscriptions: kind('graphql-ws jobMetricBatches'),
    uploads: kind('POST /v1/training/datasets (small CSV)'),
    predict: kind('POST /v1/training/jobs/{id}/predict (32 rows)'),
  }
  const query = '{ jobs(first: 10) { totalCount edges { node { id status progress { step } metrics { trainLoss } } } } }'
  const before = rssBytes(service.child.pid!)
  const [status, list, graphql, , , , health] = await Promise.all([
    hammer(kinds.status, count('status'), seconds, `/v1/training/jobs/${jobs[0]}`),
    hammer(kinds.list, count('list'), seconds, '/v1/training/jobs?limit=20'),
    hammer(kinds.graphql, count('graphql'), seconds, '/graphql', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ query }),
    }),
    subscribers(kinds.subscriptions, count('subscriptions'), seconds, jobs),
    uploaders(kinds.uploads, count('uploads'), seconds, sent),
    predictors(kinds.predict, count('predict'), seconds, trained),
    sampleHealth(seconds),
  ])
  await new Promise((resolve) => setTimeout(resolve, 3000))
  const after = rssBytes(service.child.pid!)
  const percentiles = { status, list, graphql }
  const rows = Object.entries(kinds).map(([key, k]) => {
    const measured = percentiles[key as keyof typeof percentiles]
    const p50 = measured ? measured.p50 : k.latencies.length ? median(k.latencies) : Number.NaN
    const p99 = measured ? measured.p99 : k.latencies.length ? percentile(k.latencies, 0.99) : Number.NaN
    const statuses = [...k.statuses].map(([code, n]) => `${code}: ${n}`).join(', ')
    return [k.label, count(key as keyof typeof share), statuses, Number.isNaN(p50) ? '-' : p50.toFixed(1), Number.isNaN(p99) ? '-' : p99.toFixed(1), k.errors]
  })
  return { label, rows, before, after, kinds, health }
}

try {
  const seed = await upload('seed', tabularCsv(20000, 5))
  if (seed.status !== 201) throw new Error(`seed upload answered ${seed.status}`)
  // Jobs to list: created and stopped at once (they stay in the list as cancelled).
  const probe = await createJob(seed.id, 1000)
  await api('POST', `/v1/training/jobs/${probe}/stop`)
  for (let i = 0; i < 30; i++) await api('POST', `/v1/training/jobs/${await createJob(seed.id, 1)}/stop`).catch(() => {})
  const sent = new Map<string, string>()
  // A trained model for the predict clients and the export.
  const trained = await createJob(seed.id, 2)
  for (;;) {
    const { job } = await api<JobReply>('GET', `/v1/training/jobs/${trained}`)
    if (job.status === 'completed') break
    if (job.status === 'failed' || job.status === 'cancelled') throw new Error(`the model for predictions ended ${job.status}`)
    await new Promise((resolve) => setTimeout(resolve, 500))
  }

  const idle = await phase('trainer idle (baseline)', baselineDuration, [probe], sent, trained)
  const training = [await createJob(seed.id, 10000), await createJob(seed.id, 10000)]
  for (const id of training) {
    for (;;) {
      const { job } = await api<JobReply>('GET', `/v1/training/jobs/${id}`)
      if (job.status === 'running' && (job.progress.step ?? 0) > 0) break
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }
  await api('POST', `/v1/training/jobs/${trained}/export`, { format: 'onnx' })
  const loaded = await phase('two jobs training, an ONNX export', duration, training, sent, trained)
  for (const id of training) await api('POST', `/v1/training/jobs/${id}/stop`)

  // Every upload present, with the checksum of what was sent.
  let present = 0
  const missing: string[] = []
  for (const [id, checksum] of sent) {
    const reply = await api<{ dataset: { checksum: string } }>('GET', `/v1/training/datasets/${id}`).catch(() => null)
    if (reply?.dataset.checksum === checksum) present++
    else missing.push(id)
  }

  console.log(
    `Load and soak — ${machine()}; load average ${os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}`,
  )
  for (const result of [idle, loaded]) {
    const seconds = result === idle ? baselineDuration : duration
    console.log(`\n${result.label}: ${clients} clients for ${seconds} s`)
    console.log(table(['what', 'clients', 'answers by status', 'p50 ms', 'p99 ms', 'connection errors'], result.rows))
    const growth = ((result.after - result.before) / result.before) * 100
    const h = result.health
    console.log(
      `/healthz every 50 ms: ${h.length} samples, p50 ${percentile(h, 0.5).toFixed(1)} ms, p99 ${percentile(h, 0.99).toFixed(1)} ms, max ${Math.max(...h).toFixed(1)} ms, over 100 ms: ${h.filter((v) => v > 100).length}`,
    )
    console.log(`service RSS before ${(result.before / 2 ** 20).toFixed(0)} MiB, after ${(result.after / 2 ** 20).toFixed(0)} MiB (${growth.toFixed(1)}%)`)
  }
  console.log(
    `\nuploads present afterwards with a matching checksum: ${present} of ${sent.size}${missing.length ? ` (missing or different: ${missing.slice(0, 5).join(', ')})` : ''}`,
  )
} finally {
  await service.stop()
  rmSync(dataDir, { recursive: true, force: true })
}
