import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parquetWriteFile } from 'hyparquet-writer'
import { splitSizes } from '../../src/domain/job-config.ts'
import {
  BadInputError,
  type ImagePreprocessing,
  type JobConfig,
  type PreparedData,
  type TabularPreprocessing,
  type TextPreprocessing,
} from '../../trainer/ml/types.ts'
import { createRandom, encodeInputs, loadRows, loadTable, prepareData, shuffle, tokenize, type PrepareInput, type Row } from '../../trainer/data/index.ts'

const hyperparameters: JobConfig['hyperparameters'] = {
  learningRate: 0.001,
  batchSize: 32,
  epochs: 1,
  warmupSteps: 0,
  weightDecay: 0,
  gradientClipping: null,
  lrSchedule: 'linear',
}

type Options = Partial<Omit<PrepareInput, 'dataset' | 'hyperparameters'>> & {
  dataset?: Partial<JobConfig['dataset']>
  hyperparameters?: Partial<JobConfig['hyperparameters']>
}

function prepare(task: PrepareInput['task'], rows: Row[], options: Options = {}): PreparedData {
  return prepareData({
    task,
    rows,
    columns: options.columns ?? Object.keys(rows[0] ?? {}),
    dataset: { id: 'dataset-1', validationSplit: 0.1, testSplit: 0.1, ...options.dataset },
    hyperparameters: { ...hyperparameters, ...options.hyperparameters },
    seed: options.seed ?? 1,
    metadata: options.metadata,
    fitted: options.fitted,
  })
}

/** The BadInputError message prepare() throws; fails the test when it succeeds. */
function badInput(run: () => unknown): string {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(BadInputError)
    return (error as Error).message
  }
  throw new Error('expected a BadInputError, but preparation succeeded')
}

const countBy = <T>(items: T[]) => items.reduce((map, item) => map.set(item, (map.get(item) ?? 0) + 1), new Map<T, number>())

describe('tokenize', () => {
  it('makes each Chinese character one token and folds full-width forms', () => {
    expect(tokenize('我喜欢机器学习！')).toEqual(['我', '喜', '欢', '机', '器', '学', '习', '!'])
    expect(tokenize('ＡＢＣ１２３，测试')).toEqual(['abc123', ',', '测', '试'])
  })

  it('lower-cases words, keeps inner apostrophes and splits punctuation off', () => {
    expect(tokenize("Hello, World! Don't stop.")).toEqual(['hello', ',', 'world', '!', "don't", 'stop', '.'])
    expect(tokenize('mixed中文text naïve café')).toEqual(['mixed', '中', '文', 'text', 'naïve', 'café'])
  })

  it('splits Japanese into kanji, single hiragana and katakana words; keeps Korean words whole', () => {
    expect(tokenize('東京タワーに行きました')).toEqual(['東', '京', 'タワー', 'に', '行', 'き', 'ま', 'し', 'た'])
    expect(tokenize('안녕하세요 세계!')).toEqual(['안녕하세요', '세계', '!'])
  })

  it('keeps CJK runs as words when per-character tokens are off', () => {
    expect(tokenize('机器学习 is fun', { lowercase: false, cjkCharacters: false })).toEqual(['机器学习', 'is', 'fun'])
  })
})

describe('seeded randomness', () => {
  it('repeats a sequence for a seed and differs across seeds', () => {
    const a = createRandom(42)
    const b = createRandom(42)
    const first = Array.from({ length: 5 }, () => a())
    expect(Array.from({ length: 5 }, () => b())).toEqual(first)
    expect(first.every((value) => value >= 0 && value < 1)).toBe(true)
    expect(shuffle([...Array(20).keys()], createRandom(1))).not.toEqual(shuffle([...Array(20).keys()], createRandom(2)))
  })
})

/** Text rows where row i carries a token `uniq<i>` no other row has. */
function textRows(count: number): Row[] {
  return Array.from({ length: count }, (_, i) => ({
    id: i,
    text: i % 2 === 0 ? `我喜欢这部电影 great movie uniq${i}` : `太无聊了 boring film, uniq${i}!`,
    label: i % 2 === 0 ? 'positive' : 'negative',
  }))
}

