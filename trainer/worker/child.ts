// The child process that trains one job: started by the runner with
// `node --import tsx`, it receives a `start` message, trains, and reports
// everything back as messages. A crash or out-of-memory here ends only this
// job; the parent sees the exit and records why.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { selectBackend } from '../ml/backend.ts'
import { buildModel } from '../ml/models.ts'
import { trainLoop } from '../ml/train-loop.ts'
import { loadModelFromCheckpoint } from '../ml/checkpoint.ts'
import { evaluate } from '../ml/evaluate.ts'
import { createRandom, loadRows, prepareData } from '../data/index.ts'
import { BadInputError, type Preprocessing, type TrainingReporter } from '../ml/types.ts'
import type { ChildMessage, ParentMessage, TrainingSpec } from './protocol.ts'

/** Step reports wait here and travel together, about every 100 ms: one IPC message per step costs the parent more than the step for small models. */
let steps: Extract<ChildMessage, { type: 'step' }>[] = []
let stepsTimer: NodeJS.Timeout | undefined

function flushSteps() {
  if (stepsTimer) clearTimeout(stepsTimer)
  stepsTimer = undefined
  if (steps.length === 0) return
  process.send?.({ type: 'steps', steps } satisfies ChildMessage)
  steps = []
}

function send(message: ChildMessage) {
  if (message.type === 'step') {
    steps.push(message)
    stepsTimer ??= setTimeout(flushSteps, 100)
    return
  }
  // Everything else goes out in order, after the steps before it.
  flushSteps()
  process.send?.(message)
}

let stopReason: 'stop' | 'timeout' | null = null
let sampler: ReturnType<typeof startResourceSampler> | undefined

/** CPU and memory of this process, as shares of the instance type's vCPUs and memory. */
function startResourceSampler(spec: TrainingSpec) {
  let lastCpu = process.cpuUsage()
  let lastAt = performance.now()
  const sample = () => {
    const cpu = process.cpuUsage()
    const now = performance.now()
    const usedMicros = cpu.user - lastCpu.user + (cpu.system - lastCpu.system)
    const wallMicros = (now - lastAt) * 1000
    lastCpu = cpu
    lastAt = now
    const rss = process.memoryUsage.rss()
    send({
      type: 'resources',
      cpuUtilization: wallMicros > 0 ? Math.min(100, (usedMicros / wallMicros / spec.vcpus) * 100) : null,
      memoryUsage: spec.memoryLimitBytes > 0 ? (rss / spec.memoryLimitBytes) * 100 : null,
      memoryBytes: rss,
      // Only a GPU backend has a GPU to measure; the parent samples nvidia-smi for it.
      gpuUtilization: null,
    })
  }
  const timer = setInterval(sample, 1000)
  timer.unref()
  return { sample, stop: () => clearInterval(timer) }
}

const preprocessingFile = (checkpointDir: string) => path.join(checkpointDir, 'preprocessing.json')

async function readPreprocessing(checkpoint: string): Promise<Preprocessing> {
  // Checkpoints live in <job checkpoint dir>/<checkpoint id>; the job's preprocessing sits beside them.
  return JSON.parse(await readFile(preprocessingFile(path.dirname(checkpoint)), 'utf8')) as Preprocessing
}

