// How single cell values read: what counts as missing, as a number, as a label.

/** undefined, null, an empty string and NaN all mean "no value". */
export function isMissing(value: unknown): boolean {
  return value === undefined || value === null || value === '' || (typeof value === 'number' && Number.isNaN(value))
}

/** The text of a value as a class name or category: numbers as they print, objects as JSON. */
export function valueText(value: unknown): string {
  if (typeof value === 'string') return value
  if (typeof value === 'object' && value !== null) return JSON.stringify(value)
  return String(value)
}

const numberText = /^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$/

/** A finite number from a number or numeric text; undefined for anything else. */
export function numberOf(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined
  if (typeof value === 'string' && numberText.test(value)) return Number(value)
  return undefined
}

/** Quoted names, the first `limit` of them, for messages. */
export function quoteList(names: string[], limit = 20): string {
  const shown = names.slice(0, limit).map((name) => `"${name}"`)
  return names.length > limit ? `${shown.join(', ')} and ${names.length - limit} more` : shown.join(', ')
}