describe('prepareData: text classification', () => {
  it('builds the vocabulary from training rows only, most frequent first', () => {
    const data = prepare('text-classification', textRows(40), { dataset: { validationSplit: 0.25, testSplit: 0.25 } })
    const text = data.preprocessing as TextPreprocessing
    expect(text.textColumn).toBe('text')
    expect(text.labelColumn).toBe('label')
    expect(text.vocabulary.slice(0, 2)).toEqual(['<pad>', '<oov>'])
    const trainUniques = new Set(data.train.rows.map((i) => `uniq${i}`))
    const heldOutUniques = [...data.validation.rows, ...data.test.rows].map((i) => `uniq${i}`)
    for (const token of heldOutUniques) expect(text.vocabulary).not.toContain(token)
    for (const token of trainUniques) expect(text.vocabulary).toContain(token)
    // the tokens every training row of a class shares outrank the one-off ones
    const shared = ['我', '喜', '欢', '这', '部', '电', '影', 'great', 'movie', '太', '无', '聊', '了', 'boring', 'film', ',', '!']
    expect(new Set(text.vocabulary.slice(2, 2 + shared.length))).toEqual(new Set(shared))
    // one-off tokens all count 1: ties are ordered by token
    const ones = text.vocabulary.slice(2 + shared.length)
    expect(ones).toEqual([...ones].sort())
  })

  it('encodes ids padded with 0 to the 95th-percentile length clamped to at least 8, unknown tokens as 1', () => {
    const data = prepare('text-classification', textRows(40))
    const text = data.preprocessing as TextPreprocessing
    // even rows have 10 tokens (7 characters, 3 words), odd rows 9; the 95th percentile is 10
    expect(text.maxSequenceLength).toBe(10)
    expect(data.inputShape).toEqual([10])
    expect(data.inputDtype).toBe('int32')
    expect(data.train.x).toBeInstanceOf(Int32Array)
    const ids = new Map(text.vocabulary.map((token, i) => [token, i]))
    const rows = textRows(40)
    const firstTest = data.test.rows[0]
    const expected = tokenize(String(rows[firstTest].text)).map((token) => ids.get(token) ?? 1)
    while (expected.length < 10) expected.push(0)
    expect(Array.from(data.test.x.subarray(0, 10))).toEqual(expected)
    // the test row's own unique token is out of vocabulary
    expect(expected).toContain(1)
  })

  it('honours vocabSize and maxSequenceLength, truncating with a warning', () => {
    const data = prepare('text-classification', textRows(40), { hyperparameters: { vocabSize: 100, maxSequenceLength: 4 } })
    const text = data.preprocessing as TextPreprocessing
    expect(text.maxSequenceLength).toBe(4)
    expect(data.train.x.length).toBe(data.train.count * 4)
    expect(data.warnings.some((w) => /truncated/.test(w))).toBe(true)
    const capped = prepare('text-classification', textRows(200), { hyperparameters: { vocabSize: 100 } })
    expect((capped.preprocessing as TextPreprocessing).vocabulary).toHaveLength(100)
  })

  it('takes labels from all rows, sorted numerically when they are numbers', () => {
    const rows = Array.from({ length: 30 }, (_, i) => ({ body: `text number ${i}`, stars: [2, 10, 1][i % 3] }))
    const data = prepare('text-classification', rows)
    expect(data.preprocessing.labelColumn).toBe('stars')
    expect((data.preprocessing as TextPreprocessing).textColumn).toBe('body')
    expect((data.preprocessing as TextPreprocessing).labels).toEqual(['1', '2', '10'])
    expect(data.numClasses).toBe(3)
    for (const [k, row] of data.train.rows.entries()) expect(['1', '2', '10'][data.train.y[k]]).toBe(String(rows[row].stars))
  })

  it('reuses a fitted preprocessing unchanged and encodes raw inputs the same way', () => {
    const first = prepare('text-classification', textRows(40))
    const fitted = first.preprocessing as TextPreprocessing
    const other = textRows(20).map((row) => ({ ...row, text: `${String(row.text)} brand new words` }))
    const again = prepare('text-classification', other, { fitted, seed: 9 })
    expect(again.preprocessing).toEqual(fitted)
    expect(again.preprocessing).not.toBe(fitted)
    const direct = encodeInputs(
      fitted,
      again.test.rows.map((i) => other[i]),
    )
    expect(direct.count).toBe(again.test.count)
    expect(Array.from(direct.x)).toEqual(Array.from(again.test.x))
    const message = badInput(() => prepare('text-classification', [...other, { id: 99, text: 'hi', label: 'neutral' }], { fitted }))
    expect(message).toMatch(/"neutral"/)
    expect(message).toMatch(/negative, positive/)
  })
})

