// Prediction from trained checkpoints (trainer/serving.ts): real models trained
// on generated rows and saved the way the trainer saves them, then served from
// a temporary data directory on the backend the service picks.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { setImmediate as nextTurn } from 'node:timers/promises'
import * as tf from '@tensorflow/tfjs-core'
import type * as tfl from '@tensorflow/tfjs-layers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { InvalidInputError, NotFoundError } from '../../src/errors/index.ts'
import { createRandom, encodeInputs, prepareData, type Row } from '../../trainer/data/index.ts'
import { selectBackend } from '../../trainer/ml/backend.ts'
import { buildModel } from '../../trainer/ml/models.ts'
import { trainLoop } from '../../trainer/ml/train-loop.ts'
import type { Architecture, JobConfig, Preprocessing, Task, TrainingReporter } from '../../trainer/ml/types.ts'
import { createPredictor, type ModelRef, type Prediction, type PredictorOptions } from '../../trainer/serving.ts'
import { jobConfig } from '../helpers/models.ts'

// ---------------------------------------------------------------- generated datasets

const topics = {
  sports: ['football', 'match', 'team', 'goal', 'coach'],
  tech: ['computer', 'software', 'chip', 'laptop', 'code'],
  food: ['rice', 'noodles', 'dinner', 'soup', 'bread'],
}
const fillers = ['the', 'a', 'was', 'and', 'very', 'today']

/** The topic's words decide the label; fillers are shared by all topics. */
function topicTexts(count: number, random: () => number): Row[] {
  const names = Object.keys(topics) as (keyof typeof topics)[]
  const pick = <T>(list: T[]) => list[Math.floor(random() * list.length)]
  return Array.from({ length: count }, (_, i) => {
    const label = names[i % names.length]
    const words = [pick(topics[label]), pick(fillers), pick(topics[label]), pick(fillers), pick(topics[label])]
    return { text: words.join(' '), label }
  })
}

/** "yes" when x1, shifted by the colour, is positive; x2 is noise and sometimes missing. */
function colourRows(count: number, random: () => number): Row[] {
  const colours = ['red', 'green', 'blue']
  return Array.from({ length: count }, (_, i) => {
    const x1 = random() * 4 - 2
    const colour = colours[i % 3]
    const shift = colour === 'red' ? 1.5 : colour === 'blue' ? -1.5 : 0
    return { x1, x2: random() < 0.1 ? null : random() * 4 - 2, colour, label: x1 + shift > 0 ? 'yes' : 'no' }
  })
}

const sizeBonus: Record<string, number> = { S: 0, M: 15, L: 30 }

/** price = 100 + 20·area − 10·age + size bonus (+ small noise): spans ~50 to ~330. */
function priceRows(count: number, random: () => number, noise = 2): Row[] {
  const sizes = Object.keys(sizeBonus)
  return Array.from({ length: count }, (_, i) => {
    const area = random() * 10
    const age = random() * 5
    const size = sizes[i % 3]
    return { area, age, size, price: 100 + 20 * area - 10 * age + sizeBonus[size] + noise * (random() - 0.5) }
  })
}

const side = 8

/** 8×8 grey images (0-255) with one bright row ("horizontal") or column ("vertical") over dim noise. */
function barImages(count: number, random: () => number): Row[] {
  return Array.from({ length: count }, (_, i) => {
    const label = i % 2 === 0 ? 'horizontal' : 'vertical'
    const line = Math.floor(random() * side)
    const row: Row = {}
    for (let p = 0; p < side * side; p++) {
      const onLine = label === 'horizontal' ? Math.floor(p / side) === line : p % side === line
      row[`p${p}`] = Math.round(onLine ? 200 + random() * 55 : random() * 40)
    }
    row.label = label
    return row
  })
}

// ---------------------------------------------------------------- training, as trainer/worker/child.ts does it

const quietReporter: TrainingReporter = {
  log: () => {},
  step: () => {},
  validation: () => {},
  checkpoint: () => {},
  stopRequested: () => null,
}

