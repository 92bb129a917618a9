// Turns zod's issues into the contract's E1108 error with one detail per
// offending field, all of them at once.
import type { z } from 'zod'
import { InvalidInputError, type FieldProblem } from '../errors/index.ts'

function joinPath(path: readonly PropertyKey[], prefix: string): string {
  const parts = path.map((part) => (typeof part === 'number' ? `[${part}]` : String(part)))
  const joined = parts.reduce((acc, part) => (part.startsWith('[') ? acc + part : acc ? `${acc}.${part}` : part), '')
  return prefix ? (joined ? `${prefix}.${joined}` : prefix) : joined || '(body)'
}

const typeNames: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
  record: 'an object',
}

/** Plain messages for zod's defaults; custom messages given in a schema pass through. */
function messageOf(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') {
    const received = /received (\w+)$/.exec(issue.message)?.[1]
    if (received === 'undefined') return 'is required'
    if (!issue.message.startsWith('Invalid input')) return issue.message
    const expected = typeNames[issue.expected] ?? issue.expected
    return received === 'NaN' ? `must be ${expected}` : `must be ${expected}${received ? ` (got ${received})` : ''}`
  }
  return issue.message.replace(/^Invalid input: /, '').replace(/^Invalid option: /, '')
}

export function problemsOf(issues: readonly z.core.$ZodIssue[], prefix = ''): FieldProblem[] {
  const problems: FieldProblem[] = []
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        problems.push({ field: joinPath([...issue.path, key], prefix), message: 'unknown field' })
      }
      continue
    }
    problems.push({ field: joinPath(issue.path, prefix), message: messageOf(issue) })
  }
  return problems
}

/** Parses `input` or throws InvalidInputError (E1108) naming every offending field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, prefix = ''): z.output<S> {
  const result = schema.safeParse(input)
  if (result.success) return result.data
  throw InvalidInputError.fromProblems(problemsOf(result.error.issues, prefix))
}

/** `must be one of a, b, c`: the message for a value outside a list. */
export function oneOfMessage(values: readonly string[]): string {
  return `must be one of ${values.join(', ')}`
}

/** `must be a, b or c`: the same for a short list. */
export function eitherMessage(values: readonly string[]): string {
  return `must be ${values.length > 1 ? `${values.slice(0, -1).join(', ')} or ${values.at(-1)}` : values.join('')}`
}

/** Whether `value` is one of `values`, narrowing it. */
export function isOneOf<T extends string>(values: readonly T[], value: string): value is T {
  return (values as readonly string[]).includes(value)
}
