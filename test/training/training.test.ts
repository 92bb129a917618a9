// Real training through the running service: jobs go from pending to a
// trained, evaluated model, with progress, resources, logs, metrics and
// checkpoints readable through the spec's endpoints.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, type TestServer } from '../helpers/server.ts'
import { barImagesCsv, learnableTextCsv, regressionCsv, tabularClassesCsv } from '../helpers/training-data.ts'
import { createJob, logsOf, metricsOf, trainingRequest, uploadCsv, waitForJob } from '../helpers/training.ts'
import type { CheckpointsReply, EvaluationReply } from '../helpers/replies.ts'

let server: TestServer
let textDataset: string
let regressionDataset: string

beforeAll(async () => {
  server = await startServer({ TRAINER: 'embedded', TRAINER_CONCURRENCY: '2' })
  textDataset = await uploadCsv(server, learnableTextCsv(360), 'text')
  regressionDataset = await uploadCsv(server, regressionCsv(400), 'tabular')
})
afterAll(() => server?.close())

describe('training jobs', { timeout: 180_000 }, () => {
  it('reports the TensorFlow.js backend it chose on /readyz', async () => {
    const response = await server.request<{ trainer: unknown }>('GET', '/readyz', { token: null })
    expect(response.status).toBe(200)
    expect(response.body.data.trainer).toMatchObject({ mode: 'embedded', backend: { name: 'wasm', gpu: false } })
  })

  it('trains a text CNN on Chinese and English rows to test accuracy of 0.9 or more, reporting progress, resources and cost', async () => {
    const created = await createJob(server, trainingRequest(textDataset, { baseModel: 'text-cnn', task: 'text-classification' }))
    const job = await waitForJob(server, created.id)
    expect(job.status, JSON.stringify(job.error)).toBe('completed')
    expect(job.progress).toMatchObject({ totalEpochs: 8, percentage: 100 })
    expect(job.progress.step).toBe(job.progress.totalSteps)
    expect(job.metrics.trainLoss).toBeGreaterThan(0)
    expect(job.metrics.valAccuracy).toBeGreaterThan(0.8)
    expect(job.metrics.learningRate).toBeGreaterThanOrEqual(0)
    expect(job.resources.backend).toBe('wasm')
    expect(job.resources.cpuUtilization).toBeGreaterThan(0)
    expect(job.resources.memoryUsage).toBeGreaterThan(0)
    expect(job.resources.gpuUtilization).toBeNull()
    expect(job.time.startedAt).not.toBeNull()
    expect(job.time.estimatedRemainingTime).toBeNull()
    expect(job.cost.actualCost).toBeGreaterThan(0)

    const evaluation = await server.request<EvaluationReply>('GET', `/v1/training/jobs/${job.id}/evaluation`)
    expect(evaluation.status, evaluation.text).toBe(200)
    const result = evaluation.body.data.evaluation
    expect(result.metrics.accuracy).toBeGreaterThanOrEqual(0.9)
    expect(result.labels).toEqual(['food', 'sports', 'tech'])
    expect(result.confusionMatrix).toHaveLength(3)
    expect(result.confusionMatrix!.flat().reduce((a: number, b: number) => a + b, 0)).toBe(result.sampleCount)
    expect(result.perClass).toHaveLength(3)

    const metrics = await metricsOf(server, job.id)
    const steps = metrics.trainLoss.map((point) => point.step)
    expect(steps).toEqual([...steps].sort((a, b) => a - b))
    expect(steps.length).toBe(job.progress.totalSteps)
    expect(metrics.valLoss).toHaveLength(8)
    expect(metrics.trainLoss.at(-1)!.value).toBeLessThan(metrics.trainLoss[0].value)

    const logs = await logsOf(server, job.id)
    expect(logs[0].message).toMatch(/started/)
    expect(logs.some((log) => /backend: wasm/.test(log.message))).toBe(true)
    expect(logs.some((log) => log.metrics?.valLoss !== undefined)).toBe(true)

    const checkpoints = await server.request<CheckpointsReply>('GET', `/v1/training/jobs/${job.id}/checkpoints`)
    expect(checkpoints.status).toBe(200)
    const list = checkpoints.body.data.checkpoints
    expect(list.length).toBeGreaterThan(0)
    expect(list.filter((checkpoint) => checkpoint.isBest)).toHaveLength(1)
    expect(list[0].sizeBytes).toBeGreaterThan(0)
  })

  it("runs the spec's bert-base-chinese request as a transformer from scratch, saying so in a warn line", async () => {
    const created = await createJob(server, {
      name: 'bert-fine-tuning',
      model: { baseModel: 'bert-base-chinese', task: 'text-classification', architecture: 'transformer' },
      dataset: { id: textDataset, validationSplit: 0.2, testSplit: 0.1 },
      hyperparameters: {
        learningRate: 0.002,
        batchSize: 32,
        epochs: 3,
        warmupSteps: 5,
        weightDecay: 0.01,
        gradientClipping: 1.0,
        hiddenSize: 32,
        numHeads: 2,
        numLayers: 1,
      },
      resources: { instanceType: 'cpu.small', instanceCount: 1, distributed: false },
      output: { checkpointInterval: 1000, saveBestOnly: true, exportFormat: 'onnx' },
      options: { enableEarlyStopping: true, enableMixedPrecision: true, enableLogging: true, seed: 3 },
    })
    const job = await waitForJob(server, created.id)
    expect(job.status, JSON.stringify(job.error)).toBe('completed')
    const logs = await logsOf(server, job.id)
    expect(logs.find((log) => log.level === 'warn' && /bert-base-chinese.*not available.*from scratch/.test(log.message))).toBeTruthy()
    expect(logs.find((log) => log.level === 'info' && /[Mm]ixed precision/.test(log.message))).toBeTruthy()
    const warnings = await logsOf(server, job.id, 'level=warn')
    expect(warnings.every((log) => log.level === 'warn' || log.level === 'error')).toBe(true)
  })

  it('trains a tabular regression that beats predicting the mean', async () => {
    const created = await createJob(
      server,
      trainingRequest(
        regressionDataset,
        { baseModel: 'tabular-mlp', task: 'tabular-regression' },
        {
          dataset: { id: regressionDataset, labelColumn: 'y', validationSplit: 0.15, testSplit: 0.15 },
          hyperparameters: { learningRate: 0.01, batchSize: 32, epochs: 30 },
        },
      ),
    )
    const job = await waitForJob(server, created.id)
    expect(job.status, JSON.stringify(job.error)).toBe('completed')
    expect(job.metrics.valMae).toBeGreaterThan(0)
    const { metrics } = (await server.request<EvaluationReply>('GET', `/v1/training/jobs/${job.id}/evaluation`)).body.data.evaluation
    // R² > 0 means better than the mean; this target is nearly linear, so far better.
    expect(metrics.r2).toBeGreaterThan(0.8)
    expect(metrics.rmse).toBeGreaterThan(0)
  })

  it('trains a tabular classifier and an image CNN on MNIST-layout pixels', async () => {
    const tabular = await uploadCsv(server, tabularClassesCsv(300), 'tabular')
    const images = await uploadCsv(server, barImagesCsv(200), 'image')
    const [a, b] = await Promise.all([
      createJob(
        server,
        trainingRequest(
          tabular,
          { baseModel: 'tabular-mlp', task: 'tabular-classification' },
          { hyperparameters: { learningRate: 0.02, batchSize: 16, epochs: 15 } },
        ),
      ),
      createJob(
        server,
        trainingRequest(
          images,
          { baseModel: 'image-cnn-small', task: 'image-classification' },
          { hyperparameters: { learningRate: 0.01, batchSize: 16, epochs: 6 } },
        ),
      ),
    ])
    for (const id of [a.id, b.id]) {
      const job = await waitForJob(server, id)
      expect(job.status, JSON.stringify(job.error)).toBe('completed')
      const { evaluation } = (await server.request<EvaluationReply>('GET', `/v1/training/jobs/${id}/evaluation`)).body.data
      expect(evaluation.metrics.accuracy).toBeGreaterThanOrEqual(0.85)
    }
  })

  it('ends failed with E1104 and an error log line when the label column cannot be used for the task', async () => {
    // The API checks that the column exists; only the trainer, reading every row, sees a single class.
    const oneClass = await uploadCsv(server, learnableTextCsv(60).replace(/,(sports|tech|food)$/gm, ',spam'), 'text')
    const created = await createJob(server, trainingRequest(oneClass, { baseModel: 'text-cnn', task: 'text-classification' }))
    const job = await waitForJob(server, created.id)
    expect(job.status).toBe('failed')
    expect(job.error!.code).toBe('E1104')
    expect(job.error!.message).toMatch(/label/)
    const errors = await logsOf(server, job.id, 'level=error')
    expect(errors.length).toBeGreaterThan(0)
    expect(errors.at(-1)!.message).toMatch(/label/)
  })

  it('gives the same splits and the same metrics for the same seed', async () => {
    const request = trainingRequest(
      regressionDataset,
      { baseModel: 'tabular-mlp', task: 'tabular-regression' },
      {
        dataset: { id: regressionDataset, labelColumn: 'y', validationSplit: 0.2, testSplit: 0.2 },
        hyperparameters: { learningRate: 0.01, batchSize: 32, epochs: 3, dropout: 0.2 },
        options: { seed: 1234 },
      },
    )
    const [first, second] = await Promise.all([createJob(server, request), createJob(server, request)])
    const [a, b] = [await waitForJob(server, first.id), await waitForJob(server, second.id)]
    expect(a.status).toBe('completed')
    expect(b.status).toBe('completed')
    expect(a.options.seed).toBe(1234)
    const [ma, mb] = [await metricsOf(server, a.id), await metricsOf(server, b.id)]
    expect(mb.trainLoss.map((p) => p.value)).toEqual(ma.trainLoss.map((p) => p.value))
    expect(mb.valLoss.map((p) => p.value)).toEqual(ma.valLoss.map((p) => p.value))
    const evaluationOf = async (id: string) => {
      return (await server.request<EvaluationReply>('GET', `/v1/training/jobs/${id}/evaluation`)).body.data.evaluation.metrics
    }
    expect(await evaluationOf(b.id)).toEqual(await evaluationOf(a.id))
    // Each job keeps its own checkpoints (same steps, distinct rows).
    const checkpointIds = async (id: string) =>
      (await server.request<CheckpointsReply>('GET', `/v1/training/jobs/${id}/checkpoints`)).body.data.checkpoints.map((c) => c.id)
    const [ca, cb] = [await checkpointIds(a.id), await checkpointIds(b.id)]
    expect(ca.length).toBeGreaterThan(0)
    expect(cb).toHaveLength(ca.length)
    expect(cb.filter((id) => ca.includes(id))).toEqual([])
  })
})
