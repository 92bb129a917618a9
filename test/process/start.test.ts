// The real `npm start` path: the service as its own process
// (`node --import tsx src/main.ts`) on a fresh DATA_DIR, read through its
// JSON log lines, stopped by a signal; and the token CLI (`npm run token`)
// against the same data directory. Every child is killed after the tests,
// whatever happened.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { print } from 'graphql'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { graphql } from '../gql/index.ts'
import { jobRequest } from '../helpers/data.ts'
import { createWsClient, sseSubscribe, tsubscribe } from '../helpers/ws.ts'

const projectRoot = path.resolve(import.meta.dirname, '../..')
/** A guard against hanging on a child that never answers; not a timing assertion. */
const giveUpMs = 20_000

const StartViewer = graphql(`
  query StartViewer {
    viewer {
      name
      scopes
    }
  }
`)

const StartMyJobs = graphql(`
  subscription StartMyJobs {
    myJobs {
      id
      status
    }
  }
`)

interface LogLine {
  level: number
  msg: string
  [field: string]: unknown
}

interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

const children = new Set<ChildProcess>()

/** Whether a child is a service process (started by startService) rather than a CLI run. */
function isService(child: ChildProcess): boolean {
  return child.spawnargs.includes('src/main.ts') || child.spawnargs.includes('start')
}

/** Kills every child (of those `which` picks) still alive and waits for it to go. */
async function killChildren(which: (child: ChildProcess) => boolean) {
  await Promise.all(
    [...children].filter(which).map(async (child) => {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGKILL')
        await gone
      }
      children.delete(child)
    }),
  )
}

/**
 * The environment of a child: this process' environment without the
 * service's own variables (so that nothing from the test runner leaks in),
 * plus `env`.
 */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = { ...process.env }
  for (const name of [
    'PORT',
    'HOST',
    'DATA_DIR',
    'DATABASE_URL',
    'REDIS_URL',
    'API_TOKENS',
    'TRAINER_CONCURRENCY',
    'LOG_LEVEL',
    'INSTANCE_TYPES_FILE',
    'MAX_UPLOAD_BYTES',
  ])
    delete base[name]
  return { ...base, ...env }
}

function track(child: ChildProcess) {
  children.add(child)
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  return exited
}

interface ServiceProcess {
  child: ChildProcess
  logs: LogLine[]
  stderr(): string
  exited: Promise<Exit>
  /** The first log line (already logged or still to come) that `matches`; rejects if the process exits first. */
  waitForLog(matches: (line: LogLine) => boolean, what: string): Promise<LogLine>
}

/** npm itself: the npm-cli.js that runs this test (`npm test`), else `npm` on PATH. */
function npmCommand(args: string[]): [string, string[]] {
  const cli = process.env.npm_execpath
  return cli?.endsWith('.js') ? [process.execPath, [cli, ...args]] : ['npm', args]
}

/**
 * Starts the service as `npm start` does (`node --import tsx src/main.ts`), with PORT=0 so that it picks a free port;
 * `viaNpm` runs `npm start` itself (npm, its shell and the service).
 */
