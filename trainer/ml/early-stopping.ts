// Early stopping, as a callback of the training loop (tfjs-layers' EarlyStopping
// in spirit): it watches one validation metric, judges each epoch's value
// against the best so far, counts the epochs without improvement and ends
// training when they reach the patience. Its judgement also decides the best
// checkpoint, so it judges even when early stopping is off.
import type { CheckpointState } from './checkpoint.ts'
import type { TrainProgress } from './progress.ts'
import type { JobConfig, Metrics, TrainingReporter } from './types.ts'

/** What early stopping adds to a checkpoint's state, and takes back from it on resume. */
export type EarlyStoppingState = Pick<CheckpointState, 'monitor' | 'bestValue' | 'epochsWithoutImprovement'>

export interface EarlyStoppingOptions {
  /** The validation metric watched, e.g. valLoss. */
  monitor: string
  /** Whether a larger value is better (valAccuracy) rather than a smaller one. */
  higherIsBetter: boolean
  /** An improvement must beat the best by more than this. */
  minDelta: number
  /** Epochs without improvement that end training. */
  patience: number
  /** Whether training ends when patience runs out; off, the object still judges. */
  enabled: boolean
}

export class EarlyStopping {
  readonly monitor: string
  private readonly options: EarlyStoppingOptions
  private readonly reporter: Pick<TrainingReporter, 'log'>
  private bestValue: number | null = null
  private epochsWithoutImprovement = 0

  constructor(options: EarlyStoppingOptions, reporter: Pick<TrainingReporter, 'log'>) {
    this.options = options
    this.monitor = options.monitor
    this.reporter = reporter
  }

  /** Continues from a checkpoint's best value and patience count (its monitor is this job's, from the config). */
  restore(state: CheckpointState): void {
    this.bestValue = state.bestValue
    this.epochsWithoutImprovement = state.epochsWithoutImprovement
  }

  checkpointState(): EarlyStoppingState {
    return { monitor: this.monitor, bestValue: this.bestValue, epochsWithoutImprovement: this.epochsWithoutImprovement }
  }

  /** Judges an epoch's validation metrics: true when the monitored one is a new best. */
  onEpochEnd(validation: Metrics): boolean {
    // One rule serves both the best checkpoint and early stopping: an
    // improvement must beat the best by more than minDelta (0 by default).
    const value = validation[this.monitor]
    const { higherIsBetter, minDelta } = this.options
    const best = this.bestValue
    const better = value != null && Number.isFinite(value) && (best == null || (higherIsBetter ? value > best + minDelta : value < best - minDelta))
    if (better) {
      this.bestValue = value
      this.epochsWithoutImprovement = 0
    } else {
      this.epochsWithoutImprovement += 1
    }
    return better
  }

  /** After an epoch's checkpoint: true when training should end here, which it logs. */
  shouldStop(progress: TrainProgress): boolean {
    if (!this.options.enabled || this.epochsWithoutImprovement < this.options.patience) return false
    const { step, epoch } = progress
    this.reporter.log(
      'info',
      `Early stopping after epoch ${epoch}: ${this.monitor} did not improve by more than ${this.options.minDelta} for ${this.epochsWithoutImprovement} epochs (best ${this.bestValue})`,
      { step, epoch },
    )
    return true
  }
}

/** The early stopping a job's options ask for; without validation data it never stops training. */
export function createEarlyStopping(config: JobConfig, regression: boolean, hasValidation: boolean, reporter: Pick<TrainingReporter, 'log'>): EarlyStopping {
  const { enableEarlyStopping, earlyStoppingMinDelta, earlyStoppingPatience } = config.options
  const monitor = monitoredMetric(config, regression)
  return new EarlyStopping(
    {
      monitor,
      higherIsBetter: monitor === 'valAccuracy',
      minDelta: earlyStoppingMinDelta,
      patience: earlyStoppingPatience,
      enabled: enableEarlyStopping && hasValidation,
    },
    reporter,
  )
}

/** The metric that decides the best checkpoint and early stopping (valLoss unless configured, or when the task lacks it). */
function monitoredMetric(config: JobConfig, regression: boolean): string {
  const metric = config.options.earlyStoppingMetric
  if (regression && metric === 'valAccuracy') return 'valLoss'
  if (!regression && (metric === 'valMae' || metric === 'valRmse')) return 'valLoss'
  return metric
}
