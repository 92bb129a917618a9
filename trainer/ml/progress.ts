// Where a training run stands. The loop advances one TrainProgress in place and
// hands the same object to its callbacks (checkpointer, early stopping), so a
// step allocates nothing for them.
import type { Metrics } from './types.ts'

export interface TrainProgress {
  /** Optimizer updates completed. */
  step: number
  /** The epoch (0-based) training is in, and how many of its batches are done. */
  epoch: number
  batchInEpoch: number
  /** Batches in one epoch. */
  readonly perEpoch: number
  /** Latest training metrics (every step) and validation metrics (every epoch). */
  trainMetrics: Metrics
  validationMetrics: Metrics
}

/** Fractional epochs completed (what step reports and CheckpointInfo.epoch say). */
export function epochsCompleted(progress: TrainProgress): number {
  return progress.epoch + progress.batchInEpoch / progress.perEpoch
}
