// Bounds on one GraphQL request, so that no document can make the service do
// unbounded work. Parsing stops at GRAPHQL_MAX_TOKENS tokens (GraphQL Armor's
// max-tokens lexer) and at GRAPHQL_MAX_DEPTH nesting (the parser recurses per
// level: 5,000 levels overflowed the stack); validation adds Armor's depth
// (through fragments), alias and directive limits and refuses literal strings
// that cannot be kept; before execution the size-weighted cost (cost.ts) and
// the strings of the variables are checked. Every refusal is E1108 naming the
// limit and the variable that sets it.
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases'
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth'
import { maxDirectivesPlugin } from '@escape.tech/graphql-armor-max-directives'
import { MaxTokensParserWLexer } from '@escape.tech/graphql-armor-max-tokens'
import {
  GraphQLError,
  Kind,
  type ASTNode,
  type ConstValueNode,
  type ExecutionArgs,
  type ParseOptions,
  type SelectionSetNode,
  type Source,
  type TypeNode,
  type ValidationContext,
  type ValidationRule,
  type ValueNode,
} from 'graphql'
import type { Plugin } from 'graphql-yoga'
import type { GraphqlLimits } from '../config.ts'
import { stringProblem } from '../domain/strings.ts'
import { ErrorCodes, type FieldProblem } from '../errors/index.ts'
import { operationCost } from './cost.ts'

/** A refusal of the request: E1108, with the variable that sets the limit. */
export function limitError(message: string, limit: string, details?: FieldProblem[]): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCodes.invalidParameters, limit, ...(details ? { details } : {}) } })
}

/** Armor's message ("Syntax Error: Query depth limit of 15 exceeded, found 16.") with the variable that sets the limit. */
function armorMessage(error: GraphQLError, variable: string): string {
  return `${error.message.replace(/^Syntax Error: /, '').replace(/\.$/, '')} (${variable}).`
}

/** Armor's rejection handlers: report the refusal as a validation error instead of throwing Armor's own. */
function reportAs(variable: string) {
  return {
    propagateOnRejection: false,
    onReject: [(context: ValidationContext | null, error: GraphQLError) => context?.reportError(limitError(armorMessage(error, variable), variable))],
  }
}

type Nesting = 'selection' | 'value' | 'type'

const nestingWhat: Record<Nesting, string> = { selection: 'Query depth', value: 'Input value nesting', type: 'List type nesting' }

/**
 * Armor's token-counting parser, bounded in depth too: the token limit alone would still let `[[[[…` (one token per
 * level) recurse thousands of levels deep. Selections, input values and list types each nest at most `maxDepth`.
 */
class BoundedParser extends MaxTokensParserWLexer {
  readonly #maxDepth: number
  readonly #depth: Record<Nesting, number> = { selection: 0, value: 0, type: 0 }

  constructor(source: string | Source, options: ParseOptions & { n: number }, maxDepth: number) {
    super(source, options)
    this.#maxDepth = maxDepth
  }

  #nested<T>(what: Nesting, parse: () => T): T {
    if (++this.#depth[what] > this.#maxDepth) {
      throw limitError(`${nestingWhat[what]} limit of ${this.#maxDepth} exceeded while parsing (GRAPHQL_MAX_DEPTH).`, 'GRAPHQL_MAX_DEPTH')
    }
    try {
      return parse()
    } finally {
      this.#depth[what]--
    }
  }

  override parseSelectionSet(): SelectionSetNode {
    return this.#nested('selection', () => super.parseSelectionSet())
  }

  override parseValueLiteral(isConst: true): ConstValueNode
  override parseValueLiteral(isConst: boolean): ValueNode
  override parseValueLiteral(isConst: boolean): ValueNode {
    return this.#nested('value', () => super.parseValueLiteral(isConst))
  }

  override parseTypeReference(): TypeNode {
    return this.#nested('type', () => super.parseTypeReference())
  }
}

/** Parses with the token and nesting limits; a refusal is thrown as Yoga's parse errors are (E1108 kept). */
function useBoundedParser(limits: GraphqlLimits): Plugin {
  const onReject = [
    (_context: unknown, error: GraphQLError) => {
      throw limitError(armorMessage(error, 'GRAPHQL_MAX_TOKENS'), 'GRAPHQL_MAX_TOKENS')
    },
  ]
  return {
    onParse({ setParseFn }) {
      setParseFn((source, options) => new BoundedParser(source, { ...options, n: limits.maxTokens, onReject }, limits.maxDepth).parseDocument())
    },
  }
}

/** The argument (and input fields) a literal sits in, e.g. `input.name`. */
function argumentPath(ancestors: readonly (ASTNode | readonly ASTNode[])[]): string {
  const names: string[] = []
  for (const ancestor of ancestors) {
    if (Array.isArray(ancestor)) continue
    const node = ancestor as ASTNode
    if (node.kind === Kind.ARGUMENT || node.kind === Kind.OBJECT_FIELD) names.push(node.name.value)
  }
  return names.join('.') || '(literal)'
}

