// The contenders of bench/predict.ts, each answering batches of one model's
// raw inputs: the service's predict endpoint over HTTP, its predictor called
// in-process, the exported ONNX in onnxruntime-node (on pre-encoded tensors,
// or from the raw inputs), and the exported tfjs model. Every side's inputs are
// prepared before it is timed, as a client would hold them; each call returns
// the model's outputs row-major (class probabilities in label order, or values).
import http from 'node:http'
import * as tf from '@tensorflow/tfjs-core'
import * as tfl from '@tensorflow/tfjs-layers'
import { unzipSync } from 'fflate'
import pkg from 'onnx-proto'
import * as ort from 'onnxruntime-node'
import { encodeInputs, type Row } from '../trainer/data/index.ts'
import { preprocessingFromOnnxMetadata } from '../trainer/export/onnx.ts'
import '../trainer/ml/layers/index.ts'
import { tfjsRawInput } from '../test/helpers/models.ts'
import type { Preprocessing } from '../trainer/ml/types.ts'
import type { ModelRef, Prediction, Predictor } from '../trainer/serving.ts'

const { onnx } = pkg

export interface Side {
  label: string
  /** Callers that run at once, each with its own connection where there is one. */
  clients: number
  /** Answered by the service's process (whose CPU time is then worth reading). */
  remote: boolean
  run(batch: number, client: number): Promise<ArrayLike<number>>
  dispose(): Promise<void> | void
}

/** Predictions in the ONNX output's layout. */
function flatten(predictions: Prediction[], labels: string[] | null): number[] {
  return predictions.flatMap((p) =>
    labels ? labels.map((label) => ('probabilities' in p ? p.probabilities[label] : Number.NaN)) : ['value' in p ? p.value : Number.NaN],
  )
}

/** One keep-alive connection to the service: requests with an optional body, answers as text. */
function keepAliveClient(url: string, token: string) {
  const { hostname, port } = new URL(url)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  return {
    request: (method: string, path: string, body?: Buffer) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const headers: http.OutgoingHttpHeaders = { authorization: `Bearer ${token}` }
        if (body) Object.assign(headers, { 'content-type': 'application/json', 'content-length': body.length })
        const request = http.request({ hostname, port, agent, method, path, headers }, (response) => {
          const chunks: Buffer[] = []
          response.on('data', (chunk: Buffer) => chunks.push(chunk))
          response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() }))
          response.on('error', reject)
        })
        request.on('error', reject)
        request.end(body)
      }),
    close: () => agent.destroy(),
  }
}

/** POST /v1/training/jobs/{id}/predict with bodies serialized beforehand, one keep-alive connection per client. */
export function httpSide(options: {
  label: string
  url: string
  token: string
  jobId: string
  batches: unknown[][]
  labels: string[] | null
  clients: number
}): Side {
  const connections = Array.from({ length: options.clients }, () => keepAliveClient(options.url, options.token))
  const bodies = options.batches.map((inputs) => Buffer.from(JSON.stringify({ inputs })))
  return {
    label: options.label,
    clients: options.clients,
    remote: true,
    async run(batch, client) {
      const { status, text } = await connections[client].request('POST', `/v1/training/jobs/${options.jobId}/predict`, bodies[batch])
      if (status !== 200) throw new Error(`predict answered ${status}: ${text.slice(0, 300)}`)
      const predictions = (JSON.parse(text) as { data: { predictions: Prediction[] } }).data.predictions
      if (predictions.length !== options.batches[batch].length)
        throw new Error(`predict answered ${predictions.length} predictions for ${options.batches[batch].length} inputs`)
      return flatten(predictions, options.labels)
    },
    dispose: () => {
      for (const connection of connections) connection.close()
    },
  }
}

/** GET /v1/training/jobs/{id} (one prepared-SQL read): what any authenticated REST call costs here, without a model. */
export function jobReadSide(url: string, token: string, jobId: string): Side {
  const connection = keepAliveClient(url, token)
  return {
    label: 'HTTP GET job (no model)',
    clients: 1,
    remote: true,
    async run() {
      const { status, text } = await connection.request('GET', `/v1/training/jobs/${jobId}`)
      if (status !== 200) throw new Error(`job read answered ${status}: ${text.slice(0, 300)}`)
      return []
    },
    dispose: () => connection.close(),
  }
}

/** The service's predictor (trainer/serving.ts) in this process: checks, encoding, chunked inference; no HTTP, auth or database. */
export function predictorSide(predictor: Predictor, ref: ModelRef, batches: unknown[][], labels: string[] | null): Side {
  return {
    label: 'predictor in-process (no HTTP/DB)',
    clients: 1,
    remote: false,
    run: async (batch) => flatten((await predictor.predict(ref, batches[batch])).predictions, labels),
    dispose: () => undefined,
  }
}

export interface OnnxModel {
  session: ort.InferenceSession
  preprocessing: Preprocessing
}

/** An ONNX export in onnxruntime-node (default session options); its preprocessing comes from its own metadata_props. */
export async function loadOnnx(bytes: Uint8Array): Promise<OnnxModel> {
  const model = onnx.ModelProto.decode(bytes)
  const preprocessing = preprocessingFromOnnxMetadata(Object.fromEntries(model.metadataProps.map((prop) => [prop.key, prop.value])))
  return { session: await ort.InferenceSession.create(bytes), preprocessing }
}