/** `count` rows whose class `label` is a, b or c in proportion 6 : 3 : 1. */
function skewedRows(count: number): Row[] {
  return Array.from({ length: count }, (_, i) => ({ x: i, label: i % 10 < 6 ? 'a' : i % 10 < 9 ? 'b' : 'c' }))
}

describe('prepareData: splits', () => {
  it('stratifies: every class is divided in proportion', () => {
    const data = prepare('tabular-classification', skewedRows(100), { dataset: { validationSplit: 0.2, testSplit: 0.2 } })
    const perClass = (split: PreparedData['train']) => Object.fromEntries(countBy(Array.from(split.y, (c) => ['a', 'b', 'c'][c])))
    expect(perClass(data.train)).toEqual({ a: 36, b: 18, c: 6 })
    expect(perClass(data.validation)).toEqual({ a: 12, b: 6, c: 2 })
    expect(perClass(data.test)).toEqual({ a: 12, b: 6, c: 2 })
  })

  it('keeps a class with one or two rows in training', () => {
    const rows = [...skewedRows(40).filter((row) => row.label !== 'c'), { x: 100, label: 'single' }, { x: 101, label: 'pair' }, { x: 102, label: 'pair' }]
    const data = prepare('tabular-classification', rows, { dataset: { validationSplit: 0.3, testSplit: 0.3 } })
    const labels = (data.preprocessing as TabularPreprocessing).labels ?? []
    const trainClasses = new Set(Array.from(data.train.y, (c) => labels[c]))
    expect(trainClasses).toEqual(new Set(['a', 'b', 'single', 'pair']))
    expect(data.warnings.some((w) => w.includes('"single"') && /fewer than 5 rows/.test(w))).toBe(true)
  })

  it('repeats the same split for the same seed and changes it for another', () => {
    const rows = skewedRows(200)
    const a = prepare('tabular-classification', rows, { seed: 7 })
    const b = prepare('tabular-classification', rows, { seed: 7 })
    const c = prepare('tabular-classification', rows, { seed: 8 })
    expect(b.train.rows).toEqual(a.train.rows)
    expect(b.test.rows).toEqual(a.test.rows)
    expect(c.test.rows).not.toEqual(a.test.rows)
    const all = [...a.train.rows, ...a.validation.rows, ...a.test.rows].sort((x, y) => x - y)
    expect(all).toEqual([...rows.keys()])
  })

  it('gives the training split exactly splitSizes(...).train rows, stratified or not', () => {
    const random = createRandom(3)
    for (let trial = 0; trial < 60; trial++) {
      const count = 2 + Math.floor(random() * 120)
      const validationSplit = Math.round(random() * 40) / 100
      const testSplit = Math.round(random() * 40) / 100
      const sizes = splitSizes(count, validationSplit, testSplit)
      if (sizes.train === 0) continue
      const rows = Array.from({ length: count }, (_, i) => ({ x: i, label: i < 2 ? `c${i}` : `c${Math.floor(random() * 7)}` }))
      for (const task of ['tabular-classification', 'tabular-regression'] as const) {
        const input = task === 'tabular-regression' ? rows.map((row) => ({ x: row.x, label: row.x * 2 })) : rows
        const data = prepare(task, input, { dataset: { validationSplit, testSplit }, seed: trial })
        expect([data.train.count, data.validation.count, data.test.count]).toEqual([sizes.train, sizes.validation, sizes.test])
      }
    }
  })

  it('leaves rows without a label out, with a warning', () => {
    const rows: Row[] = [...skewedRows(20), { x: 50, label: null }, { x: 51, label: '' }]
    const data = prepare('tabular-classification', rows)
    const used = [...data.train.rows, ...data.validation.rows, ...data.test.rows]
    expect(used).toHaveLength(20)
    expect(used).not.toContain(20)
    expect(data.warnings).toContain('2 rows without a value in the label column "label" were left out')
  })
})

