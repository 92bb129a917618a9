// What each field of a zod object schema is in GraphQL terms: its kind (Int,
// Float, String, ID for `id`, Boolean, a list of strings, an enum, a nested
// object), whether the schema requires it, and its description: the
// schema's `.meta({ description })`, then the bounds the schema checks (read
// from `z.toJSONSchema`) and the default from the caller's table.
import { z } from 'zod'
import { graphqlValueName } from './enums.ts'

type JsonSchema = z.core.JSONSchema.JSONSchema
export type ObjectSchema = z.ZodObject
export type Kind = 'Int' | 'Float' | 'String' | 'ID' | 'Boolean' | 'StringList' | 'Enum' | 'Object'

/** What one field of an object schema becomes in GraphQL. */
export interface FieldSpec {
  name: string
  kind: Kind
  /** The schema requires it (input: required; output: always there). */
  required: boolean
  description: string
  enumValues: readonly string[]
  object: ObjectSchema | undefined
}

/** Defaults of a schema's optional fields, by field name (e.g. `jobDefaults.hyperparameters`). */
export type Defaults = Readonly<Record<string, unknown>>

type AnySchema = z.core.$ZodType

const isObjectSchema = (schema: AnySchema): schema is ObjectSchema => schema instanceof z.ZodObject

/** The schema inside `.optional()`, `.nullable()` and `.default()`. */
function coreOf(schema: AnySchema): AnySchema {
  let current = schema
  while (current instanceof z.ZodOptional || current instanceof z.ZodNullable || current instanceof z.ZodDefault) current = current.unwrap()
  return current
}

/** The non-null branch of a nullable property. */
function nonNullOf(json: JsonSchema): JsonSchema {
  return json.anyOf?.find((branch) => branch.type !== 'null') ?? json
}

const numberOr = (value: number | boolean | undefined): number | undefined => (typeof value === 'number' ? value : undefined)

const plus = (value: number | undefined, step: number) => (value === undefined ? undefined : value + step)

function intBounds(json: JsonSchema): string | undefined {
  const min = json.minimum ?? plus(numberOr(json.exclusiveMinimum), 1)
  const max = json.maximum ?? plus(numberOr(json.exclusiveMaximum), -1)
  if (min !== undefined && max !== undefined) return `From ${min} to ${max}.`
  if (min !== undefined) return `At least ${min}.`
  return max === undefined ? undefined : `At most ${max}.`
}

function floatBounds(json: JsonSchema): string | undefined {
  const [low, lowOpen] = json.minimum !== undefined ? [json.minimum, false] : [numberOr(json.exclusiveMinimum), true]
  const [high, highOpen] = json.maximum !== undefined ? [json.maximum, false] : [numberOr(json.exclusiveMaximum), true]
  if (low !== undefined && high !== undefined) return `In ${lowOpen ? '(' : '['}${low}, ${high}${highOpen ? ')' : ']'}.`
  if (low !== undefined) return lowOpen ? `Above ${low}.` : `At least ${low}.`
  if (high !== undefined) return highOpen ? `Below ${high}.` : `At most ${high}.`
  return undefined
}

function countBounds(min: number | undefined, max: number | undefined, unit: string): string | undefined {
  if (min !== undefined && min > 0 && max !== undefined) return `${min} to ${max} ${unit}`
  if (max !== undefined) return `at most ${max} ${unit}`
  return min !== undefined && min > 0 ? `at least ${min} ${unit}` : undefined
}

const capitalized = (text: string) => text.charAt(0).toUpperCase() + text.slice(1)

/** The bounds a schema checks, as a sentence. */
function boundsOf(json: JsonSchema): string | undefined {
  if (json.type === 'integer') return intBounds(json)
  if (json.type === 'number') return floatBounds(json)
  if (json.type === 'string' && !json.enum) {
    const text = countBounds(json.minLength, json.maxLength, 'characters')
    return text && `${capitalized(text)}.`
  }
  if (json.type === 'array') {
    const items =
      typeof json.items === 'object' && !Array.isArray(json.items) ? countBounds(json.items.minLength, json.items.maxLength, 'characters') : undefined
    const text = countBounds(json.minItems, json.maxItems, 'entries')
    return text && `${capitalized(text)}${items ? `, each ${items}` : ''}.`
  }
  return undefined
}

function defaultText(value: unknown): string {
  return `Default ${typeof value === 'string' ? graphqlValueName(value) : JSON.stringify(value)}.`
}

function kindOf(name: string, json: JsonSchema, core: AnySchema): Kind {
  if (isObjectSchema(core)) return 'Object'
  if (core instanceof z.ZodEnum) return 'Enum'
  if (json.type === 'integer') return 'Int'
  if (json.type === 'number') return 'Float'
  if (json.type === 'boolean') return 'Boolean'
  if (json.type === 'string') return name === 'id' ? 'ID' : 'String'
  if (json.type === 'array' && typeof json.items === 'object' && !Array.isArray(json.items) && json.items.type === 'string') return 'StringList'
  throw new Error(`No GraphQL type for field ${name} (${JSON.stringify(json)})`)
}

const specsCache = new WeakMap<ObjectSchema, Map<Defaults | undefined, FieldSpec[]>>()

/** The GraphQL shape of each field of `schema`, with `defaults` shown in the descriptions. */
export function fieldSpecs(schema: ObjectSchema, defaults?: Defaults): FieldSpec[] {
  const cached = specsCache.get(schema)?.get(defaults)
  if (cached) return cached
  const json = z.toJSONSchema(schema, { io: 'input' })
  const required = new Set(json.required ?? [])
  const specs = Object.entries(schema.shape).map(([name, field]): FieldSpec => {
    const property = json.properties?.[name]
    const outer: JsonSchema = typeof property === 'object' ? property : {}
    const inner = nonNullOf(outer)
    const core = coreOf(field)
    const parts = [outer.description ?? inner.description ?? '', boundsOf(inner), defaults?.[name] === undefined ? undefined : defaultText(defaults[name])]
    return {
      name,
      kind: kindOf(name, inner, core),
      required: required.has(name),
      description: parts.filter(Boolean).join(' '),
      enumValues: core instanceof z.ZodEnum ? core.options.map(String) : [],
      object: isObjectSchema(core) ? core : undefined,
    }
  })
  specsCache.set(schema, (specsCache.get(schema) ?? new Map()).set(defaults, specs))
  return specs
}
