// Prediction speed per architecture (issue 5): the service's predict endpoint
// (HTTP, one sequential keep-alive client, and a few at once), the service's
// predictor called in-process, the job's ONNX export in onnxruntime-node (fp32
// on pre-encoded tensors and from raw inputs, int8) and its tfjs export on
// the service's backend, in the same run. Each model is trained through the
// real API (`npm start`'s process, embedded trainer) and exported and
// downloaded through it. Every (architecture, batch size, side) cell runs
// sequential calls for a time window; rounds go through all cells, the side
// order rotated each round, so that the machine's noise hits every side alike.
//   npm run bench:predict [-- --rounds 5 --window-ms 250 --clients 4 --cases text,image --batches 1,64]
// rows/s: median over rounds; p50/p99: per-call latency pooled over rounds;
// ratio: median over rounds of the side's rows/s over HTTP predict's (1 client).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as ort from 'onnxruntime-node'
import { selectBackend } from '../trainer/ml/backend.ts'
import { createPredictor, type ModelRef } from '../trainer/serving.ts'
import { machine, median, numberOption, restClient, spawnService, table } from './lib.ts'
import { allCases, predictInputs, type PredictCase } from './predict-cases.ts'
import { httpSide, jobReadSide, loadOnnx, onnxSide, predictorSide, tfjsSide, type Side } from './predict-sides.ts'

const rounds = numberOption('rounds', 5)
const windowMs = numberOption('window-ms', 250)
const clients = numberOption('clients', 4)
const batchSizes = listOption('batches', ['1', '64']).map(Number)
const caseFilter = listOption('cases', [])
const token = 'tok-bench'
/** Calls a cell makes at least, however slow they are. */
const minCalls = 6

/** `--name a,b` from the command line as a list, or `fallback`. */
function listOption(name: string, fallback: string[]): string[] {
  const args = process.argv.slice(2)
  const at = args.indexOf(`--${name}`)
  return at >= 0 ? args[at + 1].split(',').filter(Boolean) : fallback
}

interface Trained {
  c: PredictCase
  jobId: string
  ref: ModelRef
  labels: string[] | null
  exports: { fp32: Uint8Array; int8: Uint8Array; tfjs: Uint8Array }
}

interface Cell {
  side: Side
  rowsPerSecond: number[]
  latencies: number[]
  /** Per round: rows/s over HTTP predict's (1 client) in the same round. */
  ratios: number[]
  /** The service process's CPU during this cell's windows, remote sides only. */
  serviceCpuMs: number
}

/** One model at one batch size: its sides, measured one after the other in each round; the first is HTTP predict with 1 client. */
interface Group {
  c: PredictCase
  batchSize: number
  batchCount: number
  cells: Cell[]
}

const newCell = (side: Side): Cell => ({ side, rowsPerSecond: [], latencies: [], ratios: [], serviceCpuMs: 0 })

const cases = allCases.filter((c) => caseFilter.length === 0 || caseFilter.some((word) => c.name.includes(word)))
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-predict-'))
const service = await spawnService('src/main.ts', { DATA_DIR: dataDir, API_TOKENS: `bench:${token}`, TRAINER_CONCURRENCY: '2', RATE_LIMIT: 'off' })
const predictor = createPredictor({ dataDir, maxBatch: Math.max(...batchSizes), maxModels: cases.length })
const began = performance.now()

const api = restClient(service.url, token)