/**
 * onnxruntime on a batch. `fromRaw`: the feeds are built from the raw inputs
 * in the call (tokenizing texts, packing pixels and features), the work the
 * predict endpoint does too; otherwise they are built once beforehand.
 */
export function onnxSide(label: string, { session, preprocessing }: OnnxModel, batches: unknown[][], fromRaw: boolean): Side {
  const feeds = (items: unknown[]) => onnxFeeds(preprocessing, items, session.inputNames[0])
  const prepared = fromRaw ? [] : batches.map(feeds)
  const output = session.outputNames[0]
  return {
    label,
    clients: 1,
    remote: false,
    async run(batch) {
      const result = await session.run(fromRaw ? feeds(batches[batch]) : prepared[batch])
      return result[output].data as Float32Array
    },
    dispose: () => session.release(),
  }
}

/** onnxruntime feeds from raw inputs, as the export's metadata documents them (test/training/export.test.ts); text and image models take one input. */
function onnxFeeds(preprocessing: Preprocessing, items: unknown[], firstInput: string): Record<string, ort.Tensor> {
  const count = items.length
  if (preprocessing.kind === 'text') {
    const { x } = encodeInputs(
      preprocessing,
      items.map((text) => ({ [preprocessing.textColumn]: text as string })),
    )
    const ids = new BigInt64Array(x.length)
    for (let i = 0; i < x.length; i++) ids[i] = BigInt(x[i])
    return { [firstInput]: new ort.Tensor('int64', ids, [count, preprocessing.maxSequenceLength]) }
  }
  if (preprocessing.kind === 'image') {
    return {
      [firstInput]: new ort.Tensor('float32', packRows(items as number[][], preprocessing.pixelColumns.length), [count, preprocessing.pixelColumns.length]),
    }
  }
  const rows = items as Record<string, unknown>[]
  const numeric = preprocessing.features.filter((feature) => feature.type === 'numeric')
  const categorical = preprocessing.features.filter((feature) => feature.type === 'categorical')
  const feeds: Record<string, ort.Tensor> = {}
  if (numeric.length > 0)
    feeds.numeric = new ort.Tensor(
      'float32',
      packRows(
        rows.map((row) => numeric.map((f) => Number(row[f.column]))),
        numeric.length,
      ),
      [count, numeric.length],
    )
  if (categorical.length > 0)
    feeds.categorical = new ort.Tensor(
      'string',
      rows.flatMap((row) => categorical.map((f) => String(row[f.column] ?? ''))),
      [count, categorical.length],
    )
  return feeds
}

/**
 * Rows of numbers in one Float32Array, as a client that cares would pack them:
 * `Float32Array.from(rows.flat())` takes ~15 ms for 64 images of 784 pixels
 * here, a copy per row well under 1 ms.
 */
function packRows(rows: number[][], width: number): Float32Array {
  const packed = new Float32Array(rows.length * width)
  for (const [r, row] of rows.entries()) packed.set(row, r * width)
  return packed
}

/** The tfjs export's archive loaded with tf.loadLayersModel, as a TF.js user would; its input tensors built once. */
export async function tfjsSide(zip: Uint8Array, batches: unknown[][]): Promise<Side> {
  const files = unzipSync(zip)
  const modelJson = JSON.parse(new TextDecoder().decode(files['model.json'])) as {
    modelTopology: object
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[]
  }
  const weightSpecs = modelJson.weightsManifest.flatMap((group) => group.weights)
  const shards = modelJson.weightsManifest.flatMap((group) => group.paths.map((p) => files[p]))
  const weightData = new Uint8Array(shards.reduce((n, shard) => n + shard.length, 0))
  let offset = 0
  for (const shard of shards) {
    weightData.set(shard, offset)
    offset += shard.length
  }
  const model = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs, weightData: weightData.buffer }))
  const preprocessing = (JSON.parse(new TextDecoder().decode(files['preprocessing.json'])) as { preprocessing: Preprocessing }).preprocessing
  const shape = model.inputs[0].shape.slice(1) as number[]
  const inputs = batches.map((items) => tfjsRawInput(preprocessing, rowsOf(preprocessing, items), shape))
  return {
    label: 'tfjs export (wasm)',
    clients: 1,
    remote: false,
    async run(batch) {
      // tfjs-layers splits predict into batches of 32 unless told otherwise; the service passes the whole chunk too.
      const output = model.predict(inputs[batch], { batchSize: batches[batch].length }) as tf.Tensor
      try {
        return (await output.data()) as Float32Array
      } finally {
        output.dispose()
      }
    },
    dispose() {
      for (const input of inputs) input.dispose()
      model.dispose()
    },
  }
}

/** Raw inputs as predict takes them (texts, pixel arrays, feature objects) as rows by column. */
function rowsOf(preprocessing: Preprocessing, items: unknown[]): Row[] {
  if (preprocessing.kind === 'text') return items.map((text) => ({ [preprocessing.textColumn]: text as string }))
  if (preprocessing.kind === 'image')
    return (items as number[][]).map((pixels) => Object.fromEntries(preprocessing.pixelColumns.map((column, i) => [column, pixels[i]])))
  return items as Row[]
}
