// Training overhead: training samples per second of each built-in architecture
// trained through the service (REST job, embedded trainer, job child process),
// next to a bare TensorFlow.js script (bench/bare-train.ts: model.fit in its own
// process) training the same model on the same data and backend, in one run.
//   npm run bench:training [-- --rounds 3 --scale 1 --sides service,fit --cases cnn]
// --scale multiplies every dataset's row count (e.g. 0.5 on a busy machine).
// --sides picks the contenders (default service,fit); two more split the
// service's overhead into its parts (bench/bare-train.ts): loop, the service's
// training loop alone in a bare process, and loop-ipc, the same sending the
// job process's per-step messages to its parent.
// --cases keeps the architectures whose name contains one of the given words;
// --batch sets the batch size (default 32, the service's default).
//
// The measured span is the same for both: from just before the first training
// step to the end of the last epoch's validation pass. Process start, data
// loading, data preparation and model building are outside it; per-epoch
// validation (and, for the service, its per-epoch checkpoints and progress
// reporting) are inside. samples/s = training rows × epochs / span.
//   service: span from the job's "Model …: N parameters" log line (the child
//            sends it right before the training loop) to its last "Epoch n/N:
//            validation" line; the job process stamps both.
//   bare:    model.fit's call to its return, timed inside the script.
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { buildApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { createDatabase, type Db } from '../src/infra/db.ts'
import { withJobDefaults, type CreateJobInput } from '../src/domain/job-config.ts'
import type { Architecture } from '../src/domain/catalog.ts'
import { learnableTextCsv, regressionCsv, strokeImagesCsv } from '../test/helpers/training-data.ts'
import type { BareTrainResult, BareTrainSpec } from './bare-train.ts'
import { machine, median, numberOption, restClient, table } from './lib.ts'

const rounds = numberOption('rounds', 3)
const scale = numberOption('scale', 1)
const sides = listOption('sides', ['service', 'fit']) as Side[]
const caseFilter = listOption('cases', [])
const batchSize = numberOption('batch', 32)
const seed = 42
const token = 'tok-bench'

interface Case {
  name: string
  datasetType: 'tabular' | 'text' | 'image'
  csv: () => string
  request: Pick<CreateJobInput, 'model' | 'hyperparameters'>
  architecture: Architecture
}

/** `--name a,b` from the command line as a list, or `fallback`. */
function listOption(name: string, fallback: string[]): string[] {
  const args = process.argv.slice(2)
  const at = args.indexOf(`--${name}`)
  return at >= 0 ? args[at + 1].split(',').filter(Boolean) : fallback
}

const rows = (n: number) => Math.max(50, Math.round(n * scale))

// Row counts give each training span about 5 s on the shared 2-core VM when it is quiet (2-3x that when busy).
const allCases: Case[] = [
  {
    name: 'tabular-mlp (regression)',
    datasetType: 'tabular',
    csv: () => regressionCsv(rows(20_000)),
    request: { model: { baseModel: 'tabular-mlp', task: 'tabular-regression' }, hyperparameters: { epochs: 4 } },
    architecture: 'mlp',
  },
  {
    name: 'text-bag-of-embeddings',
    datasetType: 'text',
    csv: () => learnableTextCsv(rows(14_000)),
    request: { model: { baseModel: 'text-bag-of-embeddings', task: 'text-classification' }, hyperparameters: { epochs: 3 } },
    architecture: 'bag-of-embeddings',
  },
  {
    name: 'text-cnn',
    datasetType: 'text',
    csv: () => learnableTextCsv(rows(5000)),
    request: { model: { baseModel: 'text-cnn', task: 'text-classification' }, hyperparameters: { epochs: 3 } },
    architecture: 'cnn',
  },
  {
    name: 'text-transformer-small',
    datasetType: 'text',
    csv: () => learnableTextCsv(rows(600)),
    request: {
      model: { baseModel: 'text-transformer-small', task: 'text-classification' },
      hyperparameters: { epochs: 2, hiddenSize: 64, numLayers: 2, maxSequenceLength: 32 },
    },
    architecture: 'transformer',
  },
  {
    name: 'image-cnn-small (28×28)',
    datasetType: 'image',
    csv: () => strokeImagesCsv(rows(2000)),
    request: { model: { baseModel: 'image-cnn-small', task: 'image-classification' }, hyperparameters: { epochs: 2 } },
    architecture: 'cnn',
  },
]

const cases = allCases.filter((c) => caseFilter.length === 0 || caseFilter.some((word) => c.name.includes(word)))
const knownSides: Side[] = ['service', 'fit', 'loop', 'loop-ipc']
if (!sides.includes('fit') || sides.some((side) => !knownSides.includes(side))) {
  throw new Error(`--sides takes a list of ${knownSides.join(', ')} that includes fit (every ratio is to the bare model.fit script)`)
}

type Side = 'service' | BareTrainSpec['mode']

interface Measure {
  samplesPerSecond: number
  spanSeconds: number
  /** Service: job created → completed. fit/loop: process spawned → exited. */
  endToEndSeconds: number
  /** service: the job row's samplesPerSecond (trainer/runner.ts). */
  reported?: number | null
  /** service: CPU seconds of this process (API, trainer parent and this script's polling) during the job. */
  parentCpuSeconds?: number
  /** loop: checkpoint saves inside the span. */
  checkpointSeconds?: number
  validation: Record<string, number>
}

const dataDir = path.resolve('bench/out/training-data')
rmSync(dataDir, { recursive: true, force: true })
mkdirSync(dataDir, { recursive: true })
const databaseUrl = `file:${dataDir}/training.db`

// The answers' shapes are the spec's (see test/http); only the fields read here are typed.
interface JobJson {
  id: string
  status: string
  progress: { totalEpochs: number }
  error: unknown
}
interface LogJson {
  message: string
  timestamp: string
  metrics?: Record<string, number>
}

const api = <T>(base: string, method: string, urlPath: string, body?: unknown) => restClient(base, token)<T>(method, urlPath, body)

function jobRequest(c: Case, datasetId: string): CreateJobInput {
  return {
    name: `bench-${c.request.model.baseModel}`,
    model: c.request.model,
    dataset: { id: datasetId, validationSplit: 0.1, testSplit: 0.1 },
    hyperparameters: { learningRate: 0.003, batchSize, ...c.request.hyperparameters },
    resources: { instanceType: 'cpu.large' },
    options: { seed },
  }
}

async function runService(base: string, db: Db, c: Case, datasetId: string): Promise<Measure> {
  const cpuBefore = process.cpuUsage()
  const created = (await api<{ job: JobJson }>(base, 'POST', '/v1/training/jobs', jobRequest(c, datasetId))).job
  let job: JobJson
  for (;;) {
    job = (await api<{ job: JobJson }>(base, 'GET', `/v1/training/jobs/${created.id}`)).job
    if (['completed', 'failed', 'cancelled'].includes(job.status)) break
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  const cpu = process.cpuUsage(cpuBefore)
  if (job.status !== 'completed') throw new Error(`${c.name}: service job ${job.status}: ${JSON.stringify(job.error)}`)
  const { logs } = await api<{ logs: LogJson[] }>(base, 'GET', `/v1/training/jobs/${job.id}/logs?level=info&limit=1000`)
  const modelLine = logs.find((line) => /^Model .*parameters$/.test(line.message))
  const dataLine = logs.find((line) => line.message.startsWith('Data: '))
  if (!modelLine || !dataLine) throw new Error(`${c.name}: the job's log lacks the "Model" or "Data" line`)
  const trainRows = Number(/^Data: (\d+) training/.exec(dataLine.message)![1])
  // The child stamps each line when it happens; the last validation line ends the span.
  const lastValidation = logs.filter((line) => /^Epoch \d+\/\d+: validation$/.test(line.message)).at(-1)
  if (!lastValidation?.metrics) throw new Error(`${c.name}: the job's log has no validation line`)
  const spanSeconds = (Date.parse(lastValidation.timestamp) - Date.parse(modelLine.timestamp)) / 1000
  const row = await db.job.findUnique({ where: { id: job.id }, select: { samplesPerSecond: true, createdAt: true, completedAt: true } })
  return {
    samplesPerSecond: (trainRows * job.progress.totalEpochs) / spanSeconds,
    spanSeconds,
    endToEndSeconds: (row!.completedAt!.getTime() - row!.createdAt.getTime()) / 1000,
    reported: row!.samplesPerSecond,
    parentCpuSeconds: (cpu.user + cpu.system) / 1e6,
    validation: lastValidation.metrics,
  }
}

function runBare(c: Case, file: string, mode: BareTrainSpec['mode']): Promise<Measure> {
  const spec: BareTrainSpec = { mode, file, config: withJobDefaults(jobRequest(c, 'bench'), { architecture: c.architecture, seed }) }
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/bare-train.ts', JSON.stringify(spec)], {
      stdio: ['ignore', 'pipe', 'inherit', ...(mode === 'loop-ipc' ? (['ipc'] as const) : [])],
      serialization: 'advanced',
    })
    // Received and dropped: the cost of sending them is what loop-ipc measures.
    child.on('message', () => undefined)
    let stdout = ''
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.on('exit', (code) => {
      const endToEndSeconds = (performance.now() - started) / 1000
      if (code !== 0) return reject(new Error(`${c.name}: bare-train.ts (${mode}) exited with ${code}`))
      const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as BareTrainResult
      resolve({
        samplesPerSecond: result.samples / result.trainSeconds,
        spanSeconds: result.trainSeconds,
        endToEndSeconds,
        checkpointSeconds: result.checkpointSeconds,
        validation: result.validation,
      })
    })
  })
}

