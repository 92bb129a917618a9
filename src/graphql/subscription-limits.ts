// How many subscriptions one graphql-ws socket and one user may hold at once
// (GRAPHQL_MAX_SUBSCRIPTIONS_PER_CONNECTION, GRAPHQL_MAX_SUBSCRIPTIONS_PER_USER).
// Each live subscription holds a slot from its start until its stream ends
// (completed, failed, stopped by the client or its socket closed); a
// subscribe over a limit is refused with E1111 and the existing ones go on.
// Counts are per process: a user's subscriptions on another process of the
// same deployment count there.
import { GraphQLError } from 'graphql'
import type { Plugin } from 'graphql-yoga'
import type { GraphqlLimits } from '../config.ts'
import { ErrorCodes } from '../errors/index.ts'
import type { GraphQLContext } from '../context.ts'

/** What marks a graphql-ws socket in the context of its operations (any object unique to the socket). */
export interface SubscriptionConnection {
  readonly wsConnection?: object
}

export type SubscriptionLimits = ReturnType<typeof createSubscriptionLimits>

type Release = () => void

function tooMany(message: string, limit: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: ErrorCodes.rateLimited, limit } })
}

/** Wraps a subscription's stream so that its slot is released once, however the stream ends. */
function releasing<T>(source: AsyncIterable<T>, release: Release): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]()
  let released = false
  const done = () => {
    if (released) return
    released = true
    release()
  }
  const wrapped: AsyncGenerator<T> = {
    async next() {
      try {
        const result = await iterator.next()
        if (result.done) done()
        return result
      } catch (error) {
        done()
        throw error
      }
    },
    async return(value) {
      done()
      return (await iterator.return?.(value)) ?? { done: true, value: value as T }
    },
    async throw(error) {
      done()
      if (iterator.throw) return iterator.throw(error)
      throw error
    },
    [Symbol.asyncIterator]() {
      return wrapped
    },
  }
  return wrapped
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value
}

export function createSubscriptionLimits(limits: Pick<GraphqlLimits, 'maxSubscriptionsPerConnection' | 'maxSubscriptionsPerUser'>) {
  const byUser = new Map<string, number>()
  const byConnection = new WeakMap<object, Set<Release>>()

  /** The refusal a new subscription would get now, or null. */
  function refusal(userId: string | undefined, connection: object | undefined): GraphQLError | null {
    if (connection && (byConnection.get(connection)?.size ?? 0) >= limits.maxSubscriptionsPerConnection) {
      return tooMany(
        `Too many subscriptions on this connection: at most ${limits.maxSubscriptionsPerConnection} at once (GRAPHQL_MAX_SUBSCRIPTIONS_PER_CONNECTION); stop one or open another connection.`,
        'GRAPHQL_MAX_SUBSCRIPTIONS_PER_CONNECTION',
      )
    }
    if (userId !== undefined && (byUser.get(userId) ?? 0) >= limits.maxSubscriptionsPerUser) {
      return tooMany(
        `Too many subscriptions for this user: at most ${limits.maxSubscriptionsPerUser} at once (GRAPHQL_MAX_SUBSCRIPTIONS_PER_USER); stop one first.`,
        'GRAPHQL_MAX_SUBSCRIPTIONS_PER_USER',
      )
    }
    return null
  }

  /** Takes a slot, or answers the refusal. The release is idempotent. */
  function acquire(userId: string | undefined, connection: object | undefined): Release | GraphQLError {
    const refused = refusal(userId, connection)
    if (refused) return refused
    if (userId !== undefined) byUser.set(userId, (byUser.get(userId) ?? 0) + 1)
    const slots = connection ? (byConnection.get(connection) ?? new Set<Release>()) : undefined
    if (connection && slots) byConnection.set(connection, slots)
    let held = true
    const release: Release = () => {
      if (!held) return
      held = false
      slots?.delete(release)
      if (userId === undefined) return
      const left = (byUser.get(userId) ?? 1) - 1
      if (left > 0) byUser.set(userId, left)
      else byUser.delete(userId)
    }
    slots?.add(release)
    return release
  }

  /** Frees every slot of a socket that closed (its streams end too; this is the backstop). */
  function releaseConnection(connection: object) {
    for (const release of [...(byConnection.get(connection) ?? [])]) release()
    byConnection.delete(connection)
  }

  /** The Envelop plugin that holds a slot for every subscription, graphql-ws and SSE alike. */
  function plugin(): Plugin {
    return {
      onSubscribe({ args, setResultAndStopExecution }) {
        const context = args.contextValue as Partial<GraphQLContext> & SubscriptionConnection
        const slot = acquire(context.principal?.userId, context.wsConnection)
        if (slot instanceof GraphQLError) {
          setResultAndStopExecution({ errors: [slot] })
          return
        }
        return {
          onSubscribeResult({ result, setResult }) {
            if (isAsyncIterable(result)) setResult(releasing(result, slot) as typeof result)
            else slot()
          },
          onSubscribeError() {
            slot()
          },
        }
      },
    }
  }

  return { refusal, releaseConnection, plugin, openFor: (userId: string) => byUser.get(userId) ?? 0 }
}
