// What a row of a JSON dataset is, for the JSON readers and their users.

/** One row of a JSON dataset: an object as parsed. */
export type JsonRow = Record<string, unknown>

export function isJsonObject(value: unknown): value is JsonRow {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
