// Model exports (spec §5): the request, its effective options, and the JSON
// shape of an export, shared by the API and the trainer's export runner.
import { z } from 'zod'
import type { Export } from '../infra/db.ts'
import { exportFormats } from './job-config.ts'
import { exportMetadataOf, exportRowOptionsOf } from './json-columns.ts'

export type ExportFormat = (typeof exportFormats)[number]
export const quantizationTypes = ['int8', 'float16'] as const
export type QuantizationType = (typeof quantizationTypes)[number]

export const createExportSchema = z
  .strictObject({
    format: z.enum(exportFormats, `must be one of ${exportFormats.join(', ')}`),
    options: z
      .strictObject({
        optimize: z.boolean('must be true or false').optional(),
        quantize: z.boolean('must be true or false').optional(),
        quantizationType: z.enum(quantizationTypes, `must be one of ${quantizationTypes.join(', ')}`).optional(),
      })
      .optional(),
  })
  .superRefine((body, ctx) => {
    if (body.options?.quantizationType !== undefined && body.options.quantize === false) {
      ctx.addIssue({ code: 'custom', path: ['options', 'quantizationType'], message: 'applies only with quantize: true' })
    }
  })

export interface ExportOptions {
  optimize: boolean
  /** null: float32 weights. */
  quantization: QuantizationType | null
}

/** Defaults: optimized, float32; `quantize: true` alone means int8 (the spec's example). */
export function exportOptionsOf(body: z.output<typeof createExportSchema>): ExportOptions {
  const options = body.options ?? {}
  const quantize = options.quantize ?? options.quantizationType !== undefined
  return { optimize: options.optimize ?? true, quantization: quantize ? (options.quantizationType ?? 'int8') : null }
}

export const exportStatuses = ['processing', 'completed', 'failed'] as const
export type ExportStatus = (typeof exportStatuses)[number]

export const fileExtensions: Record<ExportFormat, string> = { onnx: 'onnx', tfjs: 'zip' }
export const contentTypes: Record<ExportFormat, string> = { onnx: 'application/octet-stream', tfjs: 'application/zip' }

export interface TensorDoc {
  name: string
  dtype: string
  shape: (number | string)[]
  description: string
}

/** What the runner records about a finished export (Export.metadata). */
export interface ExportMetadata {
  inputs: TensorDoc[]
  outputs: TensorDoc[]
  task: string
  labels: string[] | null
  /** onnx: opset; tfjs: files in the archive. */
  opset?: number
  files?: string[]
  checkpointStep: number
  durationMs: number
}

export interface ExportView {
  id: string
  jobId: string
  format: ExportFormat
  status: ExportStatus
  options: { optimize: boolean; quantize: boolean; quantizationType: QuantizationType | null }
  /** Seconds the export was expected to take when it was asked for. */
  estimatedTime: number | null
  checkpointId: string | null
  fileName: string | null
  /** Bytes of the file; sizeBeforeBytes: the same model unoptimized in float32, for comparison. */
  sizeBytes: number | null
  sizeBeforeBytes: number | null
  checksum: string | null
  metadata: ExportMetadata | null
  downloadUrl: string | null
  error: { code: string; message: string } | null
  createdAt: string
  startedAt: string | null
  completedAt: string | null
  updatedAt: string
}

const iso = (date: Date | null) => (date ? date.toISOString() : null)

export function exportView(row: Export): ExportView {
  const options = exportRowOptionsOf(row)
  return {
    id: row.id,
    jobId: row.jobId,
    format: row.format as ExportFormat,
    status: row.status as ExportStatus,
    options: { optimize: options.optimize, quantize: options.quantization !== null, quantizationType: options.quantization },
    estimatedTime: row.estimatedTime,
    checkpointId: row.checkpointId,
    fileName: row.fileName,
    sizeBytes: row.sizeBytes === null ? null : Number(row.sizeBytes),
    sizeBeforeBytes: row.sizeBeforeBytes === null ? null : Number(row.sizeBeforeBytes),
    checksum: row.checksum ? `sha256:${row.checksum}` : null,
    metadata: exportMetadataOf(row),
    downloadUrl: row.status === 'completed' ? `/v1/training/jobs/${row.jobId}/exports/${row.id}/download` : null,
    error: row.errorCode ? { code: row.errorCode, message: row.errorMessage ?? '' } : null,
    createdAt: row.createdAt.toISOString(),
    startedAt: iso(row.startedAt),
    completedAt: iso(row.completedAt),
    updatedAt: row.updatedAt.toISOString(),
  }
}
