// Hyperparameter tunings that really run: every trial is a training job of a
// small tabular classifier. Grid, random and bayesian searches to the end,
// parallelism checked from the recorded start and end times, pruning,
// reproducibility, warm start, the stopping rules and stop.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { graphql } from '../gql/index.ts'
import { startServer, tokens, type TestServer } from '../helpers/server.ts'
import { tabularClassesCsv } from '../helpers/training-data.ts'
import { logsOf, uploadCsv } from '../helpers/training.ts'
import { createWsClient, tsubscribe } from '../helpers/ws.ts'
import { createSampler } from '../../trainer/tuning/samplers.ts'
import type { SearchSpace } from '../../src/domain/search-space.ts'
import type { TrialView, TuningView } from '../../src/domain/tuning-view.ts'
import type { JobListReply, JobReply, TuningReply } from '../helpers/replies.ts'

/** A tuning as GET /v1/training/tuning/:id answers it. */
type TuningJson = TuningView

let server: TestServer
let dataset: string

beforeAll(async () => {
  server = await startServer({ TRAINER: 'embedded', TRAINER_CONCURRENCY: '2', LOG_LEVEL: 'error' })
  dataset = await uploadCsv(server, tabularClassesCsv(600), 'tabular')
})
afterAll(() => server?.close())

/** A small, quick tabular classifier every trial starts from. */
function baseJob(hyperparameters: Record<string, unknown> = {}, datasetId = dataset) {
  return {
    name: 'tuning-base',
    model: { baseModel: 'tabular-mlp', task: 'tabular-classification' },
    dataset: { id: datasetId, validationSplit: 0.15, testSplit: 0.15 },
    hyperparameters: { learningRate: 0.02, batchSize: 32, epochs: 2, hiddenSize: 16, ...hyperparameters },
    resources: { instanceType: 'cpu.small' },
    options: { seed: 3 },
  }
}

async function createTuning(body: Record<string, unknown>): Promise<TuningJson> {
  const response = await server.request<TuningReply>('POST', '/v1/training/tuning', {
    json: { objective: { metric: 'valAccuracy', direction: 'maximize' }, ...body },
  })
  expect(response.status, response.text).toBe(201)
  return response.body.data.tuning
}

async function getTuning(id: string): Promise<TuningJson> {
  const response = await server.request<TuningReply>('GET', `/v1/training/tuning/${id}`)
  expect(response.status, response.text).toBe(200)
  return response.body.data.tuning
}

/** Polls until `done` holds (default: the tuning ended); fails with its last state on timeout. */
async function waitForTuning(
  id: string,
  done: (tuning: TuningJson) => boolean = (t) => ['completed', 'failed', 'cancelled'].includes(t.status),
  timeoutMs = 150_000,
) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const tuning = await getTuning(id)
    if (done(tuning)) return tuning
    if (Date.now() > deadline)
      throw new Error(
        `tuning ${id} did not reach the expected state; last: ${JSON.stringify({ status: tuning.status, progress: tuning.progress, trials: tuning.trials.map((t) => t.status) })}`,
      )
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

/** The most trials whose [startedAt, completedAt] intervals overlap at one moment. */
function maxOverlap(trials: TrialView[]): number {
  const edges = trials
    .filter((trial) => trial.startedAt && trial.completedAt)
    .flatMap((trial) => [
      { at: Date.parse(trial.startedAt!), delta: 1 },
      { at: Date.parse(trial.completedAt!), delta: -1 },
    ])
    // An end and a start at the same millisecond do not overlap.
    .sort((a, b) => a.at - b.at || a.delta - b.delta)
  let running = 0
  let most = 0
  for (const edge of edges) {
    running += edge.delta
    most = Math.max(most, running)
  }
  return most
}

const bestOf = (trials: TrialView[]) => trials.filter((t) => t.status === 'completed').reduce((a, b) => (b.objectiveValue! > a.objectiveValue! ? b : a))
const keyOf = (parameters: Record<string, unknown>) => JSON.stringify(parameters)

