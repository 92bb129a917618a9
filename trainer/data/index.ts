// The trainer's data layer: stored dataset files to encoded, split model inputs.
export { loadRows, loadTable, type DatasetFormat, type Row, type Table } from './load.ts'
export { prepareData, encodeInputs, type PrepareInput } from './prepare.ts'
export { tokenize, defaultTokenizer, type TokenizerSettings } from './text.ts'
export { createRandom, shuffle, shuffledIndices } from './random.ts'
export { requireColumn } from './columns.ts'
