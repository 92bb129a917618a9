// Starts the real service (HTTP, GraphQL, WebSocket) on a free port with its
// own data directory and database, and a small HTTP client for it.
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { print, type ExecutionResult } from 'graphql'
import type { TypedDocumentNode } from '@graphql-typed-document-node/core'
import { buildApp, type App } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import type { ErrorBody } from '../../src/rest/envelope.ts'

/** Users and tokens every test server starts with (API_TOKENS). */
export const tokens = {
  alice: 'tok-alice',
  bob: 'tok-bob',
  reader: 'tok-reader',
  root: 'tok-root',
} as const

export interface TestServer {
  url: string
  app: App
  dataDir: string
  /** `D`: the type of the reply's `data` (what the route answers). */
  request<D = unknown>(method: string, path: string, options?: RequestOptions): Promise<TestResponse<D>>
  graphql<R, V>(document: TypedDocumentNode<R, V>, variables?: V, token?: string | null): Promise<ExecutionResult<R>>
  close(): Promise<void>
}

export interface RequestOptions {
  token?: string | null
  json?: unknown
  body?: BodyInit
  headers?: Record<string, string>
}

/**
 * A JSON reply in the spec's envelope (src/rest/envelope.ts) as the tests read it: `data` on a success,
 * `error` on a failure. Both are typed as present, since a test reads the one its status check has just
 * established. A reply that is not JSON leaves `body` undefined: read `text` instead.
 */
export interface ReplyBody<D = unknown> {
  success: boolean
  message?: string
  data: D
  error: ErrorBody['error']
  timestamp: string
}

export interface TestResponse<D = unknown> {
  status: number
  headers: Headers
  body: ReplyBody<D>
  text: string
}

export async function startServer(env: Record<string, string> = {}): Promise<TestServer> {
  const ownDir = env.DATA_DIR === undefined
  const dataDir = env.DATA_DIR ?? mkdtempSync(path.join(os.tmpdir(), 'training-test-'))
  const config = loadConfig({
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    API_TOKENS: `alice:${tokens.alice},bob:${tokens.bob},reader:${tokens.reader}:read,root:${tokens.root}:admin`,
    // Most suites test the API with jobs left queued; training suites pass TRAINER: 'embedded'.
    TRAINER: 'off',
    ...env,
  })
  let app: App
  let url: string
  try {
    app = await buildApp(config)
    url = await app.start()
  } catch (error) {
    if (ownDir) rmSync(dataDir, { recursive: true, force: true })
    throw error
  }

  async function request<D = unknown>(method: string, urlPath: string, options: RequestOptions = {}): Promise<TestResponse<D>> {
    const headers: Record<string, string> = { ...options.headers }
    const token = options.token === undefined ? tokens.alice : options.token
    if (token !== null) headers.authorization = `Bearer ${token}`
    let body = options.body
    if (options.json !== undefined) {
      headers['content-type'] ??= 'application/json'
      body = JSON.stringify(options.json)
    }
    const response = await fetch(url + urlPath, { method, headers, body })
    const text = await response.text()
    let parsed: unknown
    try {
      parsed = text ? JSON.parse(text) : undefined
    } catch {
      parsed = undefined
    }
    return { status: response.status, headers: response.headers, body: parsed as ReplyBody<D>, text }
  }

  return {
    url,
    app,
    dataDir,
    request,
    async graphql<R, V>(document: TypedDocumentNode<R, V>, variables?: V, token: string | null = tokens.alice) {
      const response = await request('POST', '/graphql', { token, json: { query: print(document), variables } })
      // GraphQL answers in its own shape, not the envelope.
      return response.body as unknown as ExecutionResult<R>
    },
    async close() {
      await app.stop()
      // A directory the caller passed in belongs to the caller.
      if (ownDir) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}
