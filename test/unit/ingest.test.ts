import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import zlib from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parquetWriteFile } from 'hyparquet-writer'
import type { ColumnSource } from 'hyparquet-writer'
import { analyzeFile, checkDeclaredSchema, defaultUploadLimits, type DatasetFormat, type FileAnalysis, type UploadLimits } from '../../src/ingest/index.ts'
import { InvalidInputError } from '../../src/errors/index.ts'
import { loadTable } from '../../trainer/data/load.ts'
import { BadInputError } from '../../trainer/ml/types.ts'

let dir: string
let fileCounter = 0

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dataset-ingest-'))
})

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true })
})

function writeFixture(extension: string, content: string | Buffer): string {
  const file = path.join(dir, `fixture-${++fileCounter}.${extension}`)
  fs.writeFileSync(file, content)
  return file
}

function analyzeText(format: 'csv' | 'json', content: string): Promise<FileAnalysis> {
  return analyzeFile(writeFixture(format, content), format)
}

function writeParquet(columnData: ColumnSource[], options: { rowGroupSize?: number; codec?: 'GZIP' } = {}): string {
  const filename = path.join(dir, `fixture-${++fileCounter}.parquet`)
  const compressors = options.codec === 'GZIP' ? { GZIP: (input: Uint8Array) => new Uint8Array(zlib.gzipSync(input)) } : undefined
  parquetWriteFile({ filename, columnData, rowGroupSize: options.rowGroupSize, codec: options.codec, compressors })
  return filename
}

/** The InvalidInputError's single `file` problem message; fails the test when analysis succeeds. */
async function fileProblem(file: string, format: DatasetFormat): Promise<string> {
  const error: unknown = await analyzeFile(file, format).then(
    () => undefined,
    (thrown: unknown) => thrown,
  )
  expect(error).toBeInstanceOf(InvalidInputError)
  const invalid = error as InvalidInputError
  expect(invalid.code).toBe('E1108')
  expect(invalid.details).toHaveLength(1)
  expect(invalid.details?.[0].field).toBe('file')
  return invalid.details?.[0].message ?? ''
}

const textProblem = (format: 'csv' | 'json', content: string) => fileProblem(writeFixture(format, content), format)

const typesOf = (analysis: FileAnalysis) => Object.fromEntries(analysis.columns.map((c) => [c.name, c.type]))
const nullsOf = (analysis: FileAnalysis) => Object.fromEntries(analysis.columns.map((c) => [c.name, c.nullCount]))

