// Messages between the trainer (parent) and the child process that trains
// one job. Structured-clone serialization: plain data only.
import type { CheckpointInfo, EvaluationResult, JobConfig, LogLevel, Metrics } from '../ml/types.ts'

export interface TrainingSpec {
  jobId: string
  config: JobConfig
  dataset: {
    id: string
    /** Absolute path of the stored file. */
    file: string
    format: string
    columns: string[]
    metadata: Record<string, unknown> | null
  }
  /** Absolute folder for this job's checkpoints. */
  checkpointDir: string
  /** A checkpoint folder of this job to continue from (retry or recovery). */
  resumeFrom: string | null
  /** A checkpoint folder of another job to start from (fine-tuning). */
  initFrom: string | null
  /** Force a TensorFlow.js backend (TRAINER_BACKEND); null picks the fastest present. */
  backend: string | null
  /** The instance type's vCPUs: CPU utilization is a share of these. */
  vcpus: number
  /** The instance type's memory; memoryUsage is a share of it. */
  memoryLimitBytes: number
}

export type ParentMessage = { type: 'start'; spec: TrainingSpec } | { type: 'stop'; reason: 'stop' | 'timeout' }

export type ChildMessage =
  | { type: 'backend'; name: string; gpu: boolean; float16: boolean; fallbackKernels: string[] }
  | { type: 'log'; level: LogLevel; message: string; step?: number; epoch?: number; metrics?: Metrics; at: number }
  | { type: 'step'; step: number; epoch: number; metrics: Metrics; samples: number; at: number }
  /** Step reports of the last ~100 ms, in order. */
  | { type: 'steps'; steps: { type: 'step'; step: number; epoch: number; metrics: Metrics; samples: number; at: number }[] }
  | { type: 'validation'; step: number; epoch: number; metrics: Metrics; at: number }
  | { type: 'checkpoint'; info: CheckpointInfo }
  | { type: 'resources'; cpuUtilization: number | null; memoryUsage: number | null; memoryBytes: number; gpuUtilization: number | null }
  | { type: 'data'; train: number; validation: number; test: number; totalSteps: number }
  | { type: 'done'; outcome: 'completed' | 'early-stopped' | 'stopped' | 'timeout'; step: number; evaluation: EvaluationResult | null }
  | { type: 'failed'; message: string; badInput: boolean }