async function train(spec: TrainingSpec) {
  const { config } = spec
  // tfjs draws every unseeded random number (initializers, dropout) from Math.random:
  // seeding it per job process makes a rerun with the same seed repeat the same run.
  Math.random = createRandom(config.options.seed ^ 0x5bd1e995)

  const backend = await selectBackend(spec.backend ? { prefer: spec.backend } : undefined)
  // Memory right away, with TensorFlow.js loaded: a job that cannot fit its instance type ends before it trains.
  sampler?.sample()
  send({ type: 'backend', name: backend.name, gpu: backend.gpu, float16: backend.float16, fallbackKernels: backend.fallbackKernels })
  const reporter: TrainingReporter = {
    log: (level, message, extra) => send({ type: 'log', level, message, ...extra, at: Date.now() }),
    step: (point) => send({ type: 'step', ...point, at: Date.now() }),
    validation: (point) => send({ type: 'validation', ...point, at: Date.now() }),
    checkpoint: (info) => send({ type: 'checkpoint', info }),
    stopRequested: () => stopReason,
  }
  reporter.log(
    'info',
    `TensorFlow.js backend: ${backend.name}${backend.fallbackKernels.length ? ` (kernels running on cpu: ${backend.fallbackKernels.join(', ')})` : ''}`,
  )
  for (const note of backend.notes) reporter.log('debug', note)

  const rows = await loadRows(spec.dataset.file, spec.dataset.format as Parameters<typeof loadRows>[1])
  const from = spec.resumeFrom ?? spec.initFrom
  const fitted = from ? await readPreprocessing(from) : undefined
  const data = prepareData({
    task: config.model.task,
    rows,
    columns: spec.dataset.columns,
    dataset: config.dataset,
    hyperparameters: config.hyperparameters,
    seed: config.options.seed,
    metadata: spec.dataset.metadata,
    fitted,
  })
  for (const warning of data.warnings) reporter.log('warn', warning)
  const stepsPerEpoch = Math.max(1, Math.ceil(data.train.count / config.hyperparameters.batchSize))
  send({
    type: 'data',
    train: data.train.count,
    validation: data.validation.count,
    test: data.test.count,
    totalSteps: stepsPerEpoch * config.hyperparameters.epochs,
  })
  reporter.log('info', `Data: ${data.train.count} training, ${data.validation.count} validation and ${data.test.count} test rows (seed ${config.options.seed})`)

  await mkdir(spec.checkpointDir, { recursive: true })
  await writeFile(preprocessingFile(spec.checkpointDir), JSON.stringify(data.preprocessing))

  const model = from
    ? await loadModelFromCheckpoint(from)
    : buildModel({ task: config.model.task, architecture: config.model.architecture, data, hyperparameters: config.hyperparameters })
  if (spec.initFrom) reporter.log('info', `Fine-tuning from ${config.model.baseModel} (its best checkpoint)`)
  reporter.log('info', `Model ${config.model.architecture}: ${model.countParams()} parameters`)

  const result = await trainLoop({
    model,
    data,
    task: config.model.task,
    config,
    reporter,
    checkpointDir: spec.checkpointDir,
    resumeFrom: spec.resumeFrom,
    float16: backend.float16,
  })
  let evaluation = null
  if ((result.outcome === 'completed' || result.outcome === 'early-stopped') && data.test.count > 0) {
    const best = result.best ?? result.last
    const evaluated = best ? await loadModelFromCheckpoint(best.dir) : model
    evaluation = { ...(await evaluate(evaluated, data.test, data, config.model.task)), checkpointId: best?.id ?? null }
    reporter.log('info', `Test evaluation on ${evaluation.sampleCount} rows`, { metrics: evaluation.metrics })
  } else if (result.outcome === 'completed' || result.outcome === 'early-stopped') {
    reporter.log('warn', 'No test rows (testSplit is 0 or the dataset is too small): no evaluation')
  }
  send({ type: 'done', outcome: result.outcome, step: result.step, evaluation })
}

process.on('message', (message: ParentMessage) => {
  if (message.type === 'stop') {
    stopReason ??= message.reason
    return
  }
  if (message.type !== 'start') return
  sampler = startResourceSampler(message.spec)
  train(message.spec)
    .catch((error: unknown) => {
      const badInput = error instanceof BadInputError
      const text = error instanceof Error ? error.message : String(error)
      const outOfMemory = error instanceof RangeError && /memory|allocation/i.test(text)
      send({ type: 'failed', message: outOfMemory ? `out of memory: ${text}` : text, badInput })
    })
    .finally(() => {
      sampler?.stop()
      // Let the last messages flush before leaving.
      process.disconnect?.()
    })
})

// The parent went away (its process died): nothing can record our results, stop.
process.on('disconnect', () => setTimeout(() => process.exit(0), 100).unref())
