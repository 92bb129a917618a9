// What one GraphQL operation may cost before any resolver runs. Every field
// costs 1, times the sizes of the lists it sits in; a list field costs by
// what it can return: connections by `first`/`last`, `Job.logs` by `limit`,
// `Job.metricHistory` by `maxPoints`, `compareJobs` by its ids and `predict`
// by its inputs, each input an inference. GraphQL Armor's cost-limit plugin
// weights only literal `first`/`last` (not variables, not other arguments),
// hence this rule. It runs when the variables are known (Yoga caches
// validation by document, so a validation rule could not read them).
import {
  getNamedType,
  getOperationAST,
  isInterfaceType,
  isObjectType,
  Kind,
  SchemaMetaFieldDef,
  TypeMetaFieldDef,
  TypeNameMetaFieldDef,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql'

/** Pothos' offset connections (resolveOffsetConnection): 20 items when neither `first` nor `last` is set, at most 100. */
const connectionSize = { fallback: 20, max: 100 }
/** `Job.logs(limit)`: the argument's own default and range. */
const logsSize = { fallback: 100, max: 1000 }
/** `Job.metricHistory` without `maxPoints` returns every point: priced as this many per series (`maxPoints` goes to 10,000). */
const metricHistorySize = { fallback: 1000, max: 10_000 }
/** What one `predict` input costs beyond its fields: an inference is far dearer than reading a field. */
export const predictInputCost = 10

type Variables = Readonly<Record<string, unknown>>
type ArgumentOf = (name: string) => unknown

/** An argument's value: numbers and list lengths are all the cost needs; variables come from the request. */
function argumentValue(node: ValueNode, variables: Variables): unknown {
  switch (node.kind) {
    case Kind.INT:
      return Number.parseInt(node.value, 10)
    case Kind.LIST:
      return node.values
    case Kind.VARIABLE:
      return variables[node.name.value]
    case Kind.NULL:
      return null
    default:
      return node
  }
}

/** A count from an Int argument: absent or unusable counts as `fallback`, and no more than `max`. */
function count(value: unknown, size: { fallback: number; max: number }): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return size.fallback
  return Math.min(Math.floor(value), size.max)
}

/** Items of a list argument (GraphQL takes a single value for a list too). */
function lengthOf(value: unknown): number {
  if (Array.isArray(value)) return value.length
  return value === undefined || value === null ? 0 : 1
}

/** How many times a field's selections are answered, and what each answer costs beyond them. */
function multiplierOf(parent: string, field: GraphQLField<unknown, unknown>, argument: ArgumentOf): { size: number; each: number } {
  const key = `${parent}.${field.name}`
  if (key === 'Query.predict') return { size: lengthOf(argument('inputs')), each: predictInputCost }
  if (key === 'Query.compareJobs') return { size: lengthOf(argument('ids')), each: 0 }
  if (key === 'Job.logs') return { size: count(argument('limit'), logsSize), each: 0 }
  if (key === 'Job.metricHistory') return { size: count(argument('maxPoints'), metricHistorySize), each: 0 }
  const names = new Set(field.args.map((arg) => arg.name))
  if (names.has('first') && names.has('last')) {
    const first = argument('first')
    return { size: count(typeof first === 'number' ? first : argument('last'), connectionSize), each: 0 }
  }
  return { size: 1, each: 0 }
}

function fieldDefinition(type: GraphQLNamedType | undefined, name: string): GraphQLField<unknown, unknown> | undefined {
  if (name === '__typename') return TypeNameMetaFieldDef
  if (name === '__schema') return SchemaMetaFieldDef
  if (name === '__type') return TypeMetaFieldDef
  return isObjectType(type) || isInterfaceType(type) ? type.getFields()[name] : undefined
}

/** The operation's variable defaults under the request's values. */
function variablesOf(operation: OperationDefinitionNode, given: Variables | null | undefined): Variables {
  const defaults: Record<string, unknown> = {}
  for (const definition of operation.variableDefinitions ?? []) {
    if (definition.defaultValue) defaults[definition.variable.name.value] = argumentValue(definition.defaultValue, {})
  }
  return { ...defaults, ...given }
}

/**
 * The cost of the operation a request runs (0 when the document names none, which validation reports).
 * Linear in the document: each fragment is priced once, and a fragment cycle (refused by validation) costs nothing more.
 */
export function operationCost(schema: GraphQLSchema, document: DocumentNode, operationName?: string | null, given?: Variables | null): number {
  const operation = getOperationAST(document, operationName)
  if (!operation) return 0
  const variables = variablesOf(operation, given)
  const fragments = new Map<string, FragmentDefinitionNode>()
  for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition)
  const priced = new Map<string, number>()
  const pricing = new Set<string>()
  const typeNamed = (name: string | undefined) => (name ? schema.getType(name) : undefined)

  const fragmentCost = (name: string): number => {
    const known = priced.get(name)
    if (known !== undefined) return known
    const fragment = fragments.get(name)
    if (!fragment || pricing.has(name)) return 0
    pricing.add(name)
    const cost = selectionCost(fragment.selectionSet, typeNamed(fragment.typeCondition.name.value))
    pricing.delete(name)
    priced.set(name, cost)
    return cost
  }

  const fieldCost = (node: FieldNode, parent: GraphQLNamedType | undefined): number => {
    const field = fieldDefinition(parent, node.name.value)
    if (!field) return 1
    const argument: ArgumentOf = (name) => {
      const value = node.arguments?.find((arg) => arg.name.value === name)?.value
      return value ? argumentValue(value, variables) : undefined
    }
    const { size, each } = multiplierOf(parent?.name ?? '', field, argument)
    const children = node.selectionSet ? selectionCost(node.selectionSet, getNamedType(field.type)) : 0
    return 1 + size * (each + children)
  }

  const selectionCost = (set: SelectionSetNode, parent: GraphQLNamedType | undefined): number => {
    let total = 0
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) total += fieldCost(selection, parent)
      else if (selection.kind === Kind.INLINE_FRAGMENT) total += selectionCost(selection.selectionSet, typeNamed(selection.typeCondition?.name.value) ?? parent)
      else total += fragmentCost(selection.name.value)
    }
    return total
  }

  return selectionCost(operation.selectionSet, schema.getRootType(operation.operation) ?? undefined)
}
