// Reading stored dataset files, in one place for the upload and the trainer:
// one streaming reader per format (csv.ts, json.ts, parquet.ts) that throws
// the neutral FormatError, the column typing both sides share (columns.ts),
// and the upload's description of a file built on them (analyze.ts).
// Nothing here knows of services, GraphQL or HTTP.
export type { DatasetFormat } from '../domain/cell-types.ts'
export { analyzeFile, type AnalyzedColumn, type ColumnType, type FileAnalysis } from './analyze.ts'
export { checkDeclaredSchema } from './schema-check.ts'
export { FormatError } from './errors.ts'
export { defaultUploadLimits, LimitError, type UploadLimits } from './limits.ts'
export { CsvColumns, finalType, type ColumnTally } from './columns.ts'
export { readCsv, type CsvSink } from './csv.ts'
export { readJson, type JsonLayout, type JsonRow } from './json.ts'
export { bigintToJson, bytesToText, openParquet, readParquetRows, type ParquetSource } from './parquet.ts'