function startService(dataDir: string, viaNpm = false): ServiceProcess {
  const [command, args] = viaNpm ? npmCommand(['start']) : [process.execPath, ['--import', 'tsx', 'src/main.ts']]
  const child = spawn(command, args, {
    cwd: projectRoot,
    env: childEnv({ DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'info' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = track(child)
  const logs: LogLine[] = []
  const listeners = new Set<() => void>()
  let stderr = ''
  let partial = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) {
      if (line.trim() === '') continue
      try {
        logs.push(JSON.parse(line) as LogLine)
      } catch {
        logs.push({ level: 0, msg: `(not JSON) ${line}` })
      }
    }
    for (const listener of listeners) listener()
  })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  return {
    child,
    logs,
    stderr: () => stderr,
    exited,
    waitForLog(matches, what) {
      return new Promise<LogLine>((resolve, reject) => {
        const done = (error: Error | undefined, line?: LogLine) => {
          listeners.delete(check)
          clearTimeout(timer)
          if (error) reject(error)
          else resolve(line as LogLine)
        }
        const check = () => {
          const line = logs.find(matches)
          if (line) done(undefined, line)
        }
        const timer = setTimeout(
          () => done(new Error(`no log line for ${what} after ${giveUpMs} ms; stdout: ${JSON.stringify(logs)}; stderr: ${stderr}`)),
          giveUpMs,
        )
        void exited.then((exit) =>
          done(new Error(`the service exited (${JSON.stringify(exit)}) before logging ${what}; stdout: ${JSON.stringify(logs)}; stderr: ${stderr}`)),
        )
        listeners.add(check)
        check()
      })
    },
  }
}

/** Runs the token CLI as `npm run token -- <args>` does (`tsx src/cli/token.ts`). */
async function runTokenCli(dataDir: string, args: string[]): Promise<Exit & { stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/token.ts', ...args], {
    cwd: projectRoot,
    env: childEnv({ DATA_DIR: dataDir }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = track(child)
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const exit = await withGiveUp(exited, `npm run token -- ${args.join(' ')} to exit`)
  return { ...exit, stdout, stderr }
}

function withGiveUp<T>(promise: Promise<T>, what: string, ms = giveUpMs): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`gave up waiting for ${what} after ${ms} ms`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

async function viewerOf(url: string, token: string) {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: print(StartViewer) }),
  })
  const body = (await response.json()) as { data?: { viewer: { name: string; scopes: string[] } }; errors?: unknown }
  expect(body.errors, JSON.stringify(body.errors)).toBeUndefined()
  return body.data!.viewer
}

const isReady = (line: LogLine) => line.msg === 'training service ready'
const hasToken = (line: LogLine) => typeof line.token === 'string'

