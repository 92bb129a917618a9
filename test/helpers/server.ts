// Starts the real service (HTTP, GraphQL, WebSocket) on a free port with its
// own data directory and database, and a small HTTP client for it.
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { print, type ExecutionResult } from 'graphql'
import type { TypedDocumentNode } from '@graphql-typed-document-node/core'
import { buildApp, type App } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'

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
  request(method: string, path: string, options?: RequestOptions): Promise<TestResponse>
  graphql<R, V>(document: TypedDocumentNode<R, V>, variables?: V, token?: string | null): Promise<ExecutionResult<R>>
  close(): Promise<void>
}

export interface RequestOptions {
  token?: string | null
  json?: unknown
  body?: BodyInit
  headers?: Record<string, string>
}

export interface TestResponse {
  status: number
  headers: Headers
  // Loose on purpose: tests assert on the JSON shapes the spec documents.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any
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

  async function request(method: string, urlPath: string, options: RequestOptions = {}): Promise<TestResponse> {
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
    let parsed: unknown = undefined
    try {
      parsed = text ? JSON.parse(text) : undefined
    } catch {
      parsed = undefined
    }
    return { status: response.status, headers: response.headers, body: parsed, text }
  }

  return {
    url,
    app,
    dataDir,
    request,
    async graphql(document, variables, token = tokens.alice) {
      const response = await request('POST', '/graphql', { token, json: { query: print(document), variables } })
      return response.body
    },
    async close() {
      await app.stop()
      // A directory the caller passed in belongs to the caller.
      if (ownDir) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}
