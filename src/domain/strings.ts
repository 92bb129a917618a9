// What a string from a request may contain. Every string the service keeps
// must be well-formed UTF-16 (a lone surrogate cannot be written as UTF-8,
// so SQLite, PostgreSQL and JSON answers would choke on it) and free of NUL
// (PostgreSQL's text cannot hold it). Names and ids are stricter: no control
// characters at all, since they show up in logs, file names and headers.
import type { FieldProblem } from '../errors/index.ts'

// With the u flag a surrogate range matches only surrogates that are not part of a pair.
const loneSurrogate = /[\ud800-\udfff]/u

/** The first problem of a string anywhere in a request, or null when it may be kept. */
export function stringProblem(value: string): string | null {
  if (loneSurrogate.test(value)) return 'contains an unpaired UTF-16 surrogate (ill-formed Unicode)'
  if (value.includes('\u0000')) return 'contains a NUL character'
  return null
}

/** C0 and C1 controls and DEL (tab and newline included). */
const isControl = (code: number) => code <= 0x1f || (code >= 0x7f && code <= 0x9f)

/** The first problem of a name or an id, or null when it may be kept. */
export function nameProblem(value: string): string | null {
  const general = stringProblem(value)
  if (general) return general
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i)
    if (isControl(code)) return `contains a control character (U+${code.toString(16).toUpperCase().padStart(4, '0')})`
  }
  return null
}

/**
 * Every string in a decoded JSON value (keys included) that may not be kept, with its dotted path.
 * Stops after `limit` problems so a hostile body costs no more than it must.
 */
export function stringProblems(value: unknown, path = '', limit = 20): FieldProblem[] {
  const problems: FieldProblem[] = []
  const visit = (node: unknown, at: string): void => {
    if (problems.length >= limit) return
    if (typeof node === 'string') {
      const problem = stringProblem(node)
      if (problem) problems.push({ field: at || '(body)', message: problem })
    } else if (Array.isArray(node)) {
      for (const [index, item] of node.entries()) visit(item, `${at}[${index}]`)
    } else if (node !== null && typeof node === 'object') {
      for (const [key, item] of Object.entries(node)) {
        const keyAt = at ? `${at}.${key}` : key
        const keyProblem = stringProblem(key)
        if (keyProblem && problems.length < limit) problems.push({ field: keyAt, message: `key ${keyProblem}` })
        visit(item, keyAt)
      }
    }
  }
  visit(value, path)
  return problems
}