describe('npm start on a fresh DATA_DIR without API_TOKENS', () => {
  let dataDir: string
  let first: ServiceProcess
  let url: string
  let adminToken: string

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'training-start-'))
    first = startService(dataDir)
    url = (await first.waitForLog(isReady, '"training service ready"')).url as string
  })

  // CLI runs end with their test; the services started in beforeAll live until afterAll.
  afterEach(() => killChildren((child) => !isService(child)))

  afterAll(async () => {
    await killChildren(() => true)
    if (dataDir) rmSync(dataDir, { recursive: true, force: true })
  })

  it('logs "training service ready" as a JSON line carrying the url it listens on (PORT=0: a free port)', async () => {
    const ready = first.logs.find(isReady)!
    expect(ready.level).toBe(30)
    expect(ready.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(Number(new URL(url).port)).toBeGreaterThan(0)
    expect(ready.dataDir).toBe(dataDir)
  })

  it('creates the SQLite database at DATA_DIR/training.db', () => {
    expect(existsSync(path.join(dataDir, 'training.db'))).toBe(true)
  })

  it('logs a first-start admin token once, at warn level, and that token works with the admin scope', async () => {
    const lines = first.logs.filter(hasToken)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ level: 40, user: 'admin', token: expect.any(String) })
    adminToken = lines[0].token as string

    const resources = await fetch(`${url}/v1/training/resources`, { headers: { authorization: `Bearer ${adminToken}` } })
    expect(resources.status).toBe(200)
    expect(((await resources.json()) as { success: boolean }).success).toBe(true)
    expect(await viewerOf(url, adminToken)).toEqual({ name: 'admin', scopes: expect.arrayContaining(['read', 'write', 'admin']) })
  })

  it('answers /healthz and /readyz with 200 without a token', async () => {
    for (const probe of ['/healthz', '/readyz']) {
      const response = await fetch(url + probe)
      expect(response.status, probe).toBe(200)
    }
  })

  it('exits with code 0 on SIGTERM', async () => {
    first.child.kill('SIGTERM')
    expect(await withGiveUp(first.exited, 'the service to exit after SIGTERM')).toEqual({ code: 0, signal: null })
    expect(first.logs.some((line) => line.msg === 'stopping' && line.signal === 'SIGTERM')).toBe(true)
  })

  describe('started again on the same DATA_DIR', () => {
    let second: ServiceProcess
    let secondUrl: string

    beforeAll(async () => {
      await withGiveUp(first.exited, 'the first service to exit')
      second = startService(dataDir)
      secondUrl = (await second.waitForLog(isReady, '"training service ready"')).url as string
    })

    it('starts without printing another admin token, and the first one still works', async () => {
      expect(second.logs.filter(hasToken)).toEqual([])
      expect(adminToken, 'the first start logged no token').toEqual(expect.any(String))
      const resources = await fetch(`${secondUrl}/v1/training/resources`, { headers: { authorization: `Bearer ${adminToken}` } })
      expect(resources.status).toBe(200)
    })

    it('`npm run token -- create carol read` prints a token that reads as carol and is refused writes with 403 E1107', async () => {
      const created = await runTokenCli(dataDir, ['create', 'carol', 'read'])
      expect(created.code, created.stderr).toBe(0)
      const token = created.stdout.trim()
      expect(token).toMatch(/^\S{20,}$/)
      expect(created.stderr).toMatch(/carol/)

      expect(await viewerOf(secondUrl, token)).toEqual({ name: 'carol', scopes: ['read'] })
      const jobs = await fetch(`${secondUrl}/v1/training/jobs`, { headers: { authorization: `Bearer ${token}` } })
      expect(jobs.status).toBe(200)
      const write = await fetch(`${secondUrl}/v1/training/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(jobRequest('dataset-none')),
      })
      expect(write.status).toBe(403)
      expect(((await write.json()) as { error: { code: string } }).error.code).toBe('E1107')
    })

    it('`npm run token -- create` with an unknown scope exits non-zero, names the scope and prints no token', async () => {
      const refused = await runTokenCli(dataDir, ['create', 'dave', 'read+superuser'])
      expect(refused.code).not.toBe(0)
      expect(refused.stdout).toBe('')
      expect(refused.stderr).toMatch(/unknown scope.*"superuser"/i)
      expect(refused.stderr).toMatch(/read, write or admin/)
    })

    it('exits with code 0 on SIGTERM while graphql-ws and SSE subscriptions are open, ending both', async () => {
      const ws = createWsClient({ url: secondUrl }, { token: adminToken })
      await ws.connected
      const overWs = tsubscribe(ws.client, StartMyJobs, {})
      const overSse = await sseSubscribe({ url: secondUrl }, StartMyJobs, {}, adminToken)
      expect(overSse.status).toBe(200)

      second.child.kill('SIGTERM')

      // "A few seconds": a stop that waits for subscribers to leave never ends, and a supervisor would SIGKILL it.
      expect(await withGiveUp(second.exited, 'the service to exit after SIGTERM with open subscriptions', 10_000)).toEqual({ code: 0, signal: null })
      expect((await ws.closed).code).toBe(1001)
      // Both streams end (a client reconnects elsewhere) rather than staying open to a dead process.
      await overSse.subscription.waitForEnd()
      await overWs.waitForEnd()
    })
  })
})

describe('`npm start` itself', () => {
  let dataDir: string

  afterAll(async () => {
    await killChildren(() => true)
    if (dataDir) rmSync(dataDir, { recursive: true, force: true })
  })

  it('stops the service on one SIGTERM to the npm process (npm forwards it; no orphaned server)', { timeout: 60_000 }, async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'training-npm-start-'))
    const npm = startService(dataDir, true)
    const serviceUrl = (await npm.waitForLog(isReady, '"training service ready"')).url as string
    expect((await fetch(`${serviceUrl}/healthz`)).status).toBe(200)

    npm.child.kill('SIGTERM')
    await withGiveUp(npm.exited, 'npm to exit after SIGTERM')
    // The server went with npm: soon nothing listens on its port any more.
    const closed = async () => {
      for (;;) {
        const answered = await fetch(`${serviceUrl}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
          () => true,
          () => false,
        )
        if (!answered) return
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
    await withGiveUp(closed(), 'the server to close its port after npm exited')
    expect(npm.logs.some((line) => line.msg === 'stopping' && line.signal === 'SIGTERM')).toBe(true)
  })
})