async function poll<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 300_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (done(value)) return value
    if (Date.now() > deadline) throw new Error(`${what} not done in ${timeoutMs / 1000} s: ${JSON.stringify(value)}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

const datasets = new Map<string, Promise<string>>()
function upload(c: PredictCase): Promise<string> {
  const csv = c.trainingCsv()
  let pending = datasets.get(csv)
  if (!pending) {
    const form = new FormData()
    form.append('name', c.name)
    form.append('type', c.datasetType)
    form.append('format', 'csv')
    form.append('file', new Blob([csv]), 'train.csv')
    pending = api<{ dataset: { id: string } }>('POST', '/v1/training/datasets', form).then((data) => data.dataset.id)
    datasets.set(csv, pending)
  }
  return pending
}

async function train(c: PredictCase): Promise<string> {
  const dataset = await upload(c)
  const { job } = await api<{ job: { id: string } }>('POST', '/v1/training/jobs', {
    name: `bench-${c.model.baseModel}`,
    model: c.model,
    dataset: { id: dataset, labelColumn: c.labelColumn, validationSplit: 0.1, testSplit: 0.1 },
    hyperparameters: { batchSize: 32, ...c.hyperparameters },
    resources: { instanceType: 'cpu.small' },
    options: { seed: 42 },
  })
  type JobJson = { status: string; error: unknown }
  const ended = await poll(
    () => api<{ job: JobJson }>('GET', `/v1/training/jobs/${job.id}`),
    ({ job }) => ['completed', 'failed', 'cancelled'].includes(job.status),
    `job ${c.name}`,
  )
  if (ended.job.status !== 'completed') throw new Error(`${c.name}: job ${ended.job.status}: ${JSON.stringify(ended.job.error)}`)
  return job.id
}

async function exported(jobId: string, body: unknown): Promise<Uint8Array> {
  type ExportJson = { id: string; status: string; downloadUrl: string | null; error: unknown }
  const created = (await api<{ export: ExportJson }>('POST', `/v1/training/jobs/${jobId}/export`, body)).export
  const view = (
    await poll(
      () => api<{ export: ExportJson }>('GET', `/v1/training/jobs/${jobId}/exports/${created.id}`),
      ({ export: e }) => e.status !== 'processing',
      `export ${created.id}`,
    )
  ).export
  if (view.status !== 'completed') throw new Error(`export ${JSON.stringify(body)} of ${jobId} ${view.status}: ${JSON.stringify(view.error)}`)
  const response = await fetch(service.url + view.downloadUrl, { headers: { authorization: `Bearer ${token}` } })
  if (!response.ok) throw new Error(`download of ${created.id}: ${response.status}`)
  return new Uint8Array(await response.arrayBuffer())
}

/** The checkpoint predict serves: the best, else the last (src/services/exports.ts); its folder is named by its step (trainer/runner.ts). */
async function servedModel(c: PredictCase, jobId: string): Promise<ModelRef> {
  const { checkpoints } = await api<{ checkpoints: { id: string; step: number; isBest: boolean }[] }>('GET', `/v1/training/jobs/${jobId}/checkpoints`)
  const served = checkpoints.filter((ckpt) => ckpt.isBest).at(-1) ?? checkpoints.at(-1)
  if (!served) throw new Error(`${c.name}: the job has no checkpoint`)
  const checkpointPath = `checkpoints/${jobId}/ckpt-${served.step}`
  if (!existsSync(path.join(dataDir, checkpointPath))) throw new Error(`${c.name}: no checkpoint folder ${checkpointPath}`)
  return { jobId, task: c.model.task as ModelRef['task'], checkpointPath, checkpointId: served.id }
}

async function prepare(c: PredictCase, jobId: string): Promise<Trained> {
  // One at a time: the service runs exports one after the other anyway.
  const fp32 = await exported(jobId, { format: 'onnx', options: { optimize: true } })
  const int8 = await exported(jobId, { format: 'onnx', options: { optimize: true, quantize: true, quantizationType: 'int8' } })
  const tfjs = await exported(jobId, { format: 'tfjs', options: { optimize: true } })
  const labels = (await loadOnnx(fp32)).preprocessing.labels
  return { c, jobId, ref: await servedModel(c, jobId), labels, exports: { fp32, int8, tfjs } }
}

/** Every side of one model at one batch size; `batches` are the same raw inputs for all. */
async function sidesOf(trained: Trained, batches: unknown[][]): Promise<Side[]> {
  const http = (label: string, n: number) => httpSide({ label, url: service.url, token, jobId: trained.jobId, batches, labels: trained.labels, clients: n })
  return [
    http('HTTP predict, 1 client', 1),
    http(`HTTP predict, ${clients} clients`, clients),
    predictorSide(predictor, trained.ref, batches, trained.labels),
    onnxSide('ORT fp32, pre-encoded', await loadOnnx(trained.exports.fp32), batches, false),
    onnxSide('ORT fp32, from raw inputs', await loadOnnx(trained.exports.fp32), batches, true),
    onnxSide('ORT int8, pre-encoded', await loadOnnx(trained.exports.int8), batches, false),
    await tfjsSide(trained.exports.tfjs, batches),
  ]
}

/** CPU time of a process and all its threads so far, in ms (Linux; 10 ms ticks, so only sums over many calls mean something). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the command name
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/** Sequential calls (per client) for windowMs, after one untimed call. */
async function measure(side: Side, batchCount: number, rows: number): Promise<{ rowsPerSecond: number; latencies: number[]; serviceCpuMs: number }> {
  await side.run(0, 0)
  const latencies: number[] = []
  const cpuBefore = side.remote ? cpuMs(service.child.pid!) : 0
  const start = performance.now()
  await Promise.all(
    Array.from({ length: side.clients }, async (_, client) => {
      for (let call = 0; performance.now() - start < windowMs || call < minCalls; call++) {
        const t = performance.now()
        await side.run((client + call * side.clients) % batchCount, client)
        latencies.push(performance.now() - t)
      }
    }),
  )
  const elapsed = performance.now() - start
  return { rowsPerSecond: (latencies.length * rows * 1000) / elapsed, latencies, serviceCpuMs: side.remote ? cpuMs(service.child.pid!) - cpuBefore : 0 }
}

const groups: Group[] = []
/** GET job, measured each round: what any REST call costs the service. */
let jobRead: Cell | undefined

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((most, value, i) => Math.max(most, Math.abs(value - b[i])), 0)

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

const fixed = (value: number) => (value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value >= 1 ? value.toFixed(2) : value.toFixed(3))

try {
  await selectBackend()
  const jobIds = await Promise.all(cases.map(train))
  const trainedSeconds = (performance.now() - began) / 1000
  const trained: Trained[] = []
  for (const [i, c] of cases.entries()) trained.push(await prepare(c, jobIds[i]))
  const preparedSeconds = (performance.now() - began) / 1000

  const agreement: string[][] = []
  let agreementHeader: string[] = []
  for (const model of trained) {
    const inputs = predictInputs(model.c)
    for (const batchSize of batchSizes) {
      const batches = Array.from({ length: Math.min(64, Math.floor(inputs.length / batchSize)) }, (_, b) => inputs.slice(b * batchSize, (b + 1) * batchSize))
      const sides = await sidesOf(model, batches)
      groups.push({ c: model.c, batchSize, batchCount: batches.length, cells: sides.map(newCell) })
      if (batchSize !== Math.max(...batchSizes)) continue
      // Every side must compute the same thing, or the timings compare nothing.
      const reference = await sides[0].run(0, 0)
      agreementHeader = sides.slice(2).map((side) => side.label)
      agreement.push([model.c.name, ...(await Promise.all(sides.slice(2).map(async (side) => maxDiff(await side.run(0, 0), reference).toExponential(1))))])
    }
  }
  jobRead = newCell(jobReadSide(service.url, token, trained[0].jobId))

  const record = (cell: Cell, result: Awaited<ReturnType<typeof measure>>) => {
    cell.rowsPerSecond.push(result.rowsPerSecond)
    cell.latencies.push(...result.latencies)
    cell.serviceCpuMs += result.serviceCpuMs
  }
  for (let round = 0; round < rounds; round++) {
    record(jobRead, await measure(jobRead.side, 1, 1))
    for (const group of groups) {
      const rowsPerSecond = new Map<Cell, number>()
      for (let k = 0; k < group.cells.length; k++) {
        const cell = group.cells[(k + round) % group.cells.length]
        const result = await measure(cell.side, group.batchCount, group.batchSize)
        record(cell, result)
        rowsPerSecond.set(cell, result.rowsPerSecond)
      }
      for (const cell of group.cells) cell.ratios.push(rowsPerSecond.get(cell)! / rowsPerSecond.get(group.cells[0])!)
    }
    console.error(`round ${round + 1}/${rounds} done at ${((performance.now() - began) / 1000).toFixed(0)} s`)
  }

  console.log(
    `Prediction — ${machine()}; load average ${os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}`,
  )
  console.log(
    `onnxruntime-node ${ort.env.versions.common} (default session options), tfjs on ${(await selectBackend()).name}; ${rounds} rounds × ${windowMs} ms windows; trained in ${trainedSeconds.toFixed(0)} s, exported by ${preparedSeconds.toFixed(0)} s, total ${((performance.now() - began) / 1000).toFixed(0)} s\n`,
  )
  const serviceCpu = (cell: Cell) => (cell.side.remote ? fixed(cell.serviceCpuMs / cell.latencies.length) : '-')
  console.log(
    table(
      ['architecture', 'batch', 'side', 'rows/s', 'ratio to HTTP', 'p50 ms', 'p99 ms', 'calls', 'service CPU ms/call'],
      groups.flatMap(({ c, batchSize, cells }) =>
        cells.map((cell) => [
          c.name,
          batchSize,
          cell.side.label,
          fixed(median(cell.rowsPerSecond)),
          fixed(median(cell.ratios)),
          fixed(percentile(cell.latencies, 50)),
          fixed(percentile(cell.latencies, 99)),
          cell.latencies.length,
          serviceCpu(cell),
        ]),
      ),
    ),
  )
  console.log(`\nrows/s as a multiple of HTTP predict's (1 client), median of per-round ratios:\n`)
  console.log(
    table(
      ['architecture', 'batch', 'HTTP rows/s', 'HTTP p50 / p99 ms', ...groups[0].cells.slice(1).map((cell) => cell.side.label)],
      groups.map(({ c, batchSize, cells: [http, ...others] }) => [
        c.name,
        batchSize,
        fixed(median(http.rowsPerSecond)),
        `${fixed(percentile(http.latencies, 50))} / ${fixed(percentile(http.latencies, 99))}`,
        ...others.map((cell) => fixed(median(cell.ratios))),
      ]),
    ),
  )
  console.log(
    `\n${jobRead.side.label}, for comparison: p50 ${fixed(percentile(jobRead.latencies, 50))} ms, p99 ${fixed(percentile(jobRead.latencies, 99))} ms, ${jobRead.latencies.length} calls, service CPU ${serviceCpu(jobRead)} ms/call`,
  )
  console.log(`\nmax |output − HTTP predict's| on the first batch of ${Math.max(...batchSizes)} (probabilities, or regression values):\n`)
  console.log(table(['architecture', ...agreementHeader], agreement))
} finally {
  predictor.close()
  await Promise.all([...groups.flatMap((group) => group.cells), ...(jobRead ? [jobRead] : [])].map((cell) => cell.side.dispose()))
  await service.stop()
  rmSync(dataDir, { recursive: true, force: true })
}
