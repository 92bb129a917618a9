// The README's REST and GraphQL examples, run as written (with bash and curl)
// against a real server; only the port differs.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, tokens, type TestServer } from '../helpers/server.ts'

let server: TestServer
let workDir: string

const blocks = [...readFileSync('README.md', 'utf8').matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1])
const example = (marker: string) => {
  const block = blocks.find((text) => text.includes(marker))
  if (!block) throw new Error(`README has no sh block containing ${marker}`)
  return block
}

beforeAll(async () => {
  // As `npm start` runs: the trainer inside the API process.
  server = await startServer({ TRAINER: 'embedded' })
  workDir = mkdtempSync(path.join(os.tmpdir(), 'readme-'))
})
afterAll(async () => {
  await server?.close()
  rmSync(workDir, { recursive: true, force: true })
})

/** Runs a script asynchronously: the server answering it lives in this process. */
async function run(script: string): Promise<string> {
  const port = new URL(server.url).port
  const { stdout } = await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', script.replaceAll('localhost:4000', `127.0.0.1:${port}`)], {
    cwd: workDir,
    encoding: 'utf8',
  })
  return stdout
}

describe('README examples', () => {
  it('uses the token the test server is started with', () => {
    expect(example('AUTH=')).toContain(`Bearer ${tokens.alice}`)
  })

  it('runs the REST example: upload, train, status, logs, metrics, evaluation, checkpoints, events, list, tuning, predict, export, download, compare, stop, delete', {
    timeout: 180_000,
  }, async () => {
    const output = await run(example('AUTH='))
    const lines = output.split('\n')
    expect(lines[0]).toMatch(/^dataset-[a-z0-9]+$/)
    expect(lines[1]).toMatch(/^job-[a-z0-9]+$/)
    expect(output).toContain('"status":"completed"')
    expect(output).toContain('"logs":[')
    expect(output).toContain('"trainLoss":[')
    expect(output).toContain('"confusionMatrix":[')
    expect(output).toContain('"checkpoints":[')
    expect(output).toContain('event: job')
    expect(output).toMatch(/"pagination":\{"page":1,"limit":20,"total":1/)
    expect(output).toContain('"instanceTypes":[')
    expect(output).toContain('"differences":{')
    expect(output).toMatch(/"tuning":\{"id":"tuning-[a-z0-9]+".*"status":"completed","progress":\{"completedTrials":4,"totalTrials":4,"percentage":100/)
    expect(output).toMatch(/"bestTrial":\{"id":"trial-[a-z0-9]+"/)
    expect(output).toMatch(/"predictions":\[\{"label":"sports"/)
    expect(output).toMatch(/"export":\{"id":"export-[a-z0-9]+".*"status":"completed"/)
    expect(output).toMatch(/topics-cnn-onnx-int8\.onnx/)
    expect(output).toMatch(/"status":"(stopping|cancelled)"/)
    expect(output).toContain('"deleted":true')
    expect(output).not.toContain('"success":false')
  })

  it('runs the GraphQL example', async () => {
    const output = await run(example('jobs(first: 5)'))
    const body = JSON.parse(output)
    expect(body.errors).toBeUndefined()
    expect(body.data.viewer).toEqual({ name: 'alice', scopes: ['read', 'write'] })
    expect(body.data.instanceTypes.length).toBeGreaterThan(0)
  })
})