describe('prepareData: tabular', () => {
  // hand-checkable: only the training rows' values may count
  const table: Row[] = [
    { size: 1, color: 'red', score: 10, label: 'yes' },
    { size: 2, color: 'blue', score: null, label: 'no' },
    { size: 3, color: 'red', score: 30, label: 'yes' },
    { size: 4, color: null, score: 40, label: 'no' },
    { size: 5, color: 'green', score: 50, label: 'yes' },
    { size: 6, color: 'blue', score: 60, label: 'no' },
  ]

  it('standardizes numeric columns with training-split statistics and one-hot encodes categories plus an unseen slot', () => {
    const data = prepare('tabular-classification', table, { dataset: { validationSplit: 0, testSplit: 0 } })
    const tabular = data.preprocessing as TabularPreprocessing
    // all six rows train: size mean 3.5, population std sqrt(17.5 / 6)
    expect(tabular.features[0]).toMatchObject({ column: 'size', type: 'numeric', mean: 3.5 })
    expect(tabular.features[0].std).toBeCloseTo(Math.sqrt(17.5 / 6), 12)
    // score: the missing value does not count; mean of 10, 30, 40, 50, 60 is 38
    expect(tabular.features[2].mean).toBe(38)
    expect(tabular.features[2].std).toBeCloseTo(Math.sqrt((28 ** 2 + 8 ** 2 + 2 ** 2 + 12 ** 2 + 22 ** 2) / 5), 12)
    // categories by training frequency, ties by name
    expect(tabular.features[1]).toEqual({ column: 'color', type: 'categorical', categories: ['blue', 'red', 'green'] })
    expect(tabular.inputSize).toBe(1 + 4 + 1)
    expect(data.inputShape).toEqual([6])
    const byRow = new Map(data.train.rows.map((row, k) => [row, Array.from(data.train.x.subarray(k * 6, k * 6 + 6))]))
    const std = Math.sqrt(17.5 / 6)
    expect(byRow.get(1)?.[0]).toBeCloseTo((2 - 3.5) / std, 6)
    expect(byRow.get(1)?.slice(1, 5)).toEqual([1, 0, 0, 0])
    // a missing category lands in the unseen slot, a missing number becomes 0
    expect(byRow.get(3)?.slice(1, 5)).toEqual([0, 0, 0, 1])
    expect(byRow.get(1)?.[5]).toBe(0)
  })

  it('fits on the training split only', () => {
    const rows = Array.from({ length: 50 }, (_, i) => ({ v: i * i, kind: `k${i % 9}`, label: i % 2 ? 'odd' : 'even' }))
    const data = prepare('tabular-classification', rows, { dataset: { validationSplit: 0.2, testSplit: 0.2 } })
    const [v, kind] = (data.preprocessing as TabularPreprocessing).features
    const trainValues = data.train.rows.map((i) => i * i)
    const mean = trainValues.reduce((a, b) => a + b, 0) / trainValues.length
    const std = Math.sqrt(trainValues.reduce((a, b) => a + (b - mean) ** 2, 0) / trainValues.length)
    expect(v.mean).toBeCloseTo(mean, 9)
    expect(v.std).toBeCloseTo(std, 9)
    const allMean = rows.reduce((a, row) => a + row.v, 0) / rows.length
    expect(v.mean).not.toBeCloseTo(allMean, 3)
    expect(new Set(kind.categories)).toEqual(new Set(data.train.rows.map((i) => `k${i % 9}`)))
  })

  it('sends a category training never saw to the unseen slot', () => {
    const data = prepare('tabular-classification', table, { dataset: { validationSplit: 0, testSplit: 0 } })
    const std = Math.sqrt(17.5 / 6)
    const { x, count } = encodeInputs(data.preprocessing, [
      { size: 7, color: 'purple', score: 70 },
      { size: 3.5, color: 'red' },
    ])
    expect(count).toBe(2)
    expect(x).toBeInstanceOf(Float32Array)
    expect(x[0]).toBeCloseTo((7 - 3.5) / std, 6)
    expect(Array.from(x.subarray(1, 5))).toEqual([0, 0, 0, 1])
    expect(Array.from(x.subarray(6, 12))).toEqual([0, 0, 1, 0, 0, 0])
  })

  it('standardizes a regression target with the training mean and std', () => {
    const rows = Array.from({ length: 40 }, (_, i) => ({ a: i, b: i % 3, price: 100 + 5 * i }))
    const data = prepare('tabular-regression', rows, { dataset: { validationSplit: 0.25, testSplit: 0.25 } })
    const tabular = data.preprocessing as TabularPreprocessing
    expect(tabular.labels).toBeNull()
    expect(data.numClasses).toBeNull()
    expect(data.train.y).toBeInstanceOf(Float32Array)
    const train = data.train.rows.map((i) => 100 + 5 * i)
    const mean = train.reduce((a, b) => a + b, 0) / train.length
    const std = Math.sqrt(train.reduce((a, b) => a + (b - mean) ** 2, 0) / train.length)
    expect(tabular.target?.mean).toBeCloseTo(mean, 9)
    expect(tabular.target?.std).toBeCloseTo(std, 9)
    for (const [k, row] of data.test.rows.entries()) expect(data.test.y[k]).toBeCloseTo((100 + 5 * row - mean) / std, 5)
    const yTrain = Array.from(data.train.y)
    expect(yTrain.reduce((a, b) => a + b, 0) / yTrain.length).toBeCloseTo(0, 5)
  })

  it("reuses an earlier model's statistics and categories when fine-tuning", () => {
    const first = prepare(
      'tabular-regression',
      [1, 2, 3, 4, 5, 6, 7, 8].map((v) => ({ v, c: v % 2 ? 'odd' : 'even', y: v * 10 })),
    )
    const fitted = first.preprocessing as TabularPreprocessing
    const later = prepare(
      'tabular-regression',
      [100, 200, 300, 400, 500].map((v) => ({ v, c: 'new', y: v })),
      { fitted },
    )
    expect(later.preprocessing).toEqual(fitted)
    const k = later.train.rows[0]
    const v = [100, 200, 300, 400, 500][k]
    const [feature] = fitted.features
    expect(later.train.x[0]).toBeCloseTo((v - (feature.mean ?? 0)) / (feature.std ?? 1), 4)
    expect(Array.from(later.train.x.subarray(1, 4))).toEqual([0, 0, 1])
    expect(later.train.y[0]).toBeCloseTo((v - (fitted.target?.mean ?? 0)) / (fitted.target?.std ?? 1), 4)
  })

  it('accepts boolean columns as 0/1 numbers', () => {
    const rows = Array.from({ length: 10 }, (_, i) => ({ flag: i % 2 === 0, label: i % 2 ? 'x' : 'y' }))
    const data = prepare('tabular-classification', rows, { dataset: { validationSplit: 0, testSplit: 0 } })
    expect((data.preprocessing as TabularPreprocessing).features[0]).toMatchObject({ type: 'numeric', mean: 0.5, std: 0.5 })
  })
})