describe('analyzeFile: CSV', () => {
  it('infers integer, float, boolean and string columns and counts empty values as nulls', async () => {
    const analysis = await analyzeText(
      'csv',
      ['id,score,ratio,flag,label,blank', '1,-3,3.5,true,a,', '+2,0,-.5,FALSE,b7,', '3,,1e-3,True,,', '-4,12,2.,,x y,', ''].join('\n'),
    )
    expect(analysis.rowCount).toBe(4)
    expect(analysis.columns).toEqual([
      { name: 'id', type: 'integer', nullCount: 0 },
      { name: 'score', type: 'integer', nullCount: 1 },
      { name: 'ratio', type: 'float', nullCount: 0 },
      { name: 'flag', type: 'boolean', nullCount: 1 },
      { name: 'label', type: 'string', nullCount: 1 },
      // null in every row: no evidence of a type, so the most permissive one
      { name: 'blank', type: 'string', nullCount: 4 },
    ])
  })

  it('widens integer+float to float and any other mix to string', async () => {
    const analysis = await analyzeText('csv', ['intFloat,boolInt,boolFloat,numText,boolText', '1,true,false,1,true', '2.5,3,1.5,abc,yes'].join('\n'))
    expect(typesOf(analysis)).toEqual({ intFloat: 'float', boolInt: 'string', boolFloat: 'string', numText: 'string', boolText: 'string' })
  })

  it('treats text that only looks numeric (NaN, 1,000 quoted, 0x1F, 1e) as string', async () => {
    const analysis = await analyzeText('csv', 'a,b,c,d\nNaN,"1,000",0x1F,1e\n')
    expect(typesOf(analysis)).toEqual({ a: 'string', b: 'string', c: 'string', d: 'string' })
  })

  it('converts preview values to the inferred column types and keeps only the first 10 rows', async () => {
    const rows = Array.from({ length: 25 }, (_, i) => `${i},${i === 1 ? '' : i + 0.5},${i % 2 === 0 ? 'TRUE' : 'false'},${i === 2 ? '' : `n${i}`}`)
    const analysis = await analyzeText('csv', ['id,x,flag,name', ...rows].join('\n'))
    expect(analysis.rowCount).toBe(25)
    expect(analysis.preview).toHaveLength(10)
    expect(analysis.preview.slice(0, 3)).toEqual([
      { id: 0, x: 0.5, flag: true, name: 'n0' },
      { id: 1, x: null, flag: false, name: 'n1' },
      { id: 2, x: 2.5, flag: true, name: null },
    ])
    expect(analysis.preview[9]).toEqual({ id: 9, x: 9.5, flag: false, name: 'n9' })
  })

  it('keeps integers beyond 2^53 as text in the preview so no digits change', async () => {
    const analysis = await analyzeText('csv', 'big\n12345678901234567890\n7\n')
    expect(typesOf(analysis)).toEqual({ big: 'integer' })
    expect(analysis.preview).toEqual([{ big: '12345678901234567890' }, { big: 7 }])
  })

  it('keeps quoted fields with commas, doubled quotes and newlines intact', async () => {
    const analysis = await analyzeText('csv', 'id,text\n1,"a, b"\n2,"say ""hi"""\n3,"line one\nline two"\n')
    expect(analysis.rowCount).toBe(3)
    expect(analysis.preview.map((row) => row.text)).toEqual(['a, b', 'say "hi"', 'line one\nline two'])
  })

  it('strips a UTF-8 BOM from the first header name', async () => {
    const analysis = await analyzeFile(writeFixture('csv', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('id,name\n1,a\n')])), 'csv')
    expect(analysis.columns.map((c) => c.name)).toEqual(['id', 'name'])
    expect(analysis.preview).toEqual([{ id: 1, name: 'a' }])
  })

  it('accepts CRLF line endings without leaving \\r in values', async () => {
    const analysis = await analyzeText('csv', 'id,flag\r\n1,true\r\n2,false\r\n')
    expect(analysis.rowCount).toBe(2)
    expect(typesOf(analysis)).toEqual({ id: 'integer', flag: 'boolean' })
    expect(analysis.preview).toEqual([
      { id: 1, flag: true },
      { id: 2, flag: false },
    ])
  })

  it('ignores blank lines such as a trailing empty line', async () => {
    const analysis = await analyzeText('csv', 'a,b\n1,2\n\n3,4\n\n\n')
    expect(analysis.rowCount).toBe(2)
  })

  it('streams a file larger than one read chunk, counting every row', async () => {
    const rows = Array.from({ length: 20000 }, (_, i) => `${i},"name, ${i}",${i / 4}`)
    const analysis = await analyzeText('csv', ['id,name,value', ...rows].join('\n'))
    expect(analysis.rowCount).toBe(20000)
    expect(typesOf(analysis)).toEqual({ id: 'integer', name: 'string', value: 'float' })
    expect(analysis.preview).toHaveLength(10)
  })

  it('counts lines across read chunks when quoted fields hold newlines and multi-byte text', async () => {
    // ~580 KB: several read chunks, so records, characters and line counts straddle chunk boundaries
    const rows = Array.from({ length: 20000 }, (_, i) => `${i},"数据 ${i}\nline two"`)
    expect(await textProblem('csv', ['id,text', ...rows, '5'].join('\n'))).toBe('line 40002 has 1 field, but the header has 2')
    const analysis = await analyzeText('csv', ['id,text', ...rows].join('\r\n'))
    expect(analysis.rowCount).toBe(20000)
    expect(analysis.columns).toEqual([
      { name: 'id', type: 'integer', nullCount: 0 },
      { name: 'text', type: 'string', nullCount: 0 },
    ])
    expect(analysis.preview[9]).toEqual({ id: 9, text: '数据 9\nline two' })
  })

  it('rejects an empty file', async () => {
    expect(await textProblem('csv', '')).toBe('file is empty')
  })

  it('rejects a header with no data rows naming the header line', async () => {
    expect(await textProblem('csv', 'id,name\n')).toMatch(/header on line 1 but no data rows/)
  })

  it('rejects an empty header name naming its line and column', async () => {
    expect(await textProblem('csv', 'id,,name\n1,2,3\n')).toBe('header on line 1: column 2 has no name')
  })

  it('rejects a duplicate header name naming its line and both columns', async () => {
    expect(await textProblem('csv', 'id,name,id\n1,2,3\n')).toBe('header on line 1: column 3 "id" duplicates column 1')
  })

  it('rejects a ragged CSV row naming its line and both field counts', async () => {
    expect(await textProblem('csv', 'a,b,c\n1,2,3\n4,5\n')).toBe('line 3 has 2 fields, but the header has 3')
    expect(await textProblem('csv', 'a,b\r\n1,2\r\n3,4\r\n5,6,7\r\n')).toBe('line 4 has 3 fields, but the header has 2')
  })

  it('counts lines inside quoted fields when naming a ragged row', async () => {
    expect(await textProblem('csv', 'a,b\n"x\ny",1\n2\n')).toBe('line 4 has 1 field, but the header has 2')
  })

  it('rejects a quote that is never closed naming the line after which it opens', async () => {
    expect(await textProblem('csv', 'a,b\n1,2\n3,"4\n5,6\n')).toMatch(/quoted field that starts after line 2 is never closed/)
  })

  it('rejects a stray quote inside an unquoted field naming its line and field', async () => {
    expect(await textProblem('csv', 'a,b\n1,2\n3,x"y\n')).toMatch(/^line 3: field 2 has a quote inside an unquoted value/)
  })

  it('rejects text after a closing quote naming its line', async () => {
    expect(await textProblem('csv', 'a,b\n"1"x,2\n')).toMatch(/^line 2: field 1 has a closing quote followed by text/)
  })

  it('fails with the file system error, not a validation error, when the file is missing', async () => {
    await expect(analyzeFile(path.join(dir, 'missing.csv'), 'csv')).rejects.toMatchObject({ code: 'ENOENT' })
  })
})

