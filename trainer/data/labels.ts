// The label column: which rows have a label, the class names and each row's
// class, or the numeric targets of a regression.
import { BadInputError, type Preprocessing } from '../ml/types.ts'
import type { Row } from './load.ts'
import type { SplitPositions } from './split.ts'
import { isMissing, numberOf, quoteList, valueText } from './values.ts'

/** Classes with fewer rows than this get a warning: their metrics mean little. */
const rareClassRows = 5

export type Targets = { kind: 'classes'; kept: number[]; labels: string[]; classes: Int32Array } | { kind: 'values'; kept: number[]; values: Float64Array }

/** Rows that have a label; rows without one are left out. */
function labelledRows(rows: Row[], labelColumn: string): number[] {
  const kept: number[] = []
  for (let i = 0; i < rows.length; i++) if (!isMissing(rows[i][labelColumn])) kept.push(i)
  if (kept.length === 0) throw new BadInputError(`the label column "${labelColumn}" has no values`)
  return kept
}

/** Class names come from every row, so a class seen only in the test split is still known. */
export function readClasses(rows: Row[], labelColumn: string, fitted?: Preprocessing): Targets {
  const kept = labelledRows(rows, labelColumn)
  const names = kept.map((i) => valueText(rows[i][labelColumn]))
  const fittedLabels = fitted?.labels ?? undefined
  const labels = fittedLabels ?? sortLabels(names)
  if (fittedLabels === undefined && labels.length < 2) {
    throw new BadInputError(`the label column "${labelColumn}" holds a single class ("${labels[0]}"); classification needs at least two`)
  }
  return { kind: 'classes', kept, labels, classes: classIndices(labelColumn, names, labels) }
}

/** Regression targets: every label must be a number (or numeric text). */
export function readTargets(rows: Row[], labelColumn: string): Targets {
  const kept = labelledRows(rows, labelColumn)
  const values = new Float64Array(kept.length)
  kept.forEach((row, k) => {
    const value = numberOf(rows[row][labelColumn])
    if (value === undefined) {
      throw new BadInputError(
        `tabular-regression needs numbers in the label column "${labelColumn}", but row ${row + 1} holds ${JSON.stringify(rows[row][labelColumn])}`,
      )
    }
    values[k] = value
  })
  return { kind: 'values', kept, values }
}

/** Class names in a stable order: numerically when every one is a number (so "10" follows "9"), otherwise by code unit. */
export function sortLabels(labels: Iterable<string>): string[] {
  const distinct = [...new Set(labels)]
  const numeric = distinct.every((label) => numberOf(label) !== undefined)
  return distinct.sort((a, b) => {
    if (numeric) {
      const difference = Number(a) - Number(b)
      if (difference !== 0) return difference
    }
    return a < b ? -1 : a > b ? 1 : 0
  })
}

/** The label column's values as class indices; a label outside `labels` (an earlier model's classes) is rejected. */
function classIndices(labelColumn: string, values: string[], labels: string[]): Int32Array {
  const index = new Map(labels.map((label, i) => [label, i]))
  const out = new Int32Array(values.length)
  for (let i = 0; i < values.length; i++) {
    const found = index.get(values[i])
    if (found === undefined) {
      const known = labels.length > 20 ? `${labels.slice(0, 20).join(', ')}, …` : labels.join(', ')
      throw new BadInputError(`the label column "${labelColumn}" holds the class "${values[i]}", but the model being continued knows only: ${known}`)
    }
    out[i] = found
  }
  return out
}

/** Classes without training rows and classes too rare for their metrics to mean much. */
export function classWarnings(labels: string[], classes: Int32Array, positions: SplitPositions): string[] {
  const total = new Array<number>(labels.length).fill(0)
  const inTrain = new Array<number>(labels.length).fill(0)
  for (const c of classes) total[c]++
  for (const p of positions.train) inTrain[classes[p]]++
  const warnings: string[] = []
  const untrained = labels.filter((_, c) => total[c] > 0 && inTrain[c] === 0)
  if (untrained.length > 0)
    warnings.push(`class${untrained.length === 1 ? '' : 'es'} ${quoteList(untrained)} ha${untrained.length === 1 ? 's' : 've'} no training rows`)
  const rare = labels.filter((_, c) => total[c] > 0 && total[c] < rareClassRows)
  if (rare.length > 0)
    warnings.push(
      `class${rare.length === 1 ? '' : 'es'} ${quoteList(rare)} ha${rare.length === 1 ? 's' : 've'} fewer than ${rareClassRows} rows; their metrics will be unreliable`,
    )
  return warnings
}