describe('tunings that run real trials', { timeout: 240_000 }, () => {
  it('grid: runs exactly the product, two at a time, each trial a job of its own; tuningUpdated follows it to the end', async () => {
    const updates = graphql(`
      subscription TuningUpdates($id: ID!) {
        tuningUpdated(id: $id) { id status progress { completedTrials totalTrials } trials { number status } bestTrial { id objectiveValue } }
      }
    `)
    const tuning = await createTuning({
      name: 'grid',
      baseJob: baseJob(),
      parameters: { learningRate: { type: 'float', min: 0.003, max: 0.03, scale: 'log' }, hiddenSize: { type: 'categorical', values: [8, 16] } },
      strategy: { type: 'grid', gridPoints: 2, parallelTrials: 2, seed: 1 },
    })
    expect(tuning.strategy.maxTrials).toBe(4)
    const ws = createWsClient(server, { token: tokens.alice })
    const live = tsubscribe(ws.client, updates, { id: tuning.id })

    const done = await waitForTuning(tuning.id)
    expect(done.status, JSON.stringify(done.error)).toBe('completed')
    expect(done.progress).toMatchObject({ completedTrials: 4, totalTrials: 4, percentage: 100, succeededTrials: 4, runningTrials: 0 })
    expect(done.trials.map((t) => t.number)).toEqual([1, 2, 3, 4])
    const product = [0.003, 0.03].flatMap((learningRate) => [8, 16].map((hiddenSize) => keyOf({ learningRate, hiddenSize })))
    expect(done.trials.map((t) => keyOf(t.parameters)).sort()).toEqual(product.sort())
    expect(maxOverlap(done.trials)).toBeLessThanOrEqual(2)
    for (const trial of done.trials) {
      expect(trial).toMatchObject({ status: 'completed', statusReason: null, prunedAtStep: null })
      expect(trial.id).toMatch(/^trial-/)
      expect(trial.intermediate.map((point) => point.epoch)).toEqual([1, 2])
      expect(trial.objectiveValue).toBe(Math.max(...trial.intermediate.map((point) => point.value)))
      expect(trial.metrics!.valAccuracy).toBeGreaterThan(0)
    }
    const best = bestOf(done.trials)
    expect(done.bestTrial).toMatchObject({ id: best.id, parameters: best.parameters, objectiveValue: best.objectiveValue })

    // Trials are ordinary jobs: listed, with the suggested hyperparameters, their own logs, and the objective as their checkpoint metric.
    const listed = (await server.request<JobListReply>('GET', '/v1/training/jobs?limit=100')).body.data.jobs
    for (const trial of done.trials) expect(listed.find((job) => job.id === trial.jobId)?.tuningId).toBe(tuning.id)
    const job = (await server.request<JobReply>('GET', `/v1/training/jobs/${best.jobId}`)).body.data.job
    expect(job).toMatchObject({
      status: 'completed',
      tuningId: tuning.id,
      hyperparameters: best.parameters,
      options: { earlyStoppingMetric: 'valAccuracy', seed: 3 },
    })
    expect((await logsOf(server, best.jobId!)).some((line) => /Epoch 2\/2/.test(line.message))).toBe(true)

    await live.waitForComplete(20_000)
    const results = live.results.map((result) => result.data!.tuningUpdated)
    expect(results.length).toBeGreaterThan(2)
    expect(results.at(-1)).toMatchObject({ status: 'completed', progress: { completedTrials: 4 }, bestTrial: { id: best.id } })
    expect(results.some((update) => update.trials.some((trial) => trial.status === 'running'))).toBe(true)
  })

  it('random: the same seed suggests the same parameters; parallelTrials 1 runs one trial at a time', async () => {
    const parameters = { learningRate: { type: 'float', min: 0.001, max: 0.1, scale: 'log' }, batchSize: { type: 'categorical', values: [16, 32] } }
    const request = { baseJob: baseJob(), parameters, strategy: { type: 'random', maxTrials: 3, parallelTrials: 1, seed: 7 } }
    const [a, b] = await Promise.all([createTuning({ name: 'random-a', ...request }), createTuning({ name: 'random-b', ...request })])
    const [doneA, doneB] = await Promise.all([waitForTuning(a.id), waitForTuning(b.id)])
    for (const done of [doneA, doneB]) {
      expect(done.status, JSON.stringify(done.error)).toBe('completed')
      expect(done.trials).toHaveLength(3)
      expect(maxOverlap(done.trials)).toBe(1)
      for (const trial of done.trials) {
        expect(trial.parameters.learningRate).toBeGreaterThanOrEqual(0.001)
        expect(trial.parameters.learningRate).toBeLessThanOrEqual(0.1)
        expect([16, 32]).toContain(trial.parameters.batchSize)
      }
    }
    expect(doneA.trials.map((t) => t.parameters)).toEqual(doneB.trials.map((t) => t.parameters))
    expect(new Set(doneA.trials.map((t) => keyOf(t.parameters))).size).toBe(3)
  })

  it('bayesian: honours maxTrials and parallelTrials; a warm start from it changes the first suggestion', async () => {
    const parameters = { learningRate: { type: 'float', min: 0.0005, max: 0.1, scale: 'log' }, hiddenSize: { type: 'int', min: 4, max: 32, step: 4 } }
    const tuning = await createTuning({
      name: 'bayesian',
      baseJob: baseJob(),
      parameters,
      strategy: { type: 'bayesian', maxTrials: 5, parallelTrials: 2, startupTrials: 2, seed: 11 },
    })
    const done = await waitForTuning(tuning.id)
    expect(done.status, JSON.stringify(done.error)).toBe('completed')
    expect(done.trials).toHaveLength(5)
    expect(done.trials.every((t) => t.status === 'completed')).toBe(true)
    expect(maxOverlap(done.trials)).toBeLessThanOrEqual(2)
    expect(done.bestTrial!.id).toBe(bestOf(done.trials).id)

    // Same seed, one trial each: without history the first trial is a random draw; with five observations it comes from the model.
    const strategy = { type: 'bayesian', maxTrials: 1, startupTrials: 2, seed: 99 }
    const [cold, warm] = await Promise.all([
      createTuning({ name: 'cold', baseJob: baseJob(), parameters, strategy }),
      createTuning({ name: 'warm', baseJob: baseJob(), parameters, strategy, warmStartFrom: [tuning.id] }),
    ])
    const [coldDone, warmDone] = await Promise.all([waitForTuning(cold.id), waitForTuning(warm.id)])
    expect(coldDone.status).toBe('completed')
    expect(warmDone.status).toBe('completed')
    expect(warmDone.trials[0].parameters).not.toEqual(coldDone.trials[0].parameters)
    const random = createSampler('random', coldDone.parameters as SearchSpace, { seed: 99, direction: 'maximize' })
    expect(coldDone.trials[0].parameters).toEqual(random.suggest(0, []))
  })

  it('prunes clearly bad trials with the median rule and with ASHA; the good trial runs to the end', async () => {
    const good = 0.05
    const parameters = { learningRate: { type: 'categorical', values: [0.00001, good, 0.000012, 0.000015] } }
    // Slow enough (8 epochs of small batches) that a stop after epoch 1 lands well before the end.
    const base = baseJob({ batchSize: 4, epochs: 8 })
    // A seed whose grid order starts with the good learning rate (the order is the sampler's, checked below).
    const space: SearchSpace = { learningRate: { type: 'categorical', values: parameters.learningRate.values } }
    const orderOf = (seed: number) =>
      [0, 1, 2, 3].map((n) => createSampler('grid', space, { seed, direction: 'maximize' }).suggest(n, []).learningRate as number)
    const seed = [...Array(100).keys()].find((s) => orderOf(s)[0] === good) as number
    const [median, asha] = await Promise.all([
      createTuning({ name: 'median', baseJob: base, parameters, strategy: { type: 'grid', seed, earlyStopping: { type: 'median', startupTrials: 1 } } }),
      createTuning({
        name: 'asha',
        baseJob: base,
        parameters,
        strategy: { type: 'grid', seed, earlyStopping: { type: 'asha', minResource: 1, reductionFactor: 2 } },
      }),
    ])
    for (const done of await Promise.all([waitForTuning(median.id), waitForTuning(asha.id)])) {
      expect(done.status, JSON.stringify(done.error)).toBe('completed')
      expect(done.trials.map((t) => t.parameters.learningRate)).toEqual(orderOf(seed))
      const [first, ...bad] = done.trials
      expect(first.status).toBe('completed')
      expect(first.intermediate).toHaveLength(8)
      expect(done.bestTrial!.id).toBe(first.id)
      expect(done.progress).toMatchObject({ succeededTrials: 1, prunedTrials: 3, completedTrials: 4, percentage: 100 })
      // Far behind the good trial after one epoch. The median rule stops every bad trial there; ASHA at its first
      // or second rung (with η = 2, the fourth trial ties for the top half of rung 0 and meets the good trial alone at rung 1).
      const median = done.strategy.earlyStopping!.type === 'median'
      for (const trial of bad) {
        expect(trial.status).toBe('pruned')
        expect(trial.prunedAtEpoch).toBe(median || trial.number < 4 ? 1 : 2)
        expect(trial.statusReason).toMatch(median ? /worse than the median/ : /At rung \d .* so it is pruned/)
        const job = (await server.request<JobReply>('GET', `/v1/training/jobs/${trial.jobId}`)).body.data.job
        expect(job.status).toBe('cancelled')
        expect(trial.prunedAtStep).toBe(job.progress.step)
        expect(trial.prunedAtStep).toBeLessThan(job.progress.totalSteps!)
        expect((await logsOf(server, trial.jobId!)).some((line) => line.message.startsWith(`Pruned by tuning ${done.id}`))).toBe(true)
      }
    }
  })

  it('ends completed as soon as a trial reaches objective.target', async () => {
    const tuning = await createTuning({
      name: 'target',
      baseJob: baseJob(),
      parameters: { learningRate: { type: 'float', min: 0.02, max: 0.05 } },
      strategy: { type: 'random', maxTrials: 4, parallelTrials: 1, seed: 5 },
      objective: { metric: 'valAccuracy', direction: 'maximize', target: 0.5 },
    })
    const done = await waitForTuning(tuning.id)
    expect(done.status).toBe('completed')
    expect(done.trials).toHaveLength(1)
    expect(done.endReason).toMatch(/objective\.target 0\.5 reached by trial 1/)
    expect(done.progress).toMatchObject({ completedTrials: 1, totalTrials: 1, percentage: 100 })
  })

  it('fails with E1106 when every trial failed, or early at maxFailedTrials', async () => {
    const oneClass = await uploadCsv(server, tabularClassesCsv(120).replace(/,(low|mid|high)$/gm, ',same'), 'tabular')
    const parameters = { learningRate: { type: 'float', min: 0.01, max: 0.05 } }
    const [all, early] = await Promise.all([
      createTuning({ name: 'all-fail', baseJob: baseJob({}, oneClass), parameters, strategy: { type: 'random', maxTrials: 2, parallelTrials: 2 } }),
      createTuning({
        name: 'fail-early',
        baseJob: baseJob({}, oneClass),
        parameters,
        strategy: { type: 'random', maxTrials: 5, parallelTrials: 1, maxFailedTrials: 1 },
      }),
    ])
    const allDone = await waitForTuning(all.id)
    expect(allDone.status).toBe('failed')
    expect(allDone.error!.code).toBe('E1106')
    expect(allDone.error!.message).toMatch(/No trial completed: 2 of 2 failed.*label/)
    expect(allDone.trials.every((t) => t.status === 'failed' && /its job failed/.test(t.statusReason!))).toBe(true)
    const earlyDone = await waitForTuning(early.id)
    expect(earlyDone.status).toBe('failed')
    expect(earlyDone.error!.message).toMatch(/1 trials failed \(strategy\.maxFailedTrials is 1\)/)
    expect(earlyDone.trials).toHaveLength(1)
  })

  it('stop: running → stopping → cancelled, stopping the running trial', async () => {
    const tuning = await createTuning({
      name: 'stop',
      baseJob: baseJob({ batchSize: 4, epochs: 300 }),
      parameters: { learningRate: { type: 'float', min: 0.01, max: 0.05 } },
      strategy: { type: 'random', maxTrials: 3, parallelTrials: 1 },
    })
    const running = await waitForTuning(tuning.id, (t) => t.trials[0]?.status === 'running')
    const stop = await server.request<TuningReply>('POST', `/v1/training/tuning/${tuning.id}/stop`)
    expect(stop.status, stop.text).toBe(200)
    expect(stop.body.message).toBe('调优任务停止中')
    expect(stop.body.data.tuning.status).toBe('stopping')
    const done = await waitForTuning(tuning.id)
    expect(done.status).toBe('cancelled')
    expect(done.endReason).toBe('stopped by the user')
    expect(done.trials).toHaveLength(1)
    expect(done.trials[0]).toMatchObject({ id: running.trials[0].id, status: 'cancelled', statusReason: 'the user stopped the tuning' })
    const job = (await server.request<JobReply>('GET', `/v1/training/jobs/${done.trials[0].jobId}`)).body.data.job
    expect(job.status).toBe('cancelled')
  })
})