describe('analyzeFile: JSON', () => {
  it('reads a JSON array: columns are the union of keys in order of first appearance, missing keys are null', async () => {
    const analysis = await analyzeText(
      'json',
      JSON.stringify([
        { id: 1, name: 'a', score: 1.5 },
        { id: 2, score: 2, active: true },
        { id: 3, name: '', score: null, active: false, tags: ['x'] },
      ]),
    )
    expect(analysis.rowCount).toBe(3)
    expect(analysis.columns).toEqual([
      { name: 'id', type: 'integer', nullCount: 0 },
      { name: 'name', type: 'string', nullCount: 2 },
      { name: 'score', type: 'float', nullCount: 1 },
      { name: 'active', type: 'boolean', nullCount: 1 },
      { name: 'tags', type: 'string', nullCount: 2 },
    ])
    expect(analysis.preview).toEqual([
      { id: 1, name: 'a', score: 1.5, active: null, tags: null },
      { id: 2, name: null, score: 2, active: true, tags: null },
      { id: 3, name: null, score: null, active: false, tags: '["x"]' },
    ])
  })

  it('types nested objects and arrays as string and shows them as JSON text in the preview', async () => {
    const analysis = await analyzeText('json', '[{"meta":{"a":1}},{"meta":[1,2]}]')
    expect(analysis.columns).toEqual([{ name: 'meta', type: 'string', nullCount: 0 }])
    expect(analysis.preview).toEqual([{ meta: '{"a":1}' }, { meta: '[1,2]' }])
  })

  it('does not parse numbers or booleans out of JSON strings', async () => {
    const analysis = await analyzeText('json', '[{"n":"1","b":"true"},{"n":"2","b":"false"}]')
    expect(typesOf(analysis)).toEqual({ n: 'string', b: 'string' })
    expect(analysis.preview[0]).toEqual({ n: '1', b: 'true' })
  })

  it('applies the type lattice to JSON values and stringifies other values of a string column', async () => {
    const analysis = await analyzeText('json', '[{"x":1,"y":true,"z":1},{"x":2.5,"y":1,"z":"a"}]')
    expect(typesOf(analysis)).toEqual({ x: 'float', y: 'string', z: 'string' })
    expect(analysis.preview).toEqual([
      { x: 1, y: 'true', z: '1' },
      { x: 2.5, y: '1', z: 'a' },
    ])
  })

  it('keeps a "__proto__" key as an ordinary column', async () => {
    const analysis = await analyzeText('json', '[{"__proto__":1,"constructor":2},{"a":3}]')
    expect(analysis.columns.map((c) => c.name)).toEqual(['__proto__', 'constructor', 'a'])
    expect(JSON.stringify(analysis.preview[1])).toBe('{"__proto__":null,"constructor":null,"a":3}')
  })

  it('reads JSON Lines with blank lines, CRLF endings and a final line without newline', async () => {
    const analysis = await analyzeText('json', '{"id":1,"ok":true}\r\n\r\n{"id":2}\n  \n{"id":3,"ok":false,"note":"n"}')
    expect(analysis.rowCount).toBe(3)
    expect(analysis.columns).toEqual([
      { name: 'id', type: 'integer', nullCount: 0 },
      { name: 'ok', type: 'boolean', nullCount: 1 },
      { name: 'note', type: 'string', nullCount: 2 },
    ])
  })

  it('accepts a BOM and whitespace before the array', async () => {
    const analysis = await analyzeText('json', '\ufeff\n  [{"a":1}]\n')
    expect(analysis.rowCount).toBe(1)
  })

  it('streams arrays and JSON Lines larger than one read chunk', async () => {
    const rows = Array.from({ length: 20000 }, (_, i) => ({ id: i, text: `row ${i} ${'é'.repeat(i % 7)}` }))
    const array = await analyzeText('json', JSON.stringify(rows, null, 1))
    const lines = await analyzeText('json', rows.map((row) => JSON.stringify(row)).join('\n'))
    for (const analysis of [array, lines]) {
      expect(analysis.rowCount).toBe(20000)
      expect(typesOf(analysis)).toEqual({ id: 'integer', text: 'string' })
      expect(analysis.preview).toHaveLength(10)
    }
  })

  it('rejects an empty file', async () => {
    expect(await textProblem('json', '')).toBe('file is empty')
    expect(await textProblem('json', ' \n\t\n')).toMatch(/file is empty/)
  })

  it('rejects an empty array as having no rows', async () => {
    expect(await textProblem('json', '[ ]')).toMatch(/no rows/)
  })

  it('rejects an invalid JSON line naming its line', async () => {
    expect(await textProblem('json', '{"a":1}\n{"a":2}\n{"a":}\n')).toMatch(/^line 3 is not valid JSON/)
  })

  it('rejects a JSON Lines value that is not an object naming its line', async () => {
    expect(await textProblem('json', '{"a":1}\n[1,2]\n')).toBe('line 2 is an array, not an object')
  })

  it('rejects invalid JSON inside an array naming its line and column', async () => {
    expect(await textProblem('json', '[\n  {"a": 1},\n  {"a": 2 "b": 3}\n]')).toBe("invalid JSON near line 3, column 11: expected ','")
  })

  it('locates invalid JSON deep inside a large array', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ id: i }))
    lines[4000] = '{"id": nul}'
    expect(await textProblem('json', `[\n${lines.join(',\n')}\n]`)).toBe('invalid JSON near line 4002, column 8: expected a value')
  })

  it('rejects a truncated JSON array', async () => {
    expect(await textProblem('json', '[{"a":1},\n{"a":2')).toMatch(/^invalid JSON: the file ends \(line 2, column 7\) before the array is complete/)
  })

  it('rejects text after the closing bracket', async () => {
    expect(await textProblem('json', '[{"a":1}] {"a":2}')).toMatch(/^invalid JSON near line 1, column \d+: unexpected characters/)
  })

  it('rejects an array element that is not an object naming its index', async () => {
    expect(await textProblem('json', '[{"a":1},{"a":2},"x"]')).toBe('array element at index 2 is a string, not an object')
    expect(await textProblem('json', '[{"a":1},null]')).toBe('array element at index 1 is null, not an object')
  })

  it('rejects rows without any keys', async () => {
    expect(await textProblem('json', '[{},{}]')).toMatch(/no columns/)
  })
})

