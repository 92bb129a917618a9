// Subscription fixtures in the style of graphql-ws' tests/utils: a graphql-ws
// client and an SSE reader for a test server, each disposed when the test
// that made it finishes (pass or fail), and `tsubscribe`-like handles whose
// waits fail with a clear message instead of hanging.
//
// Every function here registers its disposer with vitest's onTestFinished,
// so call them inside a test (not in beforeAll).
import { EventEmitter } from 'node:events'
import { print, type FormattedExecutionResult } from 'graphql'
import type { TypedDocumentNode } from '@graphql-typed-document-node/core'
import { createClient, type Client } from 'graphql-ws'
import { onTestFinished } from 'vitest'
import WebSocket from 'ws'
import type { JobUpdatedEvent } from '../../src/events/index.ts'
import type { TestServer } from './server.ts'

/** How long a wait may take before it fails the test (a guard against hanging, not a timing assertion). */
const defaultExpireMs = 10_000

/** The close of a socket, as graphql-ws' `closed` event and a subscription's `error` report it. */
export interface SocketClose {
  code: number
  reason: string
}

export interface WsClientOptions {
  /** Sent as `connectionParams.authorization` ("Bearer <token>"); null sends no params. */
  token?: string | null
  /** Sent as the `connection_init` payload as they are (instead of `token`), e.g. the shape GraphiQL sends. */
  connectionParams?: Record<string, unknown>
  /** Extra headers on the HTTP upgrade request (e.g. Authorization). */
  headers?: Record<string, string>
}

export interface WsFixture {
  client: Client
  /** Resolves once the server has acknowledged the connection (connection_ack). */
  connected: Promise<void>
  /** Resolves with the first close of the socket. */
  closed: Promise<SocketClose>
}

/**
 * A graphql-ws client for `server` that connects at once (not lazily), never
 * retries, and is disposed when the test finishes.
 */
