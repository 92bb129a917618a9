// Checks a schema the user declared for an upload against what the analysis
// found in the file, so a mismatch is refused with the fields that are wrong.
import type { FieldProblem } from '../errors/index.ts'
import type { AnalyzedColumn, ColumnType, FileAnalysis } from './analyze.ts'

/** Problems (empty array when compatible) of a user-declared schema against the analysis. field paths like `schema.columns[1].type`. */
export function checkDeclaredSchema(declared: { columns: { name: string; type: ColumnType }[] }, analysis: FileAnalysis): FieldProblem[] {
  const problems: FieldProblem[] = []
  const fileColumns = new Map(analysis.columns.map((column) => [column.name, column]))
  const declaredAt = new Map<string, number>()
  declared.columns.forEach(({ name, type }, i) => {
    const path = `schema.columns[${i}]`
    const earlier = declaredAt.get(name)
    if (earlier !== undefined) {
      problems.push({ field: `${path}.name`, message: `column "${name}" is declared twice (also at schema.columns[${earlier}])` })
      return
    }
    declaredAt.set(name, i)
    const actual = fileColumns.get(name)
    if (actual === undefined) {
      problems.push({ field: `${path}.name`, message: missingColumnMessage(name, analysis.columns) })
    } else if (!typeAccepts(type, actual, analysis.rowCount)) {
      problems.push({ field: `${path}.type`, message: `declared ${type}, but column "${name}" holds ${actual.type} values` })
    }
  })
  for (const column of analysis.columns) {
    if (!declaredAt.has(column.name)) {
      problems.push({ field: 'schema.columns', message: `the file's column "${column.name}" (${column.type}) is not declared` })
    }
  }
  return problems
}

function typeAccepts(declared: ColumnType, actual: AnalyzedColumn, rowCount: number): boolean {
  // a column without a single value is consistent with any type
  if (actual.nullCount >= rowCount) return true
  return declared === 'string' || declared === actual.type || (declared === 'float' && actual.type === 'integer')
}

function missingColumnMessage(name: string, columns: AnalyzedColumn[]): string {
  const nearMiss = columns.find((column) => column.name.toLowerCase() === name.toLowerCase())
  if (nearMiss) return `column "${name}" is not in the file (did you mean "${nearMiss.name}"?)`
  const listed = columns.slice(0, 20).map((column) => `"${column.name}"`)
  const more = columns.length > listed.length ? `, and ${columns.length - listed.length} more` : ''
  return `column "${name}" is not in the file, which has ${listed.join(', ')}${more}`
}