describe('analyzeFile: Parquet', () => {
  const basicColumns: ColumnSource[] = [
    { name: 'flag', data: [true, false, null, true], type: 'BOOLEAN' },
    { name: 'count', data: [1, null, 3, 4], type: 'INT32' },
    { name: 'big', data: [1n, 2n, 9007199254740993n, -5n], type: 'INT64' },
    { name: 'ratio', data: [1.5, 2, null, null], type: 'DOUBLE' },
    { name: 'name', data: ['a', null, '', 'd'], type: 'STRING' },
    { name: 'at', data: [new Date(0), null, new Date(1000), new Date(2000)], type: 'TIMESTAMP' },
  ]

  it('takes types, row count and null counts from the metadata', async () => {
    const analysis = await analyzeFile(writeParquet(basicColumns), 'parquet')
    expect(analysis.rowCount).toBe(4)
    expect(analysis.columns).toEqual([
      { name: 'flag', type: 'boolean', nullCount: 1 },
      { name: 'count', type: 'integer', nullCount: 1 },
      { name: 'big', type: 'integer', nullCount: 0 },
      { name: 'ratio', type: 'float', nullCount: 2 },
      { name: 'name', type: 'string', nullCount: 1 },
      // timestamps are neither plain integers nor numbers
      { name: 'at', type: 'string', nullCount: 1 },
    ])
  })

  it('builds a JSON-serializable preview: BigInt as number, or text when unsafe; dates as ISO text', async () => {
    const analysis = await analyzeFile(writeParquet(basicColumns), 'parquet')
    expect(analysis.preview).toEqual([
      { flag: true, count: 1, big: 1, ratio: 1.5, name: 'a', at: '1970-01-01T00:00:00.000Z' },
      { flag: false, count: null, big: 2, ratio: 2, name: null, at: null },
      { flag: null, count: 3, big: '9007199254740993', ratio: null, name: null, at: '1970-01-01T00:00:01.000Z' },
      { flag: true, count: 4, big: -5, ratio: null, name: 'd', at: '1970-01-01T00:00:02.000Z' },
    ])
    expect(() => JSON.stringify(analysis.preview)).not.toThrow()
  })

  it('previews only the first 10 rows and sums null counts over row groups', async () => {
    const size = 1000
    const file = writeParquet(
      [
        { name: 'id', data: Array.from({ length: size }, (_, i) => i), type: 'INT32' },
        { name: 'maybe', data: Array.from({ length: size }, (_, i) => (i % 4 === 0 ? null : i * 0.5)), type: 'DOUBLE' },
      ],
      { rowGroupSize: 100 },
    )
    const analysis = await analyzeFile(file, 'parquet')
    expect(analysis.rowCount).toBe(size)
    expect(nullsOf(analysis)).toEqual({ id: 0, maybe: 250 })
    expect(analysis.preview).toHaveLength(10)
    expect(analysis.preview[9]).toEqual({ id: 9, maybe: 4.5 })
  })

  it('types a nested (group) column as string and previews it as JSON text', async () => {
    const file = writeParquet([
      { name: 'id', data: [1, 2], type: 'INT32' },
      { name: 'event', data: [{ kind: 'a', n: 1 }, { kind: 'b' }], type: 'VARIANT' },
    ])
    const analysis = await analyzeFile(file, 'parquet')
    expect(typesOf(analysis)).toEqual({ id: 'integer', event: 'string' })
    expect(typeof analysis.preview[0].event).toBe('string')
    expect(JSON.parse(analysis.preview[0].event as string)).toEqual({ kind: 'a', n: 1 })
  })

  it('reads the preview of a GZIP-compressed file', async () => {
    const analysis = await analyzeFile(writeParquet([{ name: 'x', data: [1.25, 2.5], type: 'DOUBLE' }], { codec: 'GZIP' }), 'parquet')
    expect(analysis.preview).toEqual([{ x: 1.25 }, { x: 2.5 }])
  })

  it('rejects a file with the .parquet extension that is not parquet', async () => {
    expect(await fileProblem(writeFixture('parquet', 'id,name\n1,a\n2,b\n'), 'parquet')).toMatch(/^not a parquet file/)
  })

  it('rejects a file that starts like parquet but has no valid footer', async () => {
    expect(await fileProblem(writeFixture('parquet', 'PAR1 followed by garbage, no footer'), 'parquet')).toMatch(/^not a parquet file/)
  })

  it('rejects a file too short to be parquet', async () => {
    expect(await fileProblem(writeFixture('parquet', 'PAR1'), 'parquet')).toMatch(/^not a parquet file: only 4 bytes/)
  })

  it('rejects an empty parquet file', async () => {
    expect(await fileProblem(writeFixture('parquet', ''), 'parquet')).toBe('file is empty')
  })

  it('rejects a parquet file with zero rows', async () => {
    const file = writeParquet([{ name: 'x', data: [], type: 'INT32' }])
    expect(await fileProblem(file, 'parquet')).toMatch(/no rows/)
  })
})