interface TrainedJob {
  ref: ModelRef
  /** The trained model in memory: the weights of the checkpoint `ref` points at. */
  model: tfl.LayersModel
  preprocessing: Preprocessing
}

let dataDir: string

async function trainJob(
  jobId: string,
  task: Task,
  architecture: Architecture,
  rows: Row[],
  hyperparameters: Partial<JobConfig['hyperparameters']>,
): Promise<TrainedJob> {
  const config = jobConfig(task, architecture, {
    dataset: { testSplit: 0 },
    hyperparameters: { epochs: 10, ...hyperparameters },
    options: { enableLogging: false, seed: 7 },
  })
  const data = prepareData({ task, rows, columns: [], dataset: config.dataset, hyperparameters: config.hyperparameters, seed: config.options.seed })
  const checkpointDir = join(dataDir, 'checkpoints', jobId)
  await mkdir(checkpointDir, { recursive: true })
  await writeFile(join(checkpointDir, 'preprocessing.json'), JSON.stringify(data.preprocessing))
  const model = buildModel({ task, architecture, data, hyperparameters: config.hyperparameters })
  const result = await trainLoop({ model, data, task, config, reporter: quietReporter, checkpointDir, resumeFrom: null, float16: false })
  // The last checkpoint holds the weights the model in memory ended with.
  const last = result.last!
  return { ref: { jobId, task, checkpointPath: relative(dataDir, last.dir), checkpointId: last.id }, model, preprocessing: data.preprocessing }
}

/** The trained model's own outputs for rows encoded by the trainer's encoder, row by row. */
async function ownOutputs(job: TrainedJob, rows: Row[]): Promise<number[][]> {
  const { x, count } = encodeInputs(job.preprocessing, rows)
  const inputShape = job.model.inputs[0].shape.slice(1).map(Number)
  const output = tf.tidy(() => job.model.predict(tf.tensor(x, [count, ...inputShape], x instanceof Int32Array ? 'int32' : 'float32')) as tf.Tensor)
  const values = Array.from(await output.data())
  output.dispose()
  const width = values.length / count
  return Array.from({ length: count }, (_, r) => values.slice(r * width, (r + 1) * width))
}

function classes(predictions: Prediction[]): Extract<Prediction, { label: string }>[] {
  return predictions.map((p) => {
    if (!('label' in p)) throw new Error(`expected a class prediction, got ${JSON.stringify(p)}`)
    return p
  })
}

function regressionValues(predictions: Prediction[]): number[] {
  return predictions.map((p) => {
    if (!('value' in p)) throw new Error(`expected a regression prediction, got ${JSON.stringify(p)}`)
    return p.value
  })
}

/** Probabilities within 1e-6 of the model's own outputs, every class in label order, and the label their argmax. */
function expectSameClasses(predictions: Prediction[], own: number[][], labels: string[]): void {
  const predicted = classes(predictions)
  expect(predicted).toHaveLength(own.length)
  predicted.forEach((prediction, r) => {
    expect(Object.keys(prediction.probabilities)).toEqual(labels)
    for (const [c, label] of labels.entries()) expect(Math.abs(prediction.probabilities[label] - own[r][c]), `row ${r} class ${label}`).toBeLessThan(1e-6)
    const argmax = own[r].indexOf(Math.max(...own[r]))
    expect(prediction.index).toBe(argmax)
    expect(prediction.label).toBe(labels[argmax])
  })
}

