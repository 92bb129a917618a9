// Seeded train / validation / test splits. Sizes are exactly those of
// `splitSizes`, which the API used to announce the job's total steps.
// Classification splits are stratified: each class is divided in proportion,
// keeping at least one row of every class in training when the sizes allow.
import { splitSizes } from '../../src/domain/job-config.ts'
import { BadInputError } from '../ml/types.ts'
import { shuffledIndices } from './random.ts'

export interface SplitPositions {
  /** Positions in the input (0 … count-1), in a seeded random order. */
  train: number[]
  validation: number[]
  test: number[]
}

export interface SplitRequest {
  count: number
  /** Class index per position, or null to split without stratifying (regression). */
  classes: Int32Array | null
  numClasses: number
  validationSplit: number
  testSplit: number
  seed: number
}

/** Which split a position goes to: the index of its list in SplitPositions order (train, validation, test). */
const Part = { Train: 0, Validation: 1, Test: 2 } as const

/** Splits positions 0 … count-1; same request, same answer. */
export function splitPositions(request: SplitRequest): SplitPositions {
  const { count, classes, validationSplit, testSplit, seed } = request
  const sizes = splitSizes(count, validationSplit, testSplit)
  if (sizes.train === 0) {
    throw new BadInputError(
      `no rows are left for training: the dataset has ${count} usable row${count === 1 ? '' : 's'}, ` +
        `of which validationSplit ${validationSplit} takes ${sizes.validation} and testSplit ${testSplit} takes ${sizes.test}`,
    )
  }
  const order = shuffledIndices(count, seed)
  const part = new Uint8Array(count)
  if (classes === null) {
    for (let i = 0; i < sizes.test; i++) part[order[i]] = Part.Test
    for (let i = sizes.test; i < sizes.test + sizes.validation; i++) part[order[i]] = Part.Validation
  } else {
    stratify(order, classes, request.numClasses, sizes, part)
  }
  const result: SplitPositions = { train: [], validation: [], test: [] }
  const lists = [result.train, result.validation, result.test]
  for (const position of order) lists[part[position]].push(position)
  return result
}

function stratify(order: number[], classes: Int32Array, numClasses: number, sizes: { validation: number; test: number }, part: Uint8Array): void {
  const members: number[][] = Array.from({ length: numClasses }, () => [])
  for (const position of order) members[classes[position]].push(position)
  const sizesOf = members.map((list) => list.length)
  const total = order.length
  const test = allocate(
    sizes.test,
    sizesOf.map((n) => (n * sizes.test) / total),
    sizesOf,
  )
  const validation = allocate(
    sizes.validation,
    sizesOf.map((n) => (n * sizes.validation) / total),
    sizesOf.map((n, c) => n - test[c]),
  )
  members.forEach((list, c) => {
    // each class's rows are already in seeded random order: test first, then validation, the rest train
    for (let i = 0; i < test[c]; i++) part[list[i]] = Part.Test
    for (let i = test[c]; i < test[c] + validation[c]; i++) part[list[i]] = Part.Validation
  })
}

/**
 * Divides `total` among classes close to `ideal` (largest remainders), never
 * more than `available` per class, and keeping one row per class back for
 * training unless the total cannot be reached otherwise.
 */
function allocate(total: number, ideal: number[], available: number[]): number[] {
  const keepOne = available.map((n) => Math.max(0, n - 1))
  const caps = keepOne.reduce((sum, n) => sum + n, 0) >= total ? keepOne : available
  const counts = ideal.map((share, c) => Math.min(Math.floor(share), caps[c]))
  let left = total - counts.reduce((sum, n) => sum + n, 0)
  const byRemainder = ideal.map((_, c) => c).sort((a, b) => ideal[b] - counts[b] - (ideal[a] - counts[a]) || a - b)
  while (left > 0) {
    let gave = false
    for (const c of byRemainder) {
      if (left === 0) break
      if (counts[c] < caps[c]) {
        counts[c]++
        left--
        gave = true
      }
    }
    // cannot happen while total ≤ the rows available; a guard against looping forever
    if (!gave) break
  }
  return counts
}

/**
 * Encodes every row once, in file order, straight into its place in its
 * split: on a large table, visiting row objects in shuffled order costs
 * several times more in cache misses than the encoding itself.
 */
export function encodeSplits<X extends Float32Array | Int32Array>(
  positions: SplitPositions,
  width: number,
  ArrayType: { new (length: number): X },
  encodeRow: (position: number, x: X, offset: number) => void,
): X[] {
  const splits = [positions.train, positions.validation, positions.test]
  const count = splits.reduce((sum, list) => sum + list.length, 0)
  const splitOf = new Uint8Array(count)
  const slotOf = new Int32Array(count)
  splits.forEach((list, s) => {
    for (let slot = 0; slot < list.length; slot++) {
      splitOf[list[slot]] = s
      slotOf[list[slot]] = slot
    }
  })
  const xs = splits.map((list) => new ArrayType(list.length * width))
  for (let p = 0; p < count; p++) encodeRow(p, xs[splitOf[p]], slotOf[p] * width)
  return xs
}
