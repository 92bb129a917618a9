import { describe, expect, it } from 'vitest'
import type { z } from 'zod'
import { createJobSchema, createTemplateSchema, parseConfig, splitSizes, stepCounts, withJobDefaults } from '../../src/domain/job-config.ts'
import { deepMerge } from '../../src/services/templates.ts'
import { InvalidInputError } from '../../src/errors/index.ts'

const valid = {
  name: 'j',
  model: { baseModel: 'text-cnn', task: 'text-classification' },
  dataset: { id: 'dataset-1' },
  hyperparameters: {},
  resources: { instanceType: 'cpu.small' },
}

function problems(input: unknown, schema: z.ZodType = createJobSchema) {
  try {
    parseConfig(schema, input)
    return []
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError)
    return (error as InvalidInputError).details ?? []
  }
}

describe('job configuration', () => {
  it('fills every default once the request is valid', () => {
    const config = withJobDefaults(parseConfig(createJobSchema, valid), { architecture: 'cnn', seed: 7 })
    expect(config).toMatchObject({
      description: null,
      priority: 0,
      dataset: { id: 'dataset-1', validationSplit: 0.1, testSplit: 0.1 },
      hyperparameters: { learningRate: 0.001, batchSize: 32, epochs: 10, warmupSteps: 0, weightDecay: 0, gradientClipping: null, lrSchedule: 'linear' },
      resources: { instanceType: 'cpu.small', instanceCount: 1, distributed: false },
      output: { checkpointInterval: null, saveBestOnly: false, exportFormat: null },
      options: { enableEarlyStopping: false, earlyStoppingPatience: 3, earlyStoppingMetric: 'valLoss', seed: 7, maxRetries: 0, maxRuntimeSeconds: null },
    })
  })

  it('reports cross-field problems together with field problems', () => {
    const found = problems({
      ...valid,
      hyperparameters: { hiddenSize: 10, numHeads: 3, batchSize: 0 },
      dataset: { id: 'd', validationSplit: 0.6, testSplit: 0.6, featureColumns: ['a', 'a'] },
      model: { baseModel: 'tabular-mlp', task: 'tabular-regression' },
      options: { earlyStoppingMetric: 'valAccuracy' },
    })
    expect(found.map((p) => p.field).sort()).toEqual(
      ['dataset.featureColumns', 'dataset.testSplit', 'hyperparameters.batchSize', 'hyperparameters.numHeads', 'options.earlyStoppingMetric'].sort(),
    )
  })

  it('says "is required" for missing fields and "unknown field" for extra ones', () => {
    expect(problems({ name: 'x', model: { task: 'text-classification' }, hyperparameters: {}, resources: {}, extra: 1 })).toEqual([
      { field: 'model.baseModel', message: 'is required' },
      { field: 'dataset', message: 'is required' },
      { field: 'resources.instanceType', message: 'is required' },
      { field: 'extra', message: 'unknown field' },
    ])
  })

  it('lets a template leave out everything but its name and model', () => {
    expect(problems({ name: 't', model: { baseModel: 'text-cnn', task: 'text-classification' } }, createTemplateSchema)).toEqual([])
    expect(problems({ name: 't', model: { baseModel: 'text-cnn', task: 'text-classification' }, dataset: { id: 'x' } }, createTemplateSchema)).toEqual([
      { field: 'dataset.id', message: 'unknown field' },
    ])
  })
})

describe('split and step counts', () => {
  it('holds out the validation and test rows and counts steps per epoch', () => {
    expect(splitSizes(100, 0.2, 0.1)).toEqual({ train: 70, validation: 20, test: 10 })
    expect(stepCounts(70, 32, 10)).toEqual({ perEpoch: 3, total: 30 })
  })
})

describe('deepMerge', () => {
  it('merges objects key by key and replaces everything else', () => {
    expect(deepMerge({ a: { b: 1, c: 2 }, list: [1, 2], keep: true }, { a: { c: 3 }, list: [9] })).toEqual({ a: { b: 1, c: 3 }, list: [9], keep: true })
    expect(deepMerge({ a: { b: 1 } }, { a: null })).toEqual({ a: null })
  })
})
