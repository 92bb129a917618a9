// The strings a REST request carries, checked once for every route before
// any service sees them (src/domain/strings.ts says what may be kept): path
// parameters, the query string and a JSON body, or a dataset form's fields.
// A lone surrogate or a NUL anywhere, or a control character in a name or
// an id, answers 400 E1108 naming each field instead of failing deeper down.
import { nameProblem, stringProblem, stringProblems } from '../domain/strings.ts'
import { InvalidInputError, type FieldProblem } from '../errors/index.ts'

const maxProblems = 20

/** Keys whose values are names or ids (`name`, `id`, `ids`, `datasetId`, `jobIds`, …): no control characters either. */
const nameKey = /^(name|ids?|\w+Ids?)$/

/** Control characters in the name and id fields of a decoded JSON value (the other problems are stringProblems'). */
function nameFieldProblems(value: unknown, path: string, problems: FieldProblem[]): void {
  const check = (text: unknown, at: string) => {
    if (typeof text !== 'string' || problems.length >= maxProblems || stringProblem(text)) return
    const problem = nameProblem(text)
    if (problem) problems.push({ field: at, message: problem })
  }
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) nameFieldProblems(item, `${path}[${index}]`, problems)
    return
  }
  if (value === null || typeof value !== 'object') return
  for (const [key, item] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key
    if (nameKey.test(key)) {
      if (Array.isArray(item)) for (const [index, entry] of item.entries()) check(entry, `${at}[${index}]`)
      else check(item, at)
    }
    nameFieldProblems(item, at, problems)
  }
}

/** Every string of a decoded value that may not be kept: ill-formed anywhere, or a control character in a name or id. */
export function valueStringProblems(value: unknown, path = ''): FieldProblem[] {
  const problems = stringProblems(value, path, maxProblems)
  nameFieldProblems(value, path, problems)
  return problems.slice(0, maxProblems)
}

/** Path parameters are ids: each must be a well-formed string without control characters. */
function paramProblems(params: unknown): FieldProblem[] {
  if (params === null || typeof params !== 'object') return []
  const problems: FieldProblem[] = []
  for (const [name, value] of Object.entries(params)) {
    const problem = typeof value === 'string' ? nameProblem(value) : null
    if (problem) problems.push({ field: name, message: `(path parameter) ${problem}` })
  }
  return problems
}

/** Throws 400 E1108 naming every offending field of the path, the query string and a JSON body. */
export function checkRequestStrings(request: { params: unknown; query: unknown }, body: unknown): void {
  const problems = [...paramProblems(request.params), ...valueStringProblems(request.query), ...(body === undefined ? [] : valueStringProblems(body))]
  if (problems.length > 0) throw InvalidInputError.fromProblems(problems.slice(0, maxProblems))
}
