// Text to token ids. Chinese has no spaces between words, so each Han
// character (and each hiragana, mostly particles and endings) is a token;
// a katakana run is one token (usually one loanword). Space-separated scripts,
// Korean hangul included, become lower-cased words with punctuation split off.
import type { TextPreprocessing } from '../ml/types.ts'
import { isMissing, valueText } from './values.ts'
import type { Row } from './load.ts'

export type TokenizerSettings = TextPreprocessing['tokenizer']

export const defaultTokenizer: TokenizerSettings = { lowercase: true, cjkCharacters: true }
export const padToken = '<pad>'
export const oovToken = '<oov>'
export const defaultVocabSize = 20_000

// A word character: a letter, mark or digit (everything outside punctuation,
// symbols, separators and control characters), leaving out the scripts below.
// A negated class is how to subtract sets without the `v` flag.
const cjkScripts = String.raw`\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\u30fc`
const cjkPattern = new RegExp(
  String.raw`\p{Script=Han}|\p{Script=Hiragana}|[\p{Script=Katakana}\u30fc]+|` +
    String.raw`[^\p{P}\p{S}\p{Z}\p{C}\s${cjkScripts}]+(?:['’][^\p{P}\p{S}\p{Z}\p{C}\s${cjkScripts}]+)*|\S`,
  'gu',
)
// Without per-character CJK tokens every letter run is a word.
const wordPattern = /[^\p{P}\p{S}\p{Z}\p{C}\s]+(?:['’][^\p{P}\p{S}\p{Z}\p{C}\s]+)*|\S/gu

/** Tokens of `text`: CJK characters one by one, words (with inner apostrophes) whole, each punctuation mark alone. */
export function tokenize(text: string, tokenizer: TokenizerSettings = defaultTokenizer): string[] {
  // NFKC folds full-width letters, digits and punctuation (common in Chinese text) into their usual forms
  let normalized = text.normalize('NFKC')
  if (tokenizer.lowercase) normalized = normalized.toLowerCase()
  return normalized.match(tokenizer.cjkCharacters ? cjkPattern : wordPattern) ?? []
}

/**
 * Each row's tokens as ids into `tokens`, a dictionary of the distinct tokens
 * seen. Only the distinct strings stay alive, not one per occurrence, which
 * keeps 100k-row datasets out of long garbage-collection pauses.
 */
export interface TokenizedRows {
  ids: number[][]
  tokens: string[]
}

/** Tokenizes each row's text column; missing text is no tokens. */
export function tokenizeRows(rows: Row[], textColumn: string, tokenizer: TokenizerSettings): TokenizedRows {
  const idOf = new Map<string, number>()
  const tokens: string[] = []
  const ids = rows.map((row) => {
    const value = row[textColumn]
    const list = isMissing(value) ? [] : tokenize(valueText(value), tokenizer)
    // small-integer arrays: cheaper to allocate than one typed array per row
    const out = new Array<number>(list.length)
    for (let i = 0; i < list.length; i++) {
      let id = idOf.get(list[i])
      if (id === undefined) {
        id = tokens.length
        idOf.set(list[i], id)
        tokens.push(list[i])
      }
      out[i] = id
    }
    return out
  })
  return { ids, tokens }
}

/** Pad, OOV, then the tokens of the `train` rows, most frequent first (ties in code-unit order), `size` in all. */
export function buildVocabulary(tokenized: TokenizedRows, train: number[], size: number): string[] {
  const counts = new Float64Array(tokenized.tokens.length)
  for (const row of train) for (const id of tokenized.ids[row]) counts[id]++
  const seen: number[] = []
  for (let id = 0; id < counts.length; id++) if (counts[id] > 0) seen.push(id)
  const tokens = tokenized.tokens
  seen.sort((a, b) => counts[b] - counts[a] || (tokens[a] < tokens[b] ? -1 : tokens[a] > tokens[b] ? 1 : 0))
  return [padToken, oovToken, ...seen.slice(0, Math.max(0, size - 2)).map((id) => tokens[id])]
}

/** The 95th percentile of the rows' token counts, kept within [8, 256]. */
export function defaultSequenceLength(lengths: number[]): number {
  const sorted = [...lengths].sort((a, b) => a - b)
  const p95 = sorted.length === 0 ? 0 : sorted[Math.max(0, Math.ceil(0.95 * sorted.length) - 1)]
  return Math.min(256, Math.max(8, p95))
}

/** Fits the vocabulary and sequence length on the training rows (`train`: row positions in `tokenized`). */
export function fitText(input: {
  textColumn: string
  labelColumn: string
  tokenized: TokenizedRows
  train: number[]
  labels: string[]
  vocabSize?: number
  maxSequenceLength?: number
}): TextPreprocessing {
  const { tokenized, train } = input
  return {
    kind: 'text',
    textColumn: input.textColumn,
    labelColumn: input.labelColumn,
    tokenizer: { ...defaultTokenizer },
    vocabulary: buildVocabulary(tokenized, train, input.vocabSize ?? defaultVocabSize),
    maxSequenceLength: input.maxSequenceLength ?? defaultSequenceLength(train.map((row) => tokenized.ids[row].length)),
    labels: input.labels,
  }
}

/** Token ids of every row, count × maxSequenceLength, cut at the end and padded with 0. */
export function encodeTokens(preprocessing: TextPreprocessing, tokenized: TokenizedRows): Int32Array {
  const encodeRow = createTokenEncoder(preprocessing, tokenized)
  const length = preprocessing.maxSequenceLength
  const x = new Int32Array(tokenized.ids.length * length)
  for (let r = 0; r < tokenized.ids.length; r++) encodeRow(r, x, r * length)
  return x
}

/** Writes row `position`'s token ids into `x` from `offset` (which must hold zeros); true when the text was cut. */
export function createTokenEncoder(preprocessing: TextPreprocessing, tokenized: TokenizedRows): (position: number, x: Int32Array, offset: number) => boolean {
  const length = preprocessing.maxSequenceLength
  const vocabulary = new Map(preprocessing.vocabulary.map((token, i) => [token, i]))
  // dictionary id → vocabulary id, unknown tokens → 1
  const remap = Int32Array.from(tokenized.tokens, (token) => vocabulary.get(token) ?? 1)
  return (position, x, offset) => {
    const ids = tokenized.ids[position]
    const n = Math.min(length, ids.length)
    for (let i = 0; i < n; i++) x[offset + i] = remap[ids[i]]
    return ids.length > length
  }
}
