// The one Parquet reader: the upload analysis and the trainer's loader both
// open a stored Parquet file through it. Opening reads only the footer
// (schema, row count, statistics); rows are decoded one row group at a time,
// or only the pages holding the first rows when that is all that is wanted.
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead, parquetSchema } from 'hyparquet'
import type { AsyncBuffer, FileMetaData, SchemaTree } from 'hyparquet'
import { parquetCompressors, readableParquetCodecs } from '../infra/parquet.ts'
import { FormatError, reasonOf } from './errors.ts'
import { checkColumnCount, defaultUploadLimits, type UploadLimits } from './limits.ts'

export interface ParquetSource {
  file: AsyncBuffer
  metadata: FileMetaData
  /** the top-level columns, in file order */
  columns: SchemaTree[]
  rowCount: number
}

/** Reads the footer; a file that is not Parquet throws a FormatError saying why, one with too many columns a LimitError. */
export async function openParquet(filePath: string, limits: UploadLimits = defaultUploadLimits): Promise<ParquetSource> {
  const file = await asyncBufferFromFile(filePath)
  const metadata = await readMetadata(file)
  const columns = parquetSchema(metadata).children
  checkColumnCount(columns.length, limits, 'the parquet file has')
  return { file, metadata, columns, rowCount: Number(metadata.num_rows) }
}

async function readMetadata(file: AsyncBuffer): Promise<FileMetaData> {
  const notParquet = (reason: string) => new FormatError(`not a parquet file: ${reason}`)
  // header magic + footer length + footer magic
  if (file.byteLength < 12) throw notParquet(`only ${file.byteLength} bytes long`)
  const head = new TextDecoder().decode(await file.slice(0, 4))
  if (head !== 'PAR1') throw notParquet('it does not start with the PAR1 magic bytes')
  try {
    return await parquetMetadataAsync(file)
  } catch (error) {
    throw notParquet(reasonOf(error))
  }
}

/** Whether every column chunk uses a codec this service decodes (LZO and LZ4 are not). */
export function decodable(source: ParquetSource): boolean {
  return source.metadata.row_groups.every((group) =>
    group.columns.every((chunk) => chunk.meta_data === undefined || readableParquetCodecs.has(chunk.meta_data.codec)),
  )
}

/**
 * The rows, each an array of its values in the order of `columns`, as
 * hyparquet decodes them (bigints, Dates, bytes and nested objects as they
 * come), a row group at a time; with `rowEnd`, only the rows before it.
 * Arrays rather than objects: hyparquet builds an object key by key, which
 * makes slow dictionary objects for a wide table. Undecodable data throws a
 * FormatError.
 */
export async function* readParquetRows(source: ParquetSource, options: { rowEnd?: number } = {}): AsyncGenerator<unknown[][]> {
  const end = Math.min(options.rowEnd ?? source.rowCount, source.rowCount)
  let groupStart = 0
  for (const group of source.metadata.row_groups) {
    const groupEnd = groupStart + Number(group.num_rows)
    if (groupStart >= end) return
    yield await decode(source, groupStart, Math.min(groupEnd, end), options.rowEnd !== undefined)
    groupStart = groupEnd
  }
}

async function decode(source: ParquetSource, rowStart: number, rowEnd: number, firstRowsOnly: boolean): Promise<unknown[][]> {
  let rows: unknown[][] = []
  try {
    await parquetRead({
      file: source.file,
      metadata: source.metadata,
      compressors: parquetCompressors,
      columns: source.columns.map((column) => column.element.name),
      rowStart,
      rowEnd,
      // only the first rows: read just the pages holding them
      useOffsetIndex: firstRowsOnly,
      rowFormat: 'array',
      onComplete: (decoded: unknown[][]) => {
        rows = decoded
      },
    })
  } catch (error) {
    throw new FormatError(`could not decode the ${firstRowsOnly ? 'first rows' : 'rows'} of the parquet file: ${reasonOf(error)}`)
  }
  return rows
}

/** Numbers while exact, decimal text beyond 2^53, so values stay JSON-serializable. */
export function bigintToJson(value: bigint): number | string {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString()
}

/** Bytes as base64 text. */
export function bytesToText(value: Uint8Array): string {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')
}
