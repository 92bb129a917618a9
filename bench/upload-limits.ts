// Upload limits (issue 11): how soon the service refuses each hostile upload
// that used to wedge it (a CSV of a million columns, JSON rows of a million
// keys, JSON nested 100k deep), and how long its event loop stalls meanwhile,
// next to normal uploads (a 200 MB CSV, a 50 MB JSON Lines file). The service
// runs in its own process with perf_hooks' monitorEventLoopDelay on (read over
// IPC after each upload); this process also asks GET /healthz every 20 ms
// during each upload and reports the latencies.
//   npm run bench:upload-limits [-- --mb 200 --json-mb 50]
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, openAsBlob, rmSync, statSync } from 'node:fs'
import { once } from 'node:events'
import path from 'node:path'
import readline from 'node:readline'
import { pathToFileURL } from 'node:url'
import { machine, numberOption, table } from './lib.ts'

const csvMegabytes = numberOption('mb', 200)
const jsonMegabytes = numberOption('json-mb', 50)
const out = path.resolve('bench/out')
mkdirSync(out, { recursive: true })

// ---------------------------------------------------------------------------
// Files

/** Writes `lines()` to `file` until it holds `bytes` (or the lines end); kept between runs. */
async function writeLines(file: string, bytes: number, lines: (i: number) => string | undefined): Promise<string> {
  if (existsSync(file) && statSync(file).size >= (bytes === Number.POSITIVE_INFINITY ? 1 : bytes)) return file
  const stream = createWriteStream(file)
  let written = 0
  for (let i = 0; written < bytes; i++) {
    const line = lines(i)
    if (line === undefined) break
    written += Buffer.byteLength(line)
    if (!stream.write(line)) await once(stream, 'drain')
  }
  stream.end()
  await once(stream, 'finish')
  return file
}

const words = ['训练', 'model', '数据', 'loss', 'great', 'fast', '评估', 'batch', 'token', '梯度']
const textOf = (i: number) => Array.from({ length: 8 }, (_, k) => words[(i * 7 + k * 3) % words.length]).join(' ')

/** The lines of bench/upload.ts's file: text, integer, float, boolean and label columns. */
const csvLine = (i: number) =>
  i === 0 ? 'id,text,score,ratio,flag,label\n' : `${i},"${textOf(i)}",${i % 100},${(i % 1000) / 7},${i % 2 === 0},${['a', 'b', 'c'][i % 3]}\n`
const normalCsv = (bytes: number) => writeLines(path.join(out, `upload-${csvMegabytes}mb.csv`), bytes, csvLine)

const normalJsonl = (bytes: number) =>
  writeLines(
    path.join(out, `upload-${jsonMegabytes}mb.jsonl`),
    bytes,
    (i) =>
      `${JSON.stringify({ id: i, text: textOf(i), score: i % 100, ratio: (i % 1000) / 7, flag: i % 2 === 0, tags: ['a', 'b'], label: ['a', 'b', 'c'][i % 3] })}\n`,
  )

const wideObject = (keys: number) => JSON.stringify(Object.fromEntries(Array.from({ length: keys }, (_, i) => [`k${i}`, i])))
const deepObject = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`

interface Case {
  name: string
  format: 'csv' | 'json'
  file: () => Promise<string>
}

const hostile: Case[] = [
  {
    name: 'CSV, 1,000,000 columns (header and one row)',
    format: 'csv',
    file: () =>
      writeLines(path.join(out, 'hostile-1e6-columns.csv'), Number.POSITIVE_INFINITY, (i) =>
        i === 0 ? `${Array.from({ length: 1e6 }, (_, c) => `c${c}`).join(',')}\n` : i === 1 ? `${Array(1e6).fill('1').join(',')}\n` : undefined,
      ),
  },
  {
    name: 'JSON Lines, 1,000,000 keys per row (2 rows)',
    format: 'json',
    file: () => writeLines(path.join(out, 'hostile-1e6-keys.jsonl'), Number.POSITIVE_INFINITY, (i) => (i < 2 ? `${wideObject(1e6)}\n` : undefined)),
  },
  {
    name: 'JSON array of 200,000-key objects (10)',
    format: 'json',
    file: () => {
      const element = wideObject(2e5)
      return writeLines(path.join(out, 'hostile-2e5-key-objects.json'), Number.POSITIVE_INFINITY, (i) =>
        i < 10 ? `${i === 0 ? '[' : ','}${element}` : i === 10 ? ']' : undefined,
      )
    },
  },
  {
    name: 'JSON array nested 100,000 deep',
    format: 'json',
    file: () =>
      writeLines(path.join(out, 'hostile-nested.json'), Number.POSITIVE_INFINITY, (i) => (i === 0 ? `${'['.repeat(1e5)}${']'.repeat(1e5)}` : undefined)),
  },
  {
    name: 'JSON Lines of objects nested 10,000 deep (200 rows)',
    format: 'json',
    file: () => writeLines(path.join(out, 'hostile-deep.jsonl'), Number.POSITIVE_INFINITY, (i) => (i < 200 ? `${deepObject(1e4)}\n` : undefined)),
  },
]

// ---------------------------------------------------------------------------
// The service, with its event loop's delay measured inside it

interface LoopDelay {
  p50: number
  p99: number
  max: number
}

// Runs src/main.ts after turning the histogram on; 'read' over IPC answers its figures (ms) and resets it.
const serviceCode = `
import { monitorEventLoopDelay } from 'node:perf_hooks'
const histogram = monitorEventLoopDelay({ resolution: 5 })
histogram.enable()
process.on('message', (message) => {
  if (message !== 'read') return
  const ms = (ns) => ns / 1e6
  process.send({ p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) })
  histogram.reset()
})
await import(${JSON.stringify(pathToFileURL(path.resolve('src/main.ts')).href)})
`

async function startService(env: Record<string, string>): Promise<{ url: string; child: ChildProcess; readDelay: () => Promise<LoopDelay> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', serviceCode], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  })
  const lines = readline.createInterface({ input: child.stdout! })
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the service exited with ${code} before it was ready`)))
    lines.on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as { url?: string }
        if (parsed.url) resolve(parsed.url)
      } catch {
        // not a JSON log line
      }
    })
  })
  const readDelay = () =>
    new Promise<LoopDelay>((resolve) => {
      child.once('message', (message) => resolve(message as LoopDelay))
      child.send('read')
    })
  return { url, child, readDelay }
}