/** MNIST-style rows: a digit label and 784 pixel columns, each pixel (row*28+col + label) % 256. */
function mnistRows(count: number, labelFirst: boolean): { rows: Row[]; columns: string[] } {
  const pixels = Array.from({ length: 784 }, (_, i) => `pixel${i}`)
  const columns = labelFirst ? ['label', ...pixels] : [...pixels, 'label']
  const rows = Array.from({ length: count }, (_, r) => {
    const row: Row = { label: r % 10 }
    for (const [i, name] of pixels.entries()) row[name] = (i + r) % 256
    return row
  })
  return { rows, columns }
}

describe('prepareData: images', () => {
  for (const labelFirst of [true, false]) {
    it(`reads label + 784 pixel columns as 28×28×1 images scaled from 0-255 (label ${labelFirst ? 'first' : 'last'})`, () => {
      const { rows, columns } = mnistRows(30, labelFirst)
      const data = prepare('image-classification', rows, { columns })
      const image = data.preprocessing as ImagePreprocessing
      expect(image).toMatchObject({ width: 28, height: 28, channels: 1, scale: 255, labelColumn: 'label' })
      expect(image.pixelColumns).toEqual(columns.filter((c) => c !== 'label'))
      expect(data.inputShape).toEqual([28, 28, 1])
      expect(image.labels).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
      const k = 2
      const r = data.train.rows[k]
      const x = data.train.x
      // NHWC: pixel (h, w) of image k sits at k*784 + h*28 + w
      expect(x[k * 784 + 5 * 28 + 7]).toBeCloseTo(((5 * 28 + 7 + r) % 256) / 255, 6)
      expect(data.train.y[k]).toBe(r % 10)
    })
  }

  it('takes the label from the last column when none is named label, and the shape from metadata', () => {
    const rows = Array.from({ length: 20 }, (_, r) => {
      const row: Row = {}
      for (let i = 0; i < 12; i++) row[`v${i}`] = ((i + r) % 10) / 10
      row.digit = r % 2 ? 'odd' : 'even'
      return row
    })
    const data = prepare('image-classification', rows, { metadata: { width: 2, height: 2, channels: 3 } })
    const image = data.preprocessing as ImagePreprocessing
    expect(image).toMatchObject({ labelColumn: 'digit', width: 2, height: 2, channels: 3, scale: 1 })
    expect(data.inputShape).toEqual([2, 2, 3])
    const r = data.train.rows[0]
    expect(Array.from(data.train.x.subarray(0, 12))).toEqual(Array.from({ length: 12 }, (_, i) => Math.fround(((i + r) % 10) / 10)))
  })
})

