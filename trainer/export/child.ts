// One export in its own process (forked by trainer/export/runner.ts): loads
// the checkpoint, writes the requested file atomically, and reports what it
// wrote. Exports load TensorFlow.js and run for a while on the CPU; a process
// keeps that off the trainer's event loop, and a crash fails only the export.
import { createHash } from 'node:crypto'
import { readFile, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { ExportFormat, ExportMetadata, ExportOptions } from '../../src/domain/exports.ts'
import { selectBackend } from '../ml/backend.ts'
import { loadModelFromCheckpoint, readCheckpointState } from '../ml/checkpoint.ts'
import type { Preprocessing } from '../ml/types.ts'
import { exportOnnx, onnxUnsupported } from './onnx.ts'
import { exportTfjs, tfjsUnsupported } from './tfjs.ts'

export interface ExportSpec {
  format: ExportFormat
  options: ExportOptions
  /** Absolute checkpoint folder; the job's preprocessing.json sits in its parent. */
  checkpointDir: string
  /** Absolute path of the file to write. */
  outFile: string
  backend: string | null
  task: string
  /** metadata_props / archive metadata: job id, export id, ... */
  metadata: Record<string, string>
}

export type ExportResult = { ok: true; sizeBytes: number; sizeBeforeBytes: number; checksum: string; metadata: ExportMetadata } | { ok: false; message: string }

async function run(spec: ExportSpec): Promise<ExportResult> {
  const started = Date.now()
  await selectBackend(spec.backend ? { prefer: spec.backend } : undefined)
  const preprocessing = JSON.parse(await readFile(path.join(path.dirname(spec.checkpointDir), 'preprocessing.json'), 'utf8')) as Preprocessing
  const state = await readCheckpointState(spec.checkpointDir)
  const model = await loadModelFromCheckpoint(spec.checkpointDir)
  const unsupported = spec.format === 'onnx' ? onnxUnsupported(model) : tfjsUnsupported(model)
  if (unsupported) return { ok: false, message: `this model cannot be exported as ${spec.format}: ${unsupported}` }
  const quantize = spec.options.quantization
  const produce = async (optimize: boolean, quantization: ExportOptions['quantization']) => {
    if (spec.format === 'onnx') {
      const out = exportOnnx(model, preprocessing, { optimize, quantize: quantization, metadata: spec.metadata })
      return { bytes: out.bytes, inputs: out.inputs, outputs: out.outputs, extra: { opset: out.opset } }
    }
    const out = await exportTfjs(model, preprocessing, { optimize, quantize: quantization, metadata: spec.metadata })
    return { bytes: out.archive, inputs: out.inputs, outputs: out.outputs, extra: { files: out.files } }
  }
  const wanted = await produce(spec.options.optimize, quantize)
  // The same model unoptimized in float32: what optimize and quantize saved.
  const plain = spec.options.optimize || quantize ? (await produce(false, null)).bytes.length : wanted.bytes.length
  const partial = `${spec.outFile}.partial`
  await writeFile(partial, wanted.bytes)
  await rename(partial, spec.outFile)
  return {
    ok: true,
    sizeBytes: wanted.bytes.length,
    sizeBeforeBytes: plain,
    checksum: createHash('sha256').update(wanted.bytes).digest('hex'),
    metadata: {
      inputs: wanted.inputs,
      outputs: wanted.outputs,
      task: spec.task,
      labels: preprocessing.labels ?? null,
      ...wanted.extra,
      checkpointStep: state.step,
      durationMs: Date.now() - started,
    },
  }
}

process.once('message', (spec: ExportSpec) => {
  run(spec)
    .catch((error: unknown): ExportResult => ({ ok: false, message: error instanceof Error ? error.message : String(error) }))
    .then((result) => process.send?.(result, () => process.exit(0)))
})