/** The E1108 a call rejects with. */
async function invalidInput(call: Promise<unknown>): Promise<InvalidInputError> {
  const error = await call.then(
    () => null,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(InvalidInputError)
  expect((error as InvalidInputError).code).toBe('E1108')
  return error as InvalidInputError
}

function fieldsOf(error: InvalidInputError): string[] {
  return (error.details ?? []).map((d) => d.field)
}

function messageAt(error: InvalidInputError, field: string): string {
  return (error.details ?? [])
    .filter((d) => d.field === field)
    .map((d) => d.message)
    .join(' | ')
}

// ---------------------------------------------------------------- fixtures

const maxBatch = 256
let text: TrainedJob
let colours: TrainedJob
let prices: TrainedJob
let images: TrainedJob
const realRandom = Math.random
const predictors: { close(): void }[] = []

function predictor(options: Partial<PredictorOptions> = {}) {
  const created = createPredictor({ dataDir, maxBatch, ...options })
  predictors.push(created)
  return created
}

beforeAll(async () => {
  await selectBackend()
  // tfjs draws initial weights from Math.random; the trainer seeds it per job.
  Math.random = createRandom(11)
  const random = createRandom(5)
  dataDir = await mkdtemp(join(tmpdir(), 'predict-'))
  text = await trainJob('job-text', 'text-classification', 'cnn', topicTexts(150, random), { embeddingDim: 16, filters: 16, batchSize: 16, epochs: 6 })
  colours = await trainJob('job-colours', 'tabular-classification', 'mlp', colourRows(400, random), { hiddenSize: 32, epochs: 25 })
  prices = await trainJob('job-prices', 'tabular-regression', 'mlp', priceRows(400, random), { hiddenSize: 32, epochs: 40 })
  images = await trainJob('job-images', 'image-classification', 'cnn', barImages(160, random), { filters: 8, hiddenSize: 16, batchSize: 16, epochs: 6 })
}, 120_000)

afterAll(async () => {
  for (const p of predictors) p.close()
  Math.random = realRandom
  if (dataDir) await rm(dataDir, { recursive: true, force: true })
})

// ---------------------------------------------------------------- predictions

describe('predictions', () => {
  it('classifies texts, given as strings or as objects with the text column, as the checkpoint model does', async () => {
    const served = predictor()
    const inputs = [
      'the football team and the coach',
      'new laptop software and a chip',
      { text: 'rice soup and bread for dinner' },
      'café ☕ unknown words only',
    ]
    const result = await served.predict(text.ref, inputs)
    const rows = inputs.map((input) => (typeof input === 'string' ? { text: input } : input))
    expectSameClasses(result.predictions, await ownOutputs(text, rows), ['food', 'sports', 'tech'])
    expect(
      classes(result.predictions)
        .slice(0, 3)
        .map((p) => p.label),
    ).toEqual(['sports', 'tech', 'food'])
    expect(result.model).toEqual({
      jobId: 'job-text',
      checkpointId: text.ref.checkpointId,
      task: 'text-classification',
      inputs: expect.stringContaining('"text"'),
    })
  })

  it('classifies tabular objects and arrays, numeric strings and missing features as the encoder reads them', async () => {
    const served = predictor()
    const fresh = colourRows(60, createRandom(99))
    const objects = fresh.map(({ x1, x2, colour }) => ({ x1, x2, colour }))
    const result = await served.predict(colours.ref, objects)
    expectSameClasses(result.predictions, await ownOutputs(colours, objects), ['no', 'yes'])
    const accuracy = classes(result.predictions).filter((p, r) => p.label === fresh[r].label).length / fresh.length
    expect(accuracy).toBeGreaterThanOrEqual(0.9)

    // The same rows in other spellings answer the same.
    const spelled = [
      { x1: String(objects[0].x1), x2: objects[0].x2 === null ? null : String(objects[0].x2), colour: objects[0].colour },
      [objects[1].x1, objects[1].x2, objects[1].colour],
      { x1: objects[2].x1, colour: objects[2].colour, x2: null },
      { x1: objects[3].x1, colour: 'purple' },
    ]
    const again = await served.predict(colours.ref, spelled)
    const rows = [objects[0], objects[1], { ...objects[2], x2: null }, { x1: objects[3].x1, colour: 'purple' }]
    expectSameClasses(again.predictions, await ownOutputs(colours, rows), ['no', 'yes'])
    expect(classes(again.predictions)[0].probabilities).toEqual(classes(result.predictions)[0].probabilities)
    expect(classes(again.predictions)[1].probabilities).toEqual(classes(result.predictions)[1].probabilities)
  })

  it("answers regressions in the target's original units", async () => {
    const served = predictor()
    const fresh = priceRows(60, createRandom(123), 0)
    const inputs = fresh.map(({ area, age, size }) => ({ area, age, size }))
    const result = await served.predict(prices.ref, inputs)
    const predicted = regressionValues(result.predictions)
    const target = prices.preprocessing.kind === 'tabular' ? prices.preprocessing.target! : null
    const own = (await ownOutputs(prices, inputs)).map(([v]) => v * target!.std + target!.mean)
    for (const [r, value] of predicted.entries()) expect(Math.abs(value - own[r])).toBeLessThan(1e-3)
    const meanError = predicted.reduce((sum, value, r) => sum + Math.abs(value - (fresh[r].price as number)), 0) / fresh.length
    // The prices spread with a standard deviation near 60.
    expect(meanError).toBeLessThan(5)
    expect(result.model.task).toBe('tabular-regression')
  })

  it('classifies images given as pixel arrays or as objects of pixel columns', async () => {
    const served = predictor()
    const fresh = barImages(30, createRandom(321))
    const pixelColumns = Array.from({ length: side * side }, (_, p) => `p${p}`)
    const inputs = fresh.map((row, i) => (i % 2 === 0 ? pixelColumns.map((column) => row[column]) : Object.fromEntries(pixelColumns.map((c) => [c, row[c]]))))
    const result = await served.predict(images.ref, inputs)
    expectSameClasses(result.predictions, await ownOutputs(images, fresh), ['horizontal', 'vertical'])
    const accuracy = classes(result.predictions).filter((p, r) => p.label === fresh[r].label).length / fresh.length
    expect(accuracy).toBeGreaterThanOrEqual(0.9)
  })

  it('describes what each model takes', async () => {
    const served = predictor()
    expect(await served.describe(text.ref)).toEqual({
      kind: 'text',
      column: 'text',
      maxTokens: text.preprocessing.kind === 'text' ? text.preprocessing.maxSequenceLength : 0,
    })
    expect(await served.describe(colours.ref)).toEqual({
      kind: 'tabular',
      features: [
        { name: 'x1', type: 'numeric' },
        { name: 'x2', type: 'numeric' },
        // categories in the preprocessing's order: most frequent in training first
        { name: 'colour', type: 'categorical', categories: colours.preprocessing.kind === 'tabular' ? colours.preprocessing.features[2].categories : [] },
      ],
    })
    expect(await served.describe(images.ref)).toEqual({ kind: 'image', pixels: 64, width: 8, height: 8, channels: 1, pixelRange: [0, 255] })
  })

  it('gives the event loop turns during a 256-row batch', async () => {
    const served = predictor()
    const inputs = barImages(256, createRandom(8)).map((row) => Array.from({ length: side * side }, (_, p) => row[`p${p}`]))
    await served.describe(images.ref)
    let turns = 0
    let running = true
    const spin = async () => {
      while (running) {
        await nextTurn()
        turns++
      }
    }
    const spinning = spin()
    await served.predict(images.ref, inputs)
    running = false
    await spinning
    expect(turns).toBeGreaterThan(1)
  })
})

// ---------------------------------------------------------------- bad inputs

describe('warnings', () => {
  it('names each missing feature and unseen category of a tabular input, and nothing for a complete one', async () => {
    const result = await predictor().predict(colours.ref, [{ x1: 0.5, x2: 0.1, colour: 'red' }, { x1: 0.5, colour: 'purple' }, [0.5, null, null]])
    expect(result.predictions.map((p) => p.warnings)).toEqual([
      [],
      ['feature "x2" is missing: its training mean is used', 'category "purple" of "colour" was not seen in training: it counts as unseen'],
      ['feature "x2" is missing: its training mean is used', 'feature "colour" is missing: it counts as an unseen category'],
    ])
  })

  it('says when every token of a text is unknown, when it has none, and when it is cut', async () => {
    const length = text.preprocessing.kind === 'text' ? text.preprocessing.maxSequenceLength : 0
    const long = Array.from({ length: length + 5 }, () => 'football').join(' ')
    const result = await predictor().predict(text.ref, ['the football team', 'zyxq wvut', '', { text: '!!' }, long])
    const warnings = result.predictions.map((p) => p.warnings)
    expect(warnings[0]).toEqual([])
    expect(warnings[1]).toEqual(['all 2 tokens of the text are unknown (not seen in training): the model sees only unknown tokens'])
    expect(warnings[2]).toEqual(['the text of "text" has no tokens: the model sees only padding'])
    expect(warnings[3]).toHaveLength(1)
    expect(warnings[4]).toEqual([`the text has ${length + 5} tokens; the model reads only the first ${length}`])
  })

  it('answers no warnings for complete images', async () => {
    const pixels = Array.from({ length: side * side }, () => 10)
    const result = await predictor().predict(images.ref, [pixels])
    expect(result.predictions[0].warnings).toEqual([])
  })

  it('rejects an empty tabular row ({} or only nulls) with E1108 naming the input and the features', async () => {
    const error = await invalidInput(predictor().predict(colours.ref, [{ x1: 1, colour: 'red' }, {}, { x1: null, x2: null, colour: null }]))
    expect(fieldsOf(error)).toEqual(['inputs[1]', 'inputs[2]'])
    expect(messageAt(error, 'inputs[1]')).toBe('is empty: it gives none of the model\'s features ("x1", "x2", "colour"); send at least one')
  })
})

describe('bad inputs', () => {
  it('rejects a missing, empty or oversized batch with E1108 on inputs', async () => {
    const served = predictor({ maxBatch: 3 })
    for (const inputs of [{ text: 'not in an array' }, 'text', null, [], ['a', 'b', 'c', 'd']]) {
      const error = await invalidInput(served.predict(text.ref, inputs))
      expect(fieldsOf(error)).toEqual(['inputs'])
    }
    expect(messageAt(await invalidInput(served.predict(text.ref, ['a', 'b', 'c', 'd'])), 'inputs')).toMatch(/4 items.*3/)
  })

  it('lists every problem of text inputs at once', async () => {
    const error = await invalidInput(predictor().predict(text.ref, ['fine', 42, { body: 'x' }, { text: 7 }, ['a']]))
    expect(fieldsOf(error)).toEqual(['inputs[1]', 'inputs[2].body', 'inputs[2]', 'inputs[3].text', 'inputs[4]'])
    expect(messageAt(error, 'inputs[2].body')).toContain('"text"')
    expect(error.message).toContain('5 invalid fields')
  })

  it('lists every problem of tabular inputs at once, naming the expected columns', async () => {
    const inputs = [{ x1: 'abc', colour: 'red', weight: 3 }, [1, 2], 5, { x1: 1, x2: true, colour: { r: 1 } }, { x1: 1, colour: 'red' }, { 'unit price': 2 }]
    const error = await invalidInput(predictor().predict(colours.ref, inputs))
    expect(fieldsOf(error)).toEqual(['inputs[0].weight', 'inputs[0].x1', 'inputs[1]', 'inputs[2]', 'inputs[3].colour', 'inputs[5]["unit price"]'])
    expect(messageAt(error, 'inputs[0].weight')).toContain('"x1", "x2", "colour"')
    expect(messageAt(error, 'inputs[0].x1')).toContain('numeric')
    expect(messageAt(error, 'inputs[1]')).toMatch(/2 values.*3/)
  })

  it('lists every problem of image inputs at once, counting the rest of a very wrong one', async () => {
    const pixels = Array.from({ length: side * side }, () => 10)
    const inputs = [pixels.slice(1), [...pixels.slice(0, 63), 'bright'], { p0: 1, p1: 2 }, pixels.map(() => 'x'), 'image']
    const error = await invalidInput(predictor().predict(images.ref, inputs))
    const fields = fieldsOf(error)
    expect(fields.slice(0, 4)).toEqual(['inputs[0]', 'inputs[1][63]', 'inputs[2]', 'inputs[3][0]'])
    expect(messageAt(error, 'inputs[0]')).toMatch(/63 pixel values.*64/)
    expect(messageAt(error, 'inputs[2]')).toContain('lacks 62 of the 64 pixel columns')
    // 64 bad pixels: five listed, then one line for the other 59.
    expect(fields.filter((f) => f.startsWith('inputs[3]'))).toHaveLength(6)
    expect(messageAt(error, 'inputs[3]')).toContain('59 more problems')
    expect(fields.at(-1)).toBe('inputs[4]')
  })
})

// ---------------------------------------------------------------- the model cache

describe('model cache', () => {
  it('evicts and disposes the least recently used model, and frees everything on forget and close', async () => {
    const loads: string[] = []
    const served = predictor({ maxModels: 2, onModelLoaded: (load) => loads.push(load.jobId) })
    const before = tf.memory().numTensors
    await served.predict(colours.ref, [{ x1: 1, colour: 'red' }])
    await served.predict(prices.ref, [{ area: 1, age: 1, size: 'S' }])
    expect(tf.memory().numTensors).toBe(before + colours.model.weights.length + prices.model.weights.length)
    await served.predict(colours.ref, [{ x1: 1, colour: 'red' }]) // now prices is the least recently used
    await served.predict(images.ref, [Array.from({ length: side * side }, () => 0)])
    expect(tf.memory().numTensors).toBe(before + colours.model.weights.length + images.model.weights.length)
    await served.predict(prices.ref, [{ area: 1, age: 1, size: 'S' }])
    expect(loads).toEqual(['job-colours', 'job-prices', 'job-images', 'job-prices'])
    served.forget('job-prices')
    expect(tf.memory().numTensors).toBe(before + images.model.weights.length)
    served.close()
    expect(tf.memory().numTensors).toBe(before)
    await expect(served.predict(colours.ref, [{ x1: 1 }])).rejects.toThrow(/closed/)
  })

  it('loads a model once for concurrent first calls', async () => {
    const loads: string[] = []
    const served = predictor({ onModelLoaded: (load) => loads.push(load.jobId) })
    const before = tf.memory().numTensors
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => served.predict(text.ref, [`football match ${i}`])))
    expect(loads).toEqual(['job-text'])
    expect(results.map((r) => classes(r.predictions)[0].label)).toEqual(Array(5).fill('sports'))
    expect(tf.memory().numTensors).toBe(before + text.model.weights.length)
    served.close()
    expect(tf.memory().numTensors).toBe(before)
  })

  it('disposes a model evicted during a prediction only when that prediction ends', async () => {
    const served = predictor({ maxModels: 1 })
    const before = tf.memory().numTensors
    const many = Array.from({ length: 200 }, (_, i) => ({ x1: i / 100, colour: 'green' }))
    const [first] = await Promise.all([served.predict(colours.ref, many), served.predict(prices.ref, [{ area: 2, age: 1, size: 'M' }])])
    expect(first.predictions).toHaveLength(200)
    expect(tf.memory().numTensors).toBe(before + prices.model.weights.length)
  })

  it('answers E1109 for a checkpoint folder that is gone, and refuses paths outside the data directory', async () => {
    const served = predictor()
    const gone = { ...colours.ref, checkpointPath: 'checkpoints/job-colours/ckpt-999999', checkpointId: 'ckpt-999999' }
    const error = await served.predict(gone, [{ x1: 1 }]).then(
      () => null,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(NotFoundError)
    expect((error as NotFoundError).code).toBe('E1109')
    await expect(served.predict({ ...colours.ref, checkpointPath: '../elsewhere/ckpt-1' }, [{ x1: 1 }])).rejects.toThrow(/not inside the data directory/)
  })
})