describe('checkDeclaredSchema', () => {
  const analysis: FileAnalysis = {
    rowCount: 3,
    columns: [
      { name: 'id', type: 'integer', nullCount: 0 },
      { name: 'score', type: 'float', nullCount: 1 },
      { name: 'active', type: 'boolean', nullCount: 0 },
      { name: 'name', type: 'string', nullCount: 0 },
      { name: 'empty', type: 'string', nullCount: 3 },
    ],
    preview: [],
  }

  it('accepts a compatible declaration in any order: float takes integers, string takes anything, an all-null column takes any type', () => {
    const problems = checkDeclaredSchema(
      {
        columns: [
          { name: 'name', type: 'string' },
          { name: 'id', type: 'float' },
          { name: 'score', type: 'float' },
          { name: 'active', type: 'string' },
          { name: 'empty', type: 'integer' },
        ],
      },
      analysis,
    )
    expect(problems).toEqual([])
  })

  it("reports each incompatible type with its field path and the column's actual type", () => {
    const problems = checkDeclaredSchema(
      {
        columns: [
          { name: 'id', type: 'boolean' },
          { name: 'score', type: 'integer' },
          { name: 'active', type: 'integer' },
          { name: 'name', type: 'float' },
          { name: 'empty', type: 'boolean' },
        ],
      },
      analysis,
    )
    expect(problems).toEqual([
      { field: 'schema.columns[0].type', message: 'declared boolean, but column "id" holds integer values' },
      { field: 'schema.columns[1].type', message: 'declared integer, but column "score" holds float values' },
      { field: 'schema.columns[2].type', message: 'declared integer, but column "active" holds boolean values' },
      { field: 'schema.columns[3].type', message: 'declared float, but column "name" holds string values' },
    ])
  })

  it('reports declared columns missing from the file, suggesting a near match', () => {
    const problems = checkDeclaredSchema(
      {
        columns: [
          { name: 'id', type: 'integer' },
          { name: 'Score', type: 'float' },
          { name: 'active', type: 'boolean' },
          { name: 'name', type: 'string' },
          { name: 'empty', type: 'string' },
          { name: 'extra', type: 'string' },
        ],
      },
      analysis,
    )
    expect(problems).toEqual([
      { field: 'schema.columns[1].name', message: 'column "Score" is not in the file (did you mean "score"?)' },
      {
        field: 'schema.columns[5].name',
        message: 'column "extra" is not in the file, which has "id", "score", "active", "name", "empty"',
      },
      { field: 'schema.columns', message: 'the file\'s column "score" (float) is not declared' },
    ])
  })

  it('reports file columns the declaration leaves out', () => {
    const problems = checkDeclaredSchema({ columns: [{ name: 'id', type: 'integer' }] }, analysis)
    expect(problems.map((p) => p.field)).toEqual(['schema.columns', 'schema.columns', 'schema.columns', 'schema.columns'])
    expect(problems.map((p) => p.message)).toEqual([
      'the file\'s column "score" (float) is not declared',
      'the file\'s column "active" (boolean) is not declared',
      'the file\'s column "name" (string) is not declared',
      'the file\'s column "empty" (string) is not declared',
    ])
  })

  it('reports a column declared twice', () => {
    const problems = checkDeclaredSchema(
      {
        columns: [...analysis.columns.map(({ name, type }) => ({ name, type })), { name: 'id', type: 'integer' as const }],
      },
      analysis,
    )
    expect(problems).toEqual([{ field: 'schema.columns[5].name', message: 'column "id" is declared twice (also at schema.columns[0])' }])
  })

  it('accepts the declaration derived from a real analysis', async () => {
    const analyzed = await analyzeText('csv', 'a,b,c\n1,x,true\n2.5,,false\n')
    expect(checkDeclaredSchema({ columns: analyzed.columns.map(({ name, type }) => ({ name, type })) }, analyzed)).toEqual([])
  })
})