describe('prepareData: inputs it cannot use', () => {
  const rows = textRows(20)

  it('names a configured column that is missing and lists the ones there are', () => {
    expect(badInput(() => prepare('text-classification', rows, { dataset: { labelColumn: 'sentiment' } }))).toBe(
      'dataset.labelColumn "sentiment" is not a column of the dataset; its columns are "id", "text", "label"',
    )
    expect(badInput(() => prepare('text-classification', rows, { dataset: { textColumn: 'Text' } }))).toMatch(/"Text".*did you mean "text"/)
    expect(badInput(() => prepare('tabular-classification', rows, { dataset: { featureColumns: ['id', 'age'] } }))).toMatch(/"age" is not a column/)
  })

  it('rejects a label column with a single class', () => {
    expect(
      badInput(() =>
        prepare(
          'text-classification',
          rows.map((row) => ({ ...row, label: 'spam' })),
        ),
      ),
    ).toMatch(/single class \("spam"\)/)
  })

  it('rejects a regression label that is not numeric', () => {
    expect(badInput(() => prepare('tabular-regression', rows))).toMatch(/needs numbers in the label column "label", but row 1 holds "positive"/)
  })

  it('rejects splits that leave no training rows', () => {
    expect(
      badInput(() =>
        prepare(
          'tabular-classification',
          [
            { x: 0, label: 'a' },
            { x: 1, label: 'b' },
          ],
          { dataset: { validationSplit: 0.5, testSplit: 0.49 } },
        ),
      ),
    ).toMatch(/no rows are left for training/)
  })

  it('rejects a text column without text, and a dataset with no text column', () => {
    const empty = rows.map((row) => ({ ...row, text: Number(row.id) % 2 ? '' : '  ' }))
    expect(badInput(() => prepare('text-classification', empty))).toMatch(/text column "text" has no text/)
    const numbers = Array.from({ length: 10 }, (_, k) => ({ a: k, b: k * 2, label: k % 2 }))
    expect(badInput(() => prepare('text-classification', numbers))).toMatch(/no column holds text.*set dataset.textColumn/)
  })

  it('rejects the label column as a feature or as the text', () => {
    expect(badInput(() => prepare('tabular-classification', rows, { dataset: { featureColumns: ['id', 'label'] } }))).toMatch(/includes the label column/)
    expect(badInput(() => prepare('text-classification', rows, { dataset: { textColumn: 'label' } }))).toMatch(/both "label"/)
  })

  it('rejects images whose size cannot be told, or does not match the metadata', () => {
    const odd = Array.from({ length: 10 }, (_, k) => ({ a: k, b: k, c: k, label: k % 2 }))
    expect(badInput(() => prepare('image-classification', odd))).toMatch(/3 pixel columns \(not a square number\)/)
    expect(badInput(() => prepare('image-classification', odd, { metadata: { width: 2, height: 2 } }))).toMatch(/2×2×1 images .* 3 pixel columns/)
  })

  it('rejects an empty dataset and a label column without values', () => {
    expect(badInput(() => prepare('text-classification', [], { columns: ['text', 'label'] }))).toMatch(/no rows/)
    expect(
      badInput(() =>
        prepare(
          'text-classification',
          rows.map((row) => ({ ...row, label: null })),
        ),
      ),
    ).toMatch(/label column "label" has no values/)
  })

  it('rejects a fitted preprocessing for another task', () => {
    const fitted = prepare('text-classification', rows).preprocessing
    expect(badInput(() => prepare('tabular-classification', rows, { fitted }))).toMatch(/text classification, not for tabular-classification/)
  })
})

