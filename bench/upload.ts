// Upload: a generated 200 MB CSV uploaded through REST. Ingest MB/s (upload,
// parse, type inference, store) next to `cp` of the same file in the same
// run, and the server's peak RSS growth during the upload.
//   npm run bench:upload [-- --mb 200 --rounds 3]
import { execFileSync } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, openAsBlob, rmSync, statSync } from 'node:fs'
import path from 'node:path'
import { once } from 'node:events'
import { machine, median, numberOption, rssBytes, spawnService, table } from './lib.ts'

const megabytes = numberOption('mb', 200)
const rounds = numberOption('rounds', 3)
const out = path.resolve('bench/out')
const csv = path.join(out, `upload-${megabytes}mb.csv`)
mkdirSync(out, { recursive: true })

/** Text, integer, float, boolean and label columns, like a labelled text dataset. */
async function generate(file: string, bytes: number) {
  if (existsSync(file) && statSync(file).size >= bytes) return
  const stream = createWriteStream(file)
  stream.write('id,text,score,ratio,flag,label\n')
  const words = ['训练', 'model', '数据', 'loss', 'great', 'fast', '评估', 'batch', 'token', '梯度']
  let written = 0
  for (let i = 0; written < bytes; i++) {
    const text = Array.from({ length: 8 }, (_, k) => words[(i * 7 + k * 3) % words.length]).join(' ')
    const line = `${i},"${text}",${i % 100},${(i % 1000) / 7},${i % 2 === 0},${['a', 'b', 'c'][i % 3]}\n`
    written += Buffer.byteLength(line)
    if (!stream.write(line)) await once(stream, 'drain')
  }
  stream.end()
  await once(stream, 'finish')
}

await generate(csv, megabytes * 1024 * 1024)
const size = statSync(csv).size
const mb = size / (1024 * 1024)

const copySeconds: number[] = []
for (let round = 0; round < rounds; round++) {
  const target = path.join(out, 'copy.csv')
  const started = performance.now()
  execFileSync('cp', [csv, target])
  copySeconds.push((performance.now() - started) / 1000)
  rmSync(target)
}

const dataDir = path.join(out, 'upload-data')
rmSync(dataDir, { recursive: true, force: true })
const token = 'bench-upload'
const service = await spawnService('src/main.ts', { DATA_DIR: dataDir, API_TOKENS: `bench:${token}`, MAX_UPLOAD_BYTES: String(2 * size), RATE_LIMIT: 'off' })
const pid = service.child.pid!
const uploadSeconds: number[] = []
const rssGrowth: number[] = []
try {
  const upload = async (file: string, name: string) => {
    const form = new FormData()
    for (const [key, value] of Object.entries({ name, type: 'text', format: 'csv' })) form.append(key, value)
    form.append('file', await openAsBlob(file), path.basename(file))
    const response = await fetch(`${service.url}/v1/training/datasets`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form })
    const body = (await response.json()) as { data?: { dataset: { rowCount: number; id: string } } }
    if (response.status !== 201) throw new Error(`upload failed: ${response.status} ${JSON.stringify(body)}`)
    return body.data!.dataset
  }
  // Warm-up: JIT and lazy modules, so the baseline RSS is the steady state.
  const small = path.join(out, 'warmup.csv')
  execFileSync('sh', ['-c', `head -c 2000000 ${csv} | head -n -1 > ${small}`])
  await upload(small, 'warm-up')

  for (let round = 0; round < rounds; round++) {
    global.gc?.()
    const baseline = rssBytes(pid)
    let peak = baseline
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssBytes(pid))
    }, 20)
    const started = performance.now()
    const dataset = await upload(csv, `big-${round}`)
    uploadSeconds.push((performance.now() - started) / 1000)
    clearInterval(sampler)
    peak = Math.max(peak, rssBytes(pid))
    rssGrowth.push(peak - baseline)
    console.error(
      `round ${round + 1}/${rounds}: ${(mb / uploadSeconds.at(-1)!).toFixed(1)} MB/s, ${dataset.rowCount} rows, RSS +${((peak - baseline) / 2 ** 20).toFixed(1)} MB`,
    )
  }
} finally {
  await service.stop()
  rmSync(dataDir, { recursive: true, force: true })
}

const ingest = mb / median(uploadSeconds)
const copy = mb / median(copySeconds)
console.log(`Upload ingest — ${machine()}`)
console.log(`${mb.toFixed(0)} MB CSV (${size} bytes), median of ${rounds} rounds; the service in its own process, RSS sampled every 20 ms.\n`)
console.log(
  table(
    ['what', 'MB/s (median)', 'ratio to cp', 'peak RSS growth MB (median / max)'],
    [
      ['cp of the file', copy.toFixed(0), '1.00', '-'],
      [
        'POST /v1/training/datasets (upload, parse, infer, store)',
        ingest.toFixed(1),
        (ingest / copy).toFixed(3),
        `${(median(rssGrowth) / 2 ** 20).toFixed(1)} / ${(Math.max(...rssGrowth) / 2 ** 20).toFixed(1)}`,
      ],
    ],
  ),
)
