// Pothos input types and output fields derived from zod object schemas, so
// that a shape is declared once (src/domain/job-config.ts); ./zod-shapes.ts
// says what each field is. Enums are those made for the same values
// (./enums.ts), nested objects the input type made from the same schema.
// Inputs are required where the schema requires them; outputs are non-null
// where the view always has a value.
import type { FieldMap, InputFieldMap, InputObjectRef } from '@pothos/core'
import { builder, type SchemaTypes } from './builder.ts'
import { enumForValues } from './enums.ts'
import { fieldSpecs, type Defaults, type FieldSpec, type ObjectSchema } from './zod-shapes.ts'

// Input types by the definition of their schema: a `.meta()` copy of a schema shares it.
const inputTypes = new Map<unknown, InputObjectRef<SchemaTypes, Record<string, unknown>>>()

function inputTypeFor(schema: ObjectSchema | undefined, field: string): InputObjectRef<SchemaTypes, Record<string, unknown>> {
  const ref = schema && inputTypes.get(schema._zod.def)
  if (!ref) throw new Error(`No GraphQL input type for the object in field ${field}: make one with zodInputType`)
  return ref
}

function inputField(t: PothosSchemaTypes.InputFieldBuilder<SchemaTypes, 'InputObject'>, spec: FieldSpec) {
  const options = { required: spec.required, description: spec.description }
  switch (spec.kind) {
    case 'Int':
      return t.int(options)
    case 'Float':
      return t.float(options)
    case 'String':
      return t.string(options)
    case 'ID':
      return t.id(options)
    case 'Boolean':
      return t.boolean(options)
    case 'StringList':
      return t.stringList(options)
    case 'Enum':
      return t.field({ ...options, type: enumForValues(spec.enumValues) })
    case 'Object':
      return t.field({ ...options, type: inputTypeFor(spec.object, spec.name) })
  }
}

/** The input type of `schema`: a field per schema field; the description is the schema's unless given. */
export function zodInputType(name: string, schema: ObjectSchema, options: { description?: string; defaults?: Defaults } = {}) {
  const ref = builder.inputType(name, {
    description: options.description ?? schema.meta()?.description,
    fields: (t) => {
      const fields: InputFieldMap = {}
      for (const spec of fieldSpecs(schema, options.defaults)) fields[spec.name] = inputField(t, spec)
      return fields
    },
  })
  inputTypes.set(schema._zod.def, ref)
  return ref
}

const read = (parent: object, key: string): unknown => (parent as Record<string, unknown>)[key]
const numberAt = (parent: object, key: string) => {
  const value = read(parent, key)
  return typeof value === 'number' ? value : null
}
const stringAt = (parent: object, key: string) => {
  const value = read(parent, key)
  return typeof value === 'string' ? value : null
}
const booleanAt = (parent: object, key: string) => {
  const value = read(parent, key)
  return typeof value === 'boolean' ? value : null
}
const stringsAt = (parent: object, key: string) => {
  const value = read(parent, key)
  return Array.isArray(value) ? value.map(String) : null
}

/** A value a non-null field always has (the view fills it in); its absence is a bug, reported as such. */
function present<T>(value: T | null, key: string): T {
  if (value === null) throw new Error(`Field ${key} has no value in the view`)
  return value
}

function nullableField<Shape extends object>(t: PothosSchemaTypes.ObjectFieldBuilder<SchemaTypes, Shape>, spec: FieldSpec) {
  const [key, options] = [spec.name, { nullable: true, description: spec.description }] as const
  switch (spec.kind) {
    case 'Int':
      return t.int({ ...options, resolve: (parent) => numberAt(parent, key) })
    case 'Float':
      return t.float({ ...options, resolve: (parent) => numberAt(parent, key) })
    case 'String':
      return t.string({ ...options, resolve: (parent) => stringAt(parent, key) })
    case 'ID':
      return t.id({ ...options, resolve: (parent) => stringAt(parent, key) })
    case 'Boolean':
      return t.boolean({ ...options, resolve: (parent) => booleanAt(parent, key) })
    case 'StringList':
      return t.stringList({ ...options, resolve: (parent) => stringsAt(parent, key) })
    case 'Enum':
      return t.field({ ...options, type: enumForValues(spec.enumValues), resolve: (parent) => stringAt(parent, key) })
    case 'Object':
      throw new Error(`Output field ${key} is an object: give it an object type of its own`)
  }
}

function nonNullField<Shape extends object>(t: PothosSchemaTypes.ObjectFieldBuilder<SchemaTypes, Shape>, spec: FieldSpec) {
  const [key, options] = [spec.name, { description: spec.description }] as const
  switch (spec.kind) {
    case 'Int':
      return t.int({ ...options, resolve: (parent) => present(numberAt(parent, key), key) })
    case 'Float':
      return t.float({ ...options, resolve: (parent) => present(numberAt(parent, key), key) })
    case 'String':
      return t.string({ ...options, resolve: (parent) => present(stringAt(parent, key), key) })
    case 'ID':
      return t.id({ ...options, resolve: (parent) => present(stringAt(parent, key), key) })
    case 'Boolean':
      return t.boolean({ ...options, resolve: (parent) => present(booleanAt(parent, key), key) })
    case 'StringList':
      return t.stringList({ ...options, resolve: (parent) => present(stringsAt(parent, key), key) })
    case 'Enum':
      return t.field({ ...options, type: enumForValues(spec.enumValues), resolve: (parent) => present(stringAt(parent, key), key) })
    case 'Object':
      throw new Error(`Output field ${key} is an object: give it an object type of its own`)
  }
}

/**
 * Output fields over a view of `schema`'s shape (the effective configuration):
 * non-null where the schema requires the field, `defaults` fills it in, or it
 * is `always` resolved when the job is created.
 */
export function zodOutputFields<Shape extends object>(
  t: PothosSchemaTypes.ObjectFieldBuilder<SchemaTypes, Shape>,
  schema: ObjectSchema,
  options: { defaults?: Defaults; always?: readonly string[] } = {},
): FieldMap {
  const fields: FieldMap = {}
  for (const spec of fieldSpecs(schema, options.defaults)) {
    const filled = spec.required || (options.defaults?.[spec.name] ?? null) !== null || (options.always ?? []).includes(spec.name)
    fields[spec.name] = filled ? nonNullField(t, spec) : nullableField(t, spec)
  }
  return fields
}
