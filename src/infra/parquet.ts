// Parquet decompression shared by the upload analysis and the trainer's
// loader: hyparquet decodes SNAPPY and UNCOMPRESSED itself; Node's zlib covers
// the other common codecs (zstd only on Node versions that ship it).
import * as zlib from 'node:zlib'
import type { CompressionCodec, Compressors } from 'hyparquet'

const zstdDecompressSync = (zlib as { zstdDecompressSync?: (data: Uint8Array) => Uint8Array }).zstdDecompressSync

export const parquetCompressors: Compressors = {
  GZIP: (input) => zlib.gunzipSync(input),
  BROTLI: (input) => zlib.brotliDecompressSync(input),
  ...(zstdDecompressSync ? { ZSTD: (input: Uint8Array) => zstdDecompressSync(input) } : {}),
}

/** Codecs this service can read. */
export const readableParquetCodecs = new Set<CompressionCodec>(['UNCOMPRESSED', 'SNAPPY', ...(Object.keys(parquetCompressors) as CompressionCodec[])])