export function createWsClient(server: Pick<TestServer, 'url'>, options: WsClientOptions = {}): WsFixture {
  const headers = options.headers
  // graphql-ws constructs the socket as `new Impl(url, protocol)`; headers on the upgrade need ws' third argument.
  const webSocketImpl = headers
    ? class extends WebSocket {
        constructor(address: string, protocols?: string | string[]) {
          super(address, protocols, { headers })
        }
      }
    : WebSocket
  let onConnected!: () => void
  let onClosed!: (close: SocketClose) => void
  const connected = new Promise<void>((resolve) => (onConnected = resolve))
  const closed = new Promise<SocketClose>((resolve) => (onClosed = resolve))
  const client = createClient({
    url: `${server.url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl,
    lazy: false,
    retryAttempts: 0,
    connectionParams:
      options.connectionParams ?? (options.token === null || options.token === undefined ? undefined : { authorization: `Bearer ${options.token}` }),
    // Without a listener graphql-ws reports a failed non-lazy connection as an uncaught error.
    onNonLazyError: () => {},
    on: {
      connected: () => onConnected(),
      closed: (event) => {
        const close = event as { code?: number; reason?: string }
        onClosed({ code: close.code ?? 0, reason: close.reason ?? '' })
      },
    },
  })
  onTestFinished(() => client.dispose())
  return { client, connected: expire(connected, 'the connection to be acknowledged'), closed: expire(closed, 'the socket to close') }
}

export interface TSubscription<R> {
  /** The next result not consumed yet, waiting for it if needed. */
  waitForNext(expireMs?: number): Promise<FormattedExecutionResult<R>>
  /** Resolves with what the sink's `error` received. */
  waitForError(expireMs?: number): Promise<unknown>
  /** Resolves when the stream completes. */
  waitForComplete(expireMs?: number): Promise<void>
  /** Resolves when the stream ends either way: completed, or failed with `error`. */
  waitForEnd(expireMs?: number): Promise<{ completed: boolean; error?: unknown }>
  /** Every result received so far (probes excluded). */
  readonly results: readonly FormattedExecutionResult<R>[]
  readonly completed: boolean
  /** How many synchronisation probes arrived (they are dropped, never in `results`). */
  probesSeen(): number
  dispose(): void
}

interface Sink<R> {
  next(value: FormattedExecutionResult<R>): void
  error(error: unknown): void
  complete(): void
}

/** A queue of results behind a sink. Probe results (see `untilDelivering`) are counted and dropped. */
function createTSubscription<R>(): { sink: Sink<R>; handle: TSubscription<R> } {
  const emitter = new EventEmitter()
  const results: FormattedExecutionResult<R>[] = []
  let consumed = 0
  let probes = 0
  let error: { value: unknown } | undefined
  let completed = false
  const sink: Sink<R> = {
    next(value) {
      if (isProbe(value)) {
        probes++
        return
      }
      results.push(value)
      emitter.emit('next')
    },
    error(value) {
      error = { value }
      emitter.emit('error-or-complete')
    },
    complete() {
      completed = true
      emitter.emit('error-or-complete')
    },
  }
  const waitFor = <T>(what: string, ready: () => T | undefined, events: string[], expireMs: number) =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        let value: T | undefined
        try {
          value = ready()
        } catch (error) {
          // Not thrown into the emitter: that would land in the client's message handler.
          cleanup()
          reject(error)
          return
        }
        if (value === undefined) return
        cleanup()
        resolve(value)
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(
          new Error(
            `gave up waiting for ${what} after ${expireMs} ms (results: ${JSON.stringify(results)}, completed: ${completed}, error: ${describe(error?.value)})`,
          ),
        )
      }, expireMs)
      const cleanup = () => {
        clearTimeout(timer)
        for (const event of events) emitter.off(event, check)
      }
      for (const event of events) emitter.on(event, check)
      check()
    })
  return {
    sink,
    handle: {
      waitForNext: (expireMs = defaultExpireMs) =>
        waitFor(
          'the next result',
          () => {
            if (consumed < results.length) return results[consumed++]
            if (error) throw new Error(`the subscription failed instead: ${describe(error.value)}`)
            if (completed) throw new Error('the subscription completed instead')
            return undefined
          },
          ['next', 'error-or-complete'],
          expireMs,
        ),
      waitForError: (expireMs = defaultExpireMs) =>
        waitFor(
          'an error',
          () => {
            if (error) return { value: error.value }
            if (completed) throw new Error(`the subscription completed without an error (results: ${JSON.stringify(results)})`)
            return undefined
          },
          ['error-or-complete'],
          expireMs,
        ).then((box) => box.value),
      waitForComplete: (expireMs = defaultExpireMs) =>
        waitFor(
          'completion',
          () => {
            if (completed) return true
            if (error) throw new Error(`the subscription failed instead: ${describe(error.value)}`)
            return undefined
          },
          ['error-or-complete'],
          expireMs,
        ).then(() => undefined),
      waitForEnd: (expireMs = defaultExpireMs) =>
        waitFor(
          'the end of the stream',
          () => (completed ? { completed: true } : error ? { completed: false, error: error.value } : undefined),
          ['error-or-complete'],
          expireMs,
        ),
      get results() {
        return results
      },
      get completed() {
        return completed
      },
      probesSeen: () => probes,
      dispose: () => {},
    },
  }
}

/**
 * Subscribes over graphql-ws and records what arrives. A `check` that throws
 * inside the waits would otherwise be lost: the waits reject instead.
 */
export function tsubscribe<R, V>(client: Client, document: TypedDocumentNode<R, V>, variables: V): TSubscription<R> {
  const { sink, handle } = createTSubscription<R>()
  handle.dispose = client.subscribe<R>({ query: print(document), variables: variables as Record<string, unknown> }, sink)
  onTestFinished(() => handle.dispose())
  return handle
}

/**
 * Subscribes over Server-Sent Events (POST /graphql, Accept: text/event-stream)
 * and records `next` and `complete` events. Disposed (request aborted) when the
 * test finishes.
 */
export async function sseSubscribe<R, V>(
  server: Pick<TestServer, 'url'>,
  document: TypedDocumentNode<R, V>,
  variables: V,
  token: string,
): Promise<{ subscription: TSubscription<R>; status: number; contentType: string | null; headers: Headers }> {
  const { sink, handle } = createTSubscription<R>()
  const abort = new AbortController()
  handle.dispose = () => abort.abort()
  onTestFinished(handle.dispose)
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { accept: 'text/event-stream', 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: print(document), variables }),
    signal: abort.signal,
  })
  void readEventStream(response, sink).catch((error: unknown) => {
    if (!abort.signal.aborted) sink.error(error)
  })
  return { subscription: handle, status: response.status, contentType: response.headers.get('content-type'), headers: response.headers }
}

/** Parses `event: <name>\ndata: <json>\n\n` blocks as they arrive; comments (keep-alives) are skipped. */
async function readEventStream<R>(response: Response, sink: Sink<R>): Promise<void> {
  if (!response.body) throw new Error(`no response body (status ${response.status})`)
  const decoder = new TextDecoder()
  let buffer = ''
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true }).replaceAll('\r\n', '\n')
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      let event = 'message'
      const data: string[] = []
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue
        const colon = line.indexOf(':')
        const field = colon < 0 ? line : line.slice(0, colon)
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
        if (field === 'event') event = value
        else if (field === 'data') data.push(value)
      }
      if (event === 'complete') {
        sink.complete()
        return
      }
      if (data.length > 0 && (event === 'next' || event === 'message')) sink.next(JSON.parse(data.join('\n')) as FormattedExecutionResult<R>)
    }
  }
  sink.error(new Error('the event stream ended without a complete event'))
}

/** Job name that marks a synchronisation probe (see `untilDelivering`). */
export const probeName = '__subscription-sync-probe__'

/** True for a result that carries a synchronisation probe. */
export function isProbe(value: FormattedExecutionResult<unknown>): boolean {
  return JSON.stringify(value.data ?? null).includes(probeName)
}

/**
 * Makes "the server has subscribed to the bus" observable: publishes a probe
 * event (a copy of `job` named `probeName`, as a trainer process publishes a
 * progress update) on the bus until the subscription reports one. Bounded:
 * gives up after `attempts` tries. Probes are dropped by the subscription, so
 * they never reach assertions; the subscribed document must select `name`.
 */
export async function untilDelivering(
  subscription: Pick<TSubscription<unknown>, 'probesSeen'>,
  publish: (event: JobUpdatedEvent) => Promise<void>,
  job: JobUpdatedEvent['job'],
  ownerId: string,
  attempts = 100,
): Promise<void> {
  const event: JobUpdatedEvent = { type: 'job.updated', ownerId, job: { ...job, name: probeName } }
  for (let attempt = 0; attempt < attempts; attempt++) {
    await publish(event)
    if (await waitUntil(() => subscription.probesSeen() > 0, 100)) return
  }
  throw new Error(`no probe event reached the subscription after ${attempts} tries: the server never subscribed`)
}

/** Polls `condition` for up to `withinMs`; true as soon as it holds. */
async function waitUntil(condition: () => boolean, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs
  while (!condition()) {
    if (Date.now() >= deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  return true
}

function expire<T>(promise: Promise<T>, what: string, expireMs = defaultExpireMs): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const guarded = Promise.race([
    promise,
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`gave up waiting for ${what} after ${expireMs} ms`)), expireMs)
      // A promise nobody awaits (a socket that never connects) must not hold the worker open.
      timer.unref()
    }),
  ]).finally(() => clearTimeout(timer))
  // Not every test awaits every promise: an unobserved expiry must not become an unhandled rejection.
  guarded.catch(() => {})
  return guarded
}

function describe(value: unknown): string {
  if (value === undefined) return 'none'
  if (value instanceof Error) return value.message
  if (typeof value === 'object' && value !== null && 'code' in value) {
    const close = value as { code: unknown; reason?: unknown }
    return `close ${String(close.code)} ${String(close.reason ?? '')}`
  }
  return JSON.stringify(value)
}