// ---------------------------------------------------------------------------
// Measuring one upload

/** GET /healthz every 20 ms (one at a time) until stopped; the latencies in ms. */
function sampleHealth(url: string): () => Promise<number[]> {
  const latencies: number[] = []
  let running = true
  const loop = (async () => {
    while (running) {
      const started = performance.now()
      const response = await fetch(`${url}/healthz`)
      await response.arrayBuffer()
      latencies.push(performance.now() - started)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })()
  return async () => {
    running = false
    await loop
    return latencies
  }
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}

interface Measured {
  name: string
  megabytes: number
  answer: string
  seconds: number
  health: number[]
  loop: LoopDelay
}

async function measure(service: Awaited<ReturnType<typeof startService>>, token: string, upload: Case): Promise<Measured> {
  const file = await upload.file()
  const form = new FormData()
  for (const [key, value] of Object.entries({ name: 'bench', type: 'text', format: upload.format })) form.append(key, value)
  form.append('file', await openAsBlob(file), path.basename(file))
  await service.readDelay()
  const stopSampling = sampleHealth(service.url)
  const started = performance.now()
  let answer: string
  try {
    const response = await fetch(`${service.url}/v1/training/datasets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: form,
      signal: AbortSignal.timeout(120_000),
    })
    const body = (await response.json()) as { error?: { code: string; message: string } }
    answer = body.error
      ? `${response.status} ${body.error.code}: ${body.error.message.replace(/^Invalid parameters \(file: (.*)\)$/, '$1')}`
      : String(response.status)
  } catch (error) {
    answer = `no answer (${(error as Error).name})`
  }
  const seconds = (performance.now() - started) / 1000
  const health = await stopSampling()
  const loop = await service.readDelay()
  const result = { name: upload.name, megabytes: statSync(file).size / 2 ** 20, answer, seconds, health, loop }
  console.error(`${upload.name}: ${answer.slice(0, 100)} in ${seconds.toFixed(2)} s, loop max ${loop.max.toFixed(1)} ms`)
  return result
}

// ---------------------------------------------------------------------------

const csvBytes = csvMegabytes * 2 ** 20
const normal: Case[] = [
  { name: `normal CSV, ${csvMegabytes} MB`, format: 'csv', file: () => normalCsv(csvBytes) },
  { name: `normal JSON Lines, ${jsonMegabytes} MB`, format: 'json', file: () => normalJsonl(jsonMegabytes * 2 ** 20) },
]
for (const upload of [...normal, ...hostile]) await upload.file()

const dataDir = path.join(out, 'upload-limits-data')
rmSync(dataDir, { recursive: true, force: true })
const token = 'bench-upload-limits'
const service = await startService({
  DATA_DIR: dataDir,
  API_TOKENS: `bench:${token}`,
  MAX_UPLOAD_BYTES: String(Math.max(2 * csvBytes, 512 * 2 ** 20)),
  RATE_LIMIT: 'off',
  TRAINER: 'off',
})
const results: Measured[] = []
let datasetsLeft = Number.NaN
try {
  // warm-up: JIT and lazy modules
  await measure(service, token, { name: 'warm-up', format: 'csv', file: () => writeLines(path.join(out, 'warmup-small.csv'), 1e6, csvLine) })
  for (const upload of [...normal, ...hostile]) results.push(await measure(service, token, upload))
  const list = (await (await fetch(`${service.url}/v1/training/datasets?limit=100`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
    data: { pagination: { total: number } }
  }
  datasetsLeft = list.data.pagination.total
} finally {
  service.child.kill('SIGTERM')
  await once(service.child, 'exit')
  rmSync(dataDir, { recursive: true, force: true })
}

const ms = (value: number) => value.toFixed(1)
console.log(`Upload limits — ${machine()}`)
console.log(
  'Each upload through POST /v1/training/datasets (multipart), the service in its own process with the default limits; GET /healthz every 20 ms from the bench process during the upload; the event loop delay measured inside the service (perf_hooks monitorEventLoopDelay, 5 ms resolution).\n',
)
console.log(
  table(
    ['upload', 'MB', 'answer', 'time to answer s', 'healthz p50 / p99 / max ms (n)', 'service loop delay p99 / max ms'],
    results.map((r) => [
      r.name,
      r.megabytes.toFixed(1),
      r.answer.length > 90 ? `${r.answer.slice(0, 90)}…` : r.answer,
      r.seconds.toFixed(2),
      `${ms(percentile(r.health, 50))} / ${ms(percentile(r.health, 99))} / ${ms(Math.max(...r.health))} (${r.health.length})`,
      `${ms(r.loop.p99)} / ${ms(r.loop.max)}`,
    ]),
  ),
)
console.log(`\nDatasets stored afterwards: ${datasetsLeft} (the warm-up and the ${normal.length} normal uploads; nothing from a refused one).`)