const loadBefore = os.loadavg()
const app = await buildApp(
  loadConfig({
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'error',
    API_TOKENS: `bench:${token}`,
    TRAINER: 'embedded',
    TRAINER_CONCURRENCY: '1',
    RATE_LIMIT: 'off',
  }),
)
const base = await app.start()
const { db, close } = await createDatabase(databaseUrl)
const results = new Map<string, Record<Side, Measure[]>>()
let failure: unknown = null
try {
  const datasets = new Map<string, { id: string; file: string }>()
  for (const c of cases) {
    const file = path.join(dataDir, `${c.request.model.baseModel}.csv`)
    writeFileSync(file, c.csv())
    const form = new FormData()
    form.append('name', c.name)
    form.append('type', c.datasetType)
    form.append('format', 'csv')
    form.append('file', new Blob([readFileSync(file)], { type: 'text/csv' }), path.basename(file))
    datasets.set(c.name, { id: (await api<{ dataset: { id: string } }>(base, 'POST', '/v1/training/datasets', form)).dataset.id, file })
    results.set(c.name, { service: [], fit: [], loop: [], 'loop-ipc': [] })
  }
  for (let round = 0; round < rounds; round++) {
    for (const c of cases) {
      const { id, file } = datasets.get(c.name)!
      // Rotate which goes first, so none always follows another's leftovers.
      const order = sides.map((_, i) => sides[(i + round) % sides.length])
      for (const side of order) {
        const measure = side === 'service' ? await runService(base, db, c, id) : await runBare(c, file, side)
        results.get(c.name)![side].push(measure)
        const check = Object.entries(measure.validation)
          .map(([name, value]) => `${name} ${value.toFixed(3)}`)
          .join(', ')
        console.error(
          `round ${round + 1}/${rounds} ${c.name} ${side}: ${Math.round(measure.samplesPerSecond)} samples/s over ${measure.spanSeconds.toFixed(1)} s (${check}; end to end ${measure.endToEndSeconds.toFixed(1)} s${measure.parentCpuSeconds === undefined ? '' : `; parent CPU ${measure.parentCpuSeconds.toFixed(1)} s`}${measure.checkpointSeconds ? `; checkpoints ${measure.checkpointSeconds.toFixed(2)} s` : ''})`,
        )
      }
    }
  }
} catch (error) {
  failure = error
} finally {
  await close()
  await app.stop()
}
if (failure) {
  // Plainly: the wasm backend's own unhandled-rejection handler would print its whole minified source line.
  console.error(`training-overhead failed: ${failure instanceof Error ? failure.message : String(failure)}`)
  process.exit(1)
}