describe('loadRows', () => {
  let dir: string
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trainer-data-'))
  })
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const write = (name: string, content: string) => {
    const file = path.join(dir, name)
    fs.writeFileSync(file, content)
    return file
  }

  it('types CSV columns as the upload analysis does: numbers, booleans, strings; empty is null', async () => {
    const file = write('a.csv', '\ufefftext,stars,score,ok,code\n"Hello, world",5,1.5,true,007\n你好,,2,FALSE,x1\n')
    expect(await loadRows(file, 'csv')).toEqual([
      { text: 'Hello, world', stars: 5, score: 1.5, ok: true, code: '007' },
      { text: '你好', stars: null, score: 2, ok: false, code: 'x1' },
    ])
    const table = await loadTable(write('b.csv', 'label,1,0\na,2,3\n'), 'csv')
    expect(table.columns).toEqual(['label', '1', '0'])
  })

  it('reads CRLF line ends, and keeps a "__proto__" header an ordinary column', async () => {
    const rows = await loadRows(write('c.csv', 'a,__proto__\r\n1,x\r\n2,y\r\n'), 'csv')
    expect(rows).toHaveLength(2)
    expect(Object.getPrototypeOf(rows[0])).toBe(Object.prototype)
    expect(Object.entries(rows[1])).toEqual([
      ['a', 2],
      ['__proto__', 'y'],
    ])
  })

  it('reads a JSON array and JSON Lines', async () => {
    const rows = [
      { text: 'a', label: 1 },
      { text: 'b', label: 2, extra: true },
    ]
    expect(await loadRows(write('a.json', JSON.stringify(rows)), 'json')).toEqual(rows)
    const table = await loadTable(write('b.json', `${rows.map((row) => JSON.stringify(row)).join('\n')}\n\n`), 'json')
    expect(table.rows).toEqual(rows)
    expect(table.columns).toEqual(['text', 'label', 'extra'])
  })

  it('reads parquet, with 64-bit integers as numbers', async () => {
    const filename = path.join(dir, 'a.parquet')
    parquetWriteFile({
      filename,
      columnData: [
        { name: 'text', data: ['x', 'y', null], type: 'STRING' },
        { name: 'n', data: [1n, 2n, 3n], type: 'INT64' },
        { name: 'f', data: [0.5, null, 2], type: 'DOUBLE' },
      ],
    })
    expect(await loadTable(filename, 'parquet')).toEqual({
      rows: [
        { text: 'x', n: 1, f: 0.5 },
        { text: 'y', n: 2, f: null },
        { text: null, n: 3, f: 2 },
      ],
      columns: ['text', 'n', 'f'],
    })
  })

  it('reports a broken file as bad input', async () => {
    await expect(loadRows(write('bad.json', '[{"a": 1},'), 'json')).rejects.toBeInstanceOf(BadInputError)
    await expect(loadRows(write('bad.csv', 'a,b\n1,2,3\n'), 'csv')).rejects.toThrow(/not valid CSV/)
  })
})
