// A running job's live figures, from the messages its training process
// sends: step, epoch and percentage, latest metrics, throughput measured over
// this attempt, and the completion time and cost that follow from it;
// resources (CPU, memory, GPU) as the process measures them. The heartbeat
// writes `fields()` to the job row about once a second.
import { execFile } from 'node:child_process'
import type { Job, Prisma } from '../../src/infra/db.ts'
import type { InstanceType } from '../../src/domain/instance-types.ts'
import { jobMetricsOf } from '../../src/domain/json-columns.ts'
import type { ChildMessage } from '../worker/protocol.ts'
import type { Metrics } from '../ml/types.ts'

type StepMessage = Extract<ChildMessage, { type: 'step' }>
type ResourcesMessage = Extract<ChildMessage, { type: 'resources' }>

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits

export function createProgress(
  job: Pick<Job, 'metrics' | 'totalSteps' | 'step' | 'startedAt' | 'instanceCount'>,
  epochs: number,
  instanceType: InstanceType | undefined,
) {
  const live: Prisma.JobUpdateManyMutationInput = {}
  const metrics: Metrics = { ...(jobMetricsOf(job) ?? {}) }
  let totalSteps = job.totalSteps ?? 0
  let position = { step: job.step ?? 0, epoch: 0 }
  let rate: { fromStep: number; fromAt: number; samples: number } | undefined

  /** Throughput over this attempt, validation passes included, so that the estimate holds for the rest. */
  function measure(message: StepMessage) {
    if (!rate) rate = { fromStep: message.step, fromAt: message.at, samples: 0 }
    else rate.samples += message.samples
    const seconds = (message.at - rate.fromAt) / 1000
    const stepsPerSecond = seconds > 0 ? (message.step - rate.fromStep) / seconds : 0
    if (seconds < 1 || stepsPerSecond <= 0) return
    live.samplesPerSecond = rate.samples / seconds
    const completion = Date.now() + ((totalSteps - message.step) / stepsPerSecond) * 1000
    live.estimatedCompletionTime = new Date(completion)
    if (instanceType && job.startedAt) {
      live.estimatedCost = (instanceType.pricePerHour * job.instanceCount * (completion - job.startedAt.getTime())) / 3_600_000
    }
  }

  return {
    step(message: StepMessage) {
      position = { step: message.step, epoch: message.epoch }
      Object.assign(metrics, message.metrics)
      live.step = message.step
      live.epoch = Math.min(epochs, Math.floor(message.epoch) + (Number.isInteger(message.epoch) ? 0 : 1))
      live.percentage = totalSteps > 0 ? Math.min(100, (message.step / totalSteps) * 100) : 0
      measure(message)
    },

    validation(values: Metrics) {
      Object.assign(metrics, values)
    },

    resources(message: ResourcesMessage) {
      live.cpuUtilization = message.cpuUtilization === null ? null : round(message.cpuUtilization, 1)
      live.memoryUsage = message.memoryUsage === null ? null : round(message.memoryUsage, 1)
    },

    backend(name: string) {
      live.backend = name
    },

    gpu(utilization: number | null) {
      live.gpuUtilization = utilization
    },

    /** The data split the process made may give another step count than the estimate. */
    totalSteps(count: number) {
      if (count === totalSteps) return
      totalSteps = count
      live.totalSteps = count
    },

    /** The latest training metrics (as the epoch's log line shows them). */
    trainingMetrics(): Metrics {
      return Object.fromEntries(Object.entries(metrics).filter(([name]) => name.startsWith('train')))
    },

    /** Where training last was: for log lines about the end. */
    position(): { step: number; epoch: number } {
      return position
    },

    /** What the heartbeat (and the end) write to the job row. */
    fields(): Prisma.JobUpdateManyMutationInput {
      return { ...live, metrics: { ...metrics } }
    },
  }
}

export type Progress = ReturnType<typeof createProgress>

/** GPU utilization in percent from nvidia-smi (only sampled on a GPU backend); null when it cannot be read. */
export async function sampleGpuUtilization(): Promise<number | null> {
  return new Promise((resolve) => {
    execFile('nvidia-smi', ['--query-gpu=utilization.gpu', '--format=csv,noheader,nounits'], { timeout: 2000 }, (error, stdout) => {
      const value = error ? Number.NaN : Number(stdout.split('\n')[0])
      resolve(Number.isFinite(value) ? value : null)
    })
  })
}
