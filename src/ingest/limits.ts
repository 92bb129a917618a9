// The bounds of one dataset file (UPLOAD_MAX_*), shared by the upload
// analysis and the trainer's reading. A hostile file (a million columns, a
// row of a million keys, an array nested 100k deep) must be refused after a
// bounded amount of work, so the readers check these while the bytes stream
// past (json-guard.ts, csv-guard.ts), before anything is parsed into objects.
import { uploadLimitVariables, uploadLimits, type UploadLimits } from '../config.ts'
import { FormatError } from './errors.ts'

export type { UploadLimits }

/** The limits with every variable unset. */
export const defaultUploadLimits: UploadLimits = uploadLimits({})

/** A file over one of the upload limits; the message says where and the limit's value, then names its variable. */
export class LimitError extends FormatError {
  constructor(
    readonly limit: keyof UploadLimits,
    problem: string,
  ) {
    super(`${problem} (${uploadLimitVariables[limit]})`)
    this.name = 'LimitError'
  }
}

/** 16777216 → "16 MiB", 4096 → "4 KiB", 1000 → "1000 bytes". */
export function byteText(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / 1024 / 1024} MiB`
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`
  return `${bytes} bytes`
}

/** Throws when a JSON file's rows (or a Parquet file) have more distinct columns than allowed; `what` is e.g. "the parquet file has". */
export function checkColumnCount(count: number, limits: UploadLimits, what: string): void {
  if (count > limits.maxColumns) throw new LimitError('maxColumns', `${what} ${count} columns, more than ${limits.maxColumns}`)
}
