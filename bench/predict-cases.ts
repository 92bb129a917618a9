// The models `bench/predict.ts` trains and the rows it predicts on: one case
// per built-in architecture, default model sizes, few epochs (prediction speed
// does not depend on how well a model learned), data made by code.
import { parse } from 'csv-parse/sync'
import { learnableTextCsv, regressionCsv, strokeImagesCsv, tabularClassesCsv } from '../test/helpers/training-data.ts'
import { createRandom } from '../trainer/data/index.ts'

export interface PredictCase {
  name: string
  datasetType: 'text' | 'tabular' | 'image'
  trainingCsv: () => string
  /** Rows the model never saw (another seed), as CSV with the label column. */
  heldOutCsv: () => string
  labelColumn: string
  model: { baseModel: string; task: string }
  hyperparameters: Record<string, number>
}

// Texts are padded to 32 tokens, as in bench:training; the rare words make a
// vocabulary of ~1,500 tokens, so embedding tables weigh what real ones do.
const text = { maxSequenceLength: 32, epochs: 2 }

export const allCases: PredictCase[] = [
  {
    name: 'text-bag-of-embeddings',
    datasetType: 'text',
    trainingCsv: () => wideVocabularyCsv(1200, 7),
    heldOutCsv: () => wideVocabularyCsv(256, 97),
    labelColumn: 'label',
    model: { baseModel: 'text-bag-of-embeddings', task: 'text-classification' },
    hyperparameters: { ...text, learningRate: 0.02 },
  },
  {
    name: 'text-cnn',
    datasetType: 'text',
    trainingCsv: () => wideVocabularyCsv(1200, 7),
    heldOutCsv: () => wideVocabularyCsv(256, 99),
    labelColumn: 'label',
    model: { baseModel: 'text-cnn', task: 'text-classification' },
    hyperparameters: { ...text, learningRate: 0.005 },
  },
  {
    name: 'text-transformer-small',
    datasetType: 'text',
    trainingCsv: () => wideVocabularyCsv(1200, 7),
    heldOutCsv: () => wideVocabularyCsv(256, 98),
    labelColumn: 'label',
    model: { baseModel: 'text-transformer-small', task: 'text-classification' },
    hyperparameters: { ...text, learningRate: 0.003 },
  },
  {
    name: 'tabular-mlp',
    datasetType: 'tabular',
    trainingCsv: () => tabularClassesCsv(2000),
    heldOutCsv: () => tabularClassesCsv(256, 96),
    labelColumn: 'label',
    model: { baseModel: 'tabular-mlp', task: 'tabular-classification' },
    hyperparameters: { epochs: 3, learningRate: 0.02 },
  },
  {
    name: 'tabular-mlp (regression)',
    datasetType: 'tabular',
    trainingCsv: () => regressionCsv(2000),
    heldOutCsv: () => regressionCsv(256, 95),
    labelColumn: 'y',
    model: { baseModel: 'tabular-mlp', task: 'tabular-regression' },
    hyperparameters: { epochs: 3, learningRate: 0.01 },
  },
  {
    name: 'image-cnn-small (28×28)',
    datasetType: 'image',
    trainingCsv: () => strokeImagesCsv(600),
    heldOutCsv: () => strokeImagesCsv(256, 94),
    labelColumn: 'label',
    model: { baseModel: 'image-cnn-small', task: 'image-classification' },
    hyperparameters: { epochs: 2, learningRate: 0.01 },
  },
]

/** The raw inputs the predict endpoint takes for the held-out rows: texts, feature objects, pixel arrays. */
export function predictInputs(c: PredictCase): unknown[] {
  const rows = (parse(c.heldOutCsv(), { columns: true, skip_empty_lines: true }) as Record<string, string>[]).map((row) => {
    const { [c.labelColumn]: _label, ...features } = row
    return features
  })
  if (c.datasetType === 'text') return rows.map((row) => row.text)
  if (c.datasetType === 'image') return rows.map((row) => Object.values(row).map(Number))
  return rows.map((row) => Object.fromEntries(Object.entries(row).map(([column, value]) => [column, Number.isNaN(Number(value)) ? value : Number(value)])))
}

/** The learnable topics with eight rare words added to every text (the idea of the export test's wideVocabularyCsv). */
function wideVocabularyCsv(rows: number, seed: number): string {
  const random = createRandom(seed)
  const lines = learnableTextCsv(rows, seed).trimEnd().split('\n')
  const widened = lines.slice(1).map((line) => {
    const extra = Array.from({ length: 8 }, () => `zq${Math.floor(random() * 1500)}`).join(' ')
    return line.replace(/^"(.*)",/, (_, words: string) => `"${words} ${extra}",`)
  })
  return `${[lines[0], ...widened].join('\n')}\n`
}
