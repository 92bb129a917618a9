// Small generated datasets and upload helpers for tests.
import type { TestServer, TestResponse } from './server.ts'
import { tokens } from './server.ts'
import type { DatasetReply } from './replies.ts'

/** A 3-class text dataset in Chinese and English: the label is predictable from the words. */
export function textClassificationCsv(rows = 30): string {
  const topics = [
    { label: 'sports', zh: ['足球', '比赛', '球队'], en: ['football', 'match', 'team'] },
    { label: 'tech', zh: ['电脑', '软件', '芯片'], en: ['computer', 'software', 'chip'] },
    { label: 'food', zh: ['米饭', '面条', '美食'], en: ['rice', 'noodles', 'dinner'] },
  ]
  const lines = ['text,label']
  for (let i = 0; i < rows; i++) {
    const topic = topics[i % topics.length]
    const text = i % 2 === 0 ? `${topic.zh[i % 3]}${topic.zh[(i + 1) % 3]}很好` : `the ${topic.en[i % 3]} and the ${topic.en[(i + 1) % 3]} were great`
    lines.push(`"${text}",${topic.label}`)
  }
  return `${lines.join('\n')}\n`
}

/** A tabular regression dataset: y = 2a - b + small noise. */
export function tabularCsv(rows = 30): string {
  const lines = ['a,b,flag,y']
  for (let i = 0; i < rows; i++) {
    const a = (i % 7) + 0.5
    const b = i % 5
    lines.push(`${a},${b},${i % 2 === 0},${(2 * a - b + (i % 3) * 0.01).toFixed(3)}`)
  }
  return `${lines.join('\n')}\n`
}

export interface UploadOptions {
  name?: string
  type?: string
  format?: string
  fileName?: string
  content?: string | Blob | null
  fields?: Record<string, string>
  token?: string | null
  /** Leave a default field out of the form. */
  omit?: string[]
}

/** POST /v1/training/datasets as multipart/form-data. */
export function uploadDataset(server: TestServer, options: UploadOptions = {}): Promise<TestResponse<DatasetReply>> {
  const form = new FormData()
  const defaults: Record<string, string> = { name: options.name ?? 'dataset', type: options.type ?? 'text', format: options.format ?? 'csv', ...options.fields }
  for (const [key, value] of Object.entries(defaults)) if (!options.omit?.includes(key)) form.append(key, value)
  const content = options.content === undefined ? textClassificationCsv() : options.content
  if (content !== null) {
    const blob = content instanceof Blob ? content : new Blob([content], { type: 'text/csv' })
    form.append('file', blob, options.fileName ?? `data.${options.format ?? 'csv'}`)
  }
  return server.request<DatasetReply>('POST', '/v1/training/datasets', { body: form, token: options.token === undefined ? tokens.alice : options.token })
}

/** Uploads a dataset and returns its id (fails the test when the upload fails). */
export async function createDataset(server: TestServer, options: UploadOptions = {}): Promise<string> {
  const response = await uploadDataset(server, options)
  if (response.status !== 201) throw new Error(`upload failed: ${response.status} ${response.text}`)
  return response.body.data.dataset.id
}

/** The spec's §1.1 example request, with only the dataset id and the instance type changed. */
export function specJobRequest(datasetId: string, instanceType = 'cpu.large') {
  return {
    name: 'bert-fine-tuning',
    description: 'BERT模型微调任务',
    model: { baseModel: 'bert-base-chinese', task: 'text-classification', architecture: 'transformer' },
    dataset: { id: datasetId, validationSplit: 0.2, testSplit: 0.1 },
    hyperparameters: { learningRate: 0.0001, batchSize: 32, epochs: 10, warmupSteps: 1000, weightDecay: 0.01, gradientClipping: 1.0 },
    resources: { instanceType, instanceCount: 1, distributed: false },
    output: { checkpointInterval: 1000, saveBestOnly: true, exportFormat: 'onnx' },
    options: { enableEarlyStopping: true, enableMixedPrecision: true, enableLogging: true },
  }
}

/** A minimal valid job request. */
export function jobRequest(datasetId: string, overrides: Record<string, unknown> = {}) {
  return {
    name: 'job',
    model: { baseModel: 'text-cnn', task: 'text-classification' },
    dataset: { id: datasetId },
    hyperparameters: { learningRate: 0.001, batchSize: 8, epochs: 2 },
    resources: { instanceType: 'cpu.small' },
    ...overrides,
  }
}