describe('upload limits (UPLOAD_MAX_*)', () => {
  const withLimits = (overrides: Partial<UploadLimits>): UploadLimits => ({ ...defaultUploadLimits, ...overrides })

  /** The `file` problem of analyzing `content` under the default limits with `overrides`. */
  async function limitProblem(format: DatasetFormat, content: string, overrides: Partial<UploadLimits> = {}): Promise<string> {
    const error: unknown = await analyzeFile(writeFixture(format, content), format, withLimits(overrides)).then(
      () => undefined,
      (thrown: unknown) => thrown,
    )
    expect(error).toBeInstanceOf(InvalidInputError)
    const invalid = error as InvalidInputError
    expect(invalid.code).toBe('E1108')
    expect(invalid.details?.map((detail) => detail.field)).toEqual(['file'])
    return invalid.details?.[0].message ?? ''
  }
  const accepted = (format: DatasetFormat, content: string, overrides: Partial<UploadLimits>) =>
    analyzeFile(writeFixture(format, content), format, withLimits(overrides))

  describe('CSV', () => {
    it('refuses a header with more columns than UPLOAD_MAX_COLUMNS and accepts one at the limit', async () => {
      expect(await limitProblem('csv', 'a,b,c,d\n1,2,3,4\n', { maxColumns: 3 })).toBe('the header (line 1) has 4 columns, more than 3 (UPLOAD_MAX_COLUMNS)')
      expect((await accepted('csv', 'a,b,c,d\n1,2,3,4\n', { maxColumns: 4 })).columns).toHaveLength(4)
    })

    it('counts the columns of a header too long to split while reading it, under the default limits', async () => {
      const header = Array.from({ length: 200_000 }, (_, i) => `column${i}`).join(',')
      expect(await limitProblem('csv', `${header}\n`)).toBe('the header (line 1) has more than 10000 columns (UPLOAD_MAX_COLUMNS)')
    })

    it('refuses a record wider than UPLOAD_MAX_ROW_WIDTH in a split line and in what csv-parse reads', async () => {
      expect(await limitProblem('csv', 'a,b,c\n1,2,3,4,5,6\n', { maxRowWidth: 5 })).toBe('line 2 has 6 fields, more than 5 (UPLOAD_MAX_ROW_WIDTH)')
      // the quoted line break sends the rest of the file to csv-parse, and the guard before it
      expect(await limitProblem('csv', 'a,b,c\n"x\ny",2,3\n1,2,3,4,5,6,7\n', { maxRowWidth: 5 })).toBe('line 4 has more than 5 fields (UPLOAD_MAX_ROW_WIDTH)')
    })

    it('refuses a line longer than UPLOAD_MAX_LINE_BYTES, counted in bytes, split or quoted across lines', async () => {
      // 42 characters, 122 bytes
      expect(await limitProblem('csv', `id,text\n1,${'数'.repeat(40)}\n`, { maxLineBytes: 100 })).toBe(
        'line 2 is longer than 100 bytes (UPLOAD_MAX_LINE_BYTES)',
      )
      expect(await limitProblem('csv', `id,text\n1,"${'ab\n'.repeat(50)}"\n`, { maxLineBytes: 100 })).toMatch(
        /^line \d+ is longer than 100 bytes \(UPLOAD_MAX_LINE_BYTES\)$/,
      )
      expect((await accepted('csv', `id,text\n1,${'数'.repeat(40)}\n`, { maxLineBytes: 122 })).rowCount).toBe(1)
    })

    it('refuses a field longer than UPLOAD_MAX_CELL_BYTES, integers included', async () => {
      expect(await limitProblem('csv', `id,text\n1,${'x'.repeat(50)}\n`, { maxCellBytes: 40 })).toBe(
        'line 2: field 2 is longer than 40 bytes (UPLOAD_MAX_CELL_BYTES)',
      )
      // a line of integers only is not split on the fast path, unless it may hold a long cell
      expect(await limitProblem('csv', `a,b\n1,${'9'.repeat(50)}\n`, { maxCellBytes: 40 })).toBe(
        'line 2: field 2 is longer than 40 bytes (UPLOAD_MAX_CELL_BYTES)',
      )
      expect(await limitProblem('csv', `id,text\n1,"${'ab\n'.repeat(20)}"\n`, { maxCellBytes: 40 })).toMatch(
        /^line \d+ has a field longer than 40 bytes \(UPLOAD_MAX_CELL_BYTES\)$/,
      )
    })
  })

  describe('JSON', () => {
    it('counts keys and array items at any depth against UPLOAD_MAX_ROW_WIDTH and accepts a row at the limit', async () => {
      const limit = { maxRowWidth: 5 }
      expect((await accepted('json', '{"a":1,"b":2,"c":3,"d":4,"e":5}\n{"a":1,"b":[1,2,3]}\n', limit)).rowCount).toBe(2)
      expect(await limitProblem('json', '{"a":1}\n{"a":{"x":1,"y":2},"b":[1,2]}\n', limit)).toBe(
        'line 2 has more than 5 values, counting keys and array items at any depth (UPLOAD_MAX_ROW_WIDTH)',
      )
      expect(await limitProblem('json', '[{"a":1},{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6}]', limit)).toMatch(/^array element at index 1 has more than 5 values/)
    })

    it('refuses a row nested deeper than UPLOAD_MAX_DEPTH in JSON Lines and in an array', async () => {
      expect((await accepted('json', '{"a":{"b":{"c":1}}}\n', { maxDepth: 3 })).rowCount).toBe(1)
      expect(await limitProblem('json', '{"a":1}\n{"a":{"b":{"c":1}}}\n', { maxDepth: 2 })).toBe(
        'line 2 nests objects and arrays more than 2 deep (UPLOAD_MAX_DEPTH)',
      )
      expect(await limitProblem('json', '[{"a":[[1]]}]', { maxDepth: 2 })).toBe(
        'array element at index 0 nests objects and arrays more than 2 deep (UPLOAD_MAX_DEPTH)',
      )
    })

    it('does not count brackets, commas or escaped quotes inside strings', async () => {
      const row = { a: '[[[{{,,,\\"]]]}}', b: '\\', c: 'x' }
      const analysis = await accepted('json', `${JSON.stringify(row)}\n${JSON.stringify([row])}`.replace(/^/, '[').replace(/\n\[/, ','), {
        maxDepth: 1,
        maxRowWidth: 3,
      })
      expect(analysis.preview).toEqual([row, row])
    })

    it('refuses a string longer than UPLOAD_MAX_CELL_BYTES that spans read chunks', async () => {
      const text = 'x'.repeat(400_000)
      expect(await limitProblem('json', `${JSON.stringify({ text })}\n`, { maxCellBytes: 300_000 })).toBe(
        'line 1 holds a string longer than 300000 bytes (UPLOAD_MAX_CELL_BYTES)',
      )
      expect(await limitProblem('json', JSON.stringify([{ text: 'a' }, { text }]), { maxCellBytes: 300_000 })).toMatch(
        /^array element at index 1 holds a string/,
      )
    })

    it('refuses a JSON Lines line or an array element longer than UPLOAD_MAX_LINE_BYTES', async () => {
      const wide = JSON.stringify(Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, 'v'.repeat(50)])))
      expect(await limitProblem('json', `{"k0":"v"}\n${wide}\n`, { maxLineBytes: 1000 })).toBe('line 2 is longer than 1000 bytes (UPLOAD_MAX_LINE_BYTES)')
      expect(await limitProblem('json', `[{"k0":"v"},\n${wide}]`, { maxLineBytes: 1000 })).toBe(
        'array element at index 1 is longer than 1000 bytes (UPLOAD_MAX_LINE_BYTES)',
      )
      // longer than a read chunk: refused before the line is complete
      const long = JSON.stringify(Object.fromEntries(Array.from({ length: 40_000 }, (_, i) => [`k${i}`, i])))
      expect(await limitProblem('json', `${long}\n`, { maxLineBytes: 300_000 })).toBe('line 1 is longer than 300000 bytes (UPLOAD_MAX_LINE_BYTES)')
    })

    it('refuses rows whose keys together make more columns than UPLOAD_MAX_COLUMNS', async () => {
      expect(await limitProblem('json', '{"a":1}\n{"b":1}\n{"c":1,"d":1}\n', { maxColumns: 3 })).toBe(
        'the keys of rows 1 to 3 make 4 columns, more than 3 (UPLOAD_MAX_COLUMNS)',
      )
    })
  })

  it('refuses a parquet file with more columns than UPLOAD_MAX_COLUMNS', async () => {
    const file = writeParquet([
      { name: 'a', data: [1, 2], type: 'INT32' },
      { name: 'b', data: [1, 2], type: 'INT32' },
    ])
    expect((await analyzeFile(file, 'parquet', withLimits({ maxColumns: 2 }))).columns).toHaveLength(2)
    await expect(analyzeFile(file, 'parquet', withLimits({ maxColumns: 1 }))).rejects.toMatchObject({
      details: [{ field: 'file', message: 'the parquet file has 2 columns, more than 1 (UPLOAD_MAX_COLUMNS)' }],
    })
  })

  it("applies the same limits to the trainer's reading, failing the job as bad input", async () => {
    const file = writeFixture('csv', 'a,b,c\n1,2,3\n')
    expect((await loadTable(file, 'csv', withLimits({ maxColumns: 3 }))).columns).toEqual(['a', 'b', 'c'])
    const error = await loadTable(file, 'csv', withLimits({ maxColumns: 2 })).catch((thrown: unknown) => thrown)
    expect(error).toBeInstanceOf(BadInputError)
    expect((error as Error).message).toBe('the dataset file is over an upload limit: the header (line 1) has 3 columns, more than 2 (UPLOAD_MAX_COLUMNS)')
  })
})