/** Literal strings the service could not keep (NUL; the lexer already refuses lone surrogates): E1108 naming the argument. */
const InputStringsRule: ValidationRule = (context) => ({
  StringValue(node, _key, parent, _path, ancestors) {
    const problem = stringProblem(node.value)
    if (!problem) return
    const field = argumentPath(parent ? [...ancestors, parent] : ancestors)
    context.reportError(
      new GraphQLError(`Argument ${field} ${problem}`, {
        nodes: [node],
        extensions: { code: ErrorCodes.invalidParameters, details: [{ field, message: problem }] },
      }),
    )
  },
})

/** Over HTTP an execution-time refusal gets the status of a validation error (Yoga reads `extensions.http`). */
function refusal(args: ExecutionArgs, error: GraphQLError): { errors: GraphQLError[] } {
  const overHttp = typeof args.contextValue === 'object' && args.contextValue !== null && 'request' in args.contextValue
  if (overHttp) (error.extensions as Record<string, unknown>).http = { spec: true, status: 400 }
  return { errors: [error] }
}

const isPlain = (value: object) => Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null

/**
 * Strings of the variables that cannot be kept, with their paths (`input.name`, `tags[1]`), at most 20; or the depth
 * refusal when they nest deeper than `maxDepth` (graphql-js coerces them recursively). Iterative, so that no nesting
 * can overflow the stack here; only JSON's arrays and plain objects are entered (an upload's file object is not).
 */
function variableProblems(variables: Readonly<Record<string, unknown>>, maxDepth: number): FieldProblem[] | GraphQLError {
  const problems: FieldProblem[] = []
  const pending: { value: unknown; path: string; depth: number }[] = [{ value: variables, path: '', depth: 0 }]
  for (let next = pending.pop(); next && problems.length < 20; next = pending.pop()) {
    const { value, path, depth } = next
    if (typeof value === 'string') {
      const problem = stringProblem(value)
      if (problem) problems.push({ field: path, message: problem })
    } else if (typeof value === 'object' && value !== null && isPlain(value)) {
      if (depth > maxDepth) return limitError(`Variables nest deeper than ${maxDepth} levels at $${path} (GRAPHQL_MAX_DEPTH).`, 'GRAPHQL_MAX_DEPTH')
      const entries = Array.isArray(value)
        ? value.map((item, index) => [`[${index}]`, item] as const)
        : Object.entries(value).map(([key, item]) => [key, item] as const)
      for (const [key, item] of entries.reverse()) {
        const at = key.startsWith('[') ? `${path}${key}` : path ? `${path}.${key}` : key
        const keyProblem = key.startsWith('[') ? null : stringProblem(key)
        if (keyProblem) problems.push({ field: at, message: `key ${keyProblem}` })
        pending.push({ value: item, path: at, depth: depth + 1 })
      }
    }
  }
  return problems
}

/** The checks that need the request's variables: their strings and nesting, then the operation's cost. */
function checkOperation(args: ExecutionArgs, limits: GraphqlLimits): GraphQLError | null {
  const variables = args.variableValues ?? {}
  const problems = variableProblems(variables, limits.maxDepth)
  if (problems instanceof GraphQLError) return problems
  if (problems.length > 0) {
    const listed = problems.map((problem) => `variable $${problem.field} ${problem.message}`).join('; ')
    return new GraphQLError(`Invalid variables: ${listed}`, { extensions: { code: ErrorCodes.invalidParameters, details: problems } })
  }
  const cost = operationCost(args.schema, args.document, args.operationName, variables)
  if (cost > limits.maxCost) {
    return limitError(
      `Query cost limit of ${limits.maxCost} exceeded, found ${Math.round(cost)} (GRAPHQL_MAX_COST): ask for fewer items (first, last, limit, maxPoints, predict inputs) or split the operation.`,
      'GRAPHQL_MAX_COST',
    )
  }
  return null
}

function useOperationChecks(limits: GraphqlLimits): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(InputStringsRule)
    },
    onExecute({ args, setResultAndStopExecution }) {
      const error = checkOperation(args, limits)
      if (error) setResultAndStopExecution(refusal(args, error))
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const error = checkOperation(args, limits)
      if (error) setResultAndStopExecution(refusal(args, error))
    },
  }
}

/** The Envelop plugins that bound one request (Yoga's `plugins`). */
export function useGraphqlLimits(limits: GraphqlLimits): Plugin[] {
  return [
    useBoundedParser(limits),
    // Fragments add no depth of their own: the depth is that of the fields, as the parser counts it.
    maxDepthPlugin({ n: limits.maxDepth, flattenFragments: true, ...reportAs('GRAPHQL_MAX_DEPTH') }),
    maxAliasesPlugin({ n: limits.maxAliases, ...reportAs('GRAPHQL_MAX_ALIASES') }),
    maxDirectivesPlugin({ n: limits.maxDirectives, ...reportAs('GRAPHQL_MAX_DIRECTIVES') }),
    useOperationChecks(limits),
  ]
}