const loadAfter = os.loadavg()
const others = sides.filter((side) => side !== 'fit')
const label: Record<Side, string> = { service: 'service', fit: 'bare fit', loop: 'trainLoop alone', 'loop-ipc': 'trainLoop + IPC' }
const rowsOut = cases.map((c) => {
  const measures = results.get(c.name)!
  const rate = (side: Side) => median(measures[side].map((m) => m.samplesPerSecond))
  const seconds = (side: Side, pick: (m: Measure) => number) => median(measures[side].map(pick)).toFixed(1)
  const service = sides.includes('service')
  return [
    c.name,
    Math.round(rate('fit')),
    ...others.flatMap((side) => [Math.round(rate(side)), (rate(side) / rate('fit')).toFixed(2)]),
    ...(service
      ? [
          Math.round(median(measures.service.map((m) => m.reported ?? Number.NaN))),
          `${seconds('fit', (m) => m.spanSeconds)} / ${seconds('service', (m) => m.spanSeconds)}`,
          `${seconds('fit', (m) => m.endToEndSeconds)} / ${seconds('service', (m) => m.endToEndSeconds)}`,
          seconds('service', (m) => m.parentCpuSeconds!),
        ]
      : []),
  ]
})
const header = [
  'architecture',
  'bare fit samples/s',
  ...others.flatMap((side) => [`${label[side]} samples/s`, `${label[side]} / bare`]),
  ...(sides.includes('service') ? ["job's own samplesPerSecond", 'span s (bare / service)', 'end to end s (bare / service)', 'service parent CPU s'] : []),
]
console.log(`Training overhead — ${machine()}`)
console.log(
  `Backend wasm (selectBackend) for all; batch size ${batchSize}; median of ${rounds} rounds (order rotated each round); load average ${loadBefore[0].toFixed(2)} before, ${loadAfter[0].toFixed(2)} after.`,
)
console.log(
  'samples/s = training rows × epochs / span; span = first step → end of the last validation pass. End to end: job created → completed; script spawned → exited.\n',
)
console.log(table(header, rowsOut))
