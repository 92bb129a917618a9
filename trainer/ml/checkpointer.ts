// The training loop's checkpointing, as a callback (tfjs-layers' ModelCheckpoint
// in spirit). It decides when to save a ckpt-<step> (each epoch's end, or every
// output.checkpointInterval steps plus validated-best weights), which saved
// checkpoint is best, which ones saveBestOnly lets go, and it keeps the latest
// and best CheckpointInfo. The writing itself goes through a CheckpointStore:
// folders on disk in a run, anything in a test.
import type * as tfl from '@tensorflow/tfjs-layers'
import {
  checkpointId,
  listCheckpoints,
  readCheckpointInfo,
  removeCheckpoint,
  removeIncompleteCheckpoints,
  saveCheckpoint,
  type CheckpointState,
} from './checkpoint.ts'
import type { EarlyStoppingState } from './early-stopping.ts'
import type { AdamWState } from './optimizer.ts'
import { epochsCompleted, type TrainProgress } from './progress.ts'
import type { CheckpointInfo, TrainingReporter } from './types.ts'

/** A complete checkpoint already kept. */
export interface StoredCheckpoint {
  id: string
  step: number
  dir: string
}

/** Where checkpoints are written, read and deleted. */
export interface CheckpointStore {
  /** The complete checkpoints there, oldest step first. */
  list(): Promise<StoredCheckpoint[]>
  /** Writes checkpoint `state.id` with the current weights and optimizer state. */
  save(state: CheckpointState): Promise<{ dir: string; sizeBytes: number }>
  remove(dir: string): Promise<void>
  /** The CheckpointInfo of a checkpoint already there (a resumed run's latest and best). */
  readInfo(dir: string): Promise<CheckpointInfo>
}

/** ckpt-<step> folders under `checkpointDir` holding `model` and the optimizer's state at the time of each save. */
export function folderCheckpointStore(checkpointDir: string, model: tfl.LayersModel, optimizer: { getState(): AdamWState }): CheckpointStore {
  return {
    async list() {
      // What a crash left mid-save is no checkpoint: it goes before anything is listed.
      await removeIncompleteCheckpoints(checkpointDir)
      return listCheckpoints(checkpointDir)
    },
    save: (state) => saveCheckpoint(checkpointDir, model, optimizer.getState(), state),
    remove: removeCheckpoint,
    readInfo: readCheckpointInfo,
  }
}

export interface CheckpointerOptions {
  store: CheckpointStore
  /** Save every this many steps (plus validated-best weights) instead of at every epoch's end; null for every epoch. */
  interval: number | null
  /** Keep only the best checkpoint and the latest (the one to resume from). */
  saveBestOnly: boolean
  /** Without validation data every save counts as best. */
  hasValidation: boolean
  /** Recorded in each checkpoint: with the epoch it recomputes the epoch's shuffle. */
  seed: number
  /** Adds its best value and patience count to each checkpoint's state. */
  earlyStopping: { checkpointState(): EarlyStoppingState }
  reporter: Pick<TrainingReporter, 'checkpoint'>
}

export class Checkpointer {
  private readonly options: CheckpointerOptions
  private kept: StoredCheckpoint[]
  private bestCheckpointId: string | null = null
  private lastSavedStep = -1
  private bestInfo: CheckpointInfo | null = null
  private lastInfo: CheckpointInfo | null = null

  private constructor(options: CheckpointerOptions, kept: StoredCheckpoint[]) {
    this.options = options
    this.kept = kept
  }

  /** A checkpointer that knows the checkpoints already in its store (a resumed or retried run's). */
  static async open(options: CheckpointerOptions): Promise<Checkpointer> {
    return new Checkpointer(options, await options.store.list())
  }

  /** The checkpoint saved with validated-best weights (or, without validation data, the latest), if any. */
  get best(): CheckpointInfo | null {
    return this.bestInfo
  }

  /** The latest checkpoint, the one a resume continues from. */
  get last(): CheckpointInfo | null {
    return this.lastInfo
  }

  /** Continues from checkpoint `dir` (with `state`, its state): it is the latest, its best is still best. */
  async restore(state: CheckpointState, dir: string): Promise<void> {
    this.bestCheckpointId = state.bestCheckpointId
    this.lastInfo = await this.options.store.readInfo(dir)
    this.lastSavedStep = state.step
    const bestEntry = this.kept.find((entry) => entry.id === this.bestCheckpointId)
    if (bestEntry) this.bestInfo = { ...(await this.options.store.readInfo(bestEntry.dir)), isBest: true }
  }

  /**
   * After every step: the save an interval falls due for, or null (nothing to
   * await, so the hot path stays as it is). An interval that falls on an
   * epoch's last batch waits for validation, so that checkpoint carries val metrics.
   */
  onBatchEnd(progress: TrainProgress): Promise<void> | null {
    const { interval, hasValidation } = this.options
    if (interval != null && progress.step % interval === 0 && progress.batchInEpoch < progress.perEpoch) return this.save(progress, !hasValidation)
    return null
  }

  /**
   * After an epoch's validation, `progress` already at the next epoch's start
   * (where a resume would continue). `improved`: the weights just validated
   * best. Without an interval every epoch ends with a checkpoint; with one,
   * validated-best weights are saved too.
   */
  async onEpochEnd(progress: TrainProgress, improved: boolean): Promise<void> {
    const { interval, hasValidation } = this.options
    const isBest = improved || !hasValidation
    if (interval == null || progress.step % interval === 0 || isBest) await this.save(progress, isBest)
  }

  /**
   * Training ends here (completed, stopped or early-stopped): the step's
   * checkpoint, unless it is already saved. Its weights have not just
   * validated, so it counts as best only without validation data (and early
   * stopping only ever happens with validation data).
   */
  async onTrainEnd(progress: TrainProgress): Promise<void> {
    await this.save(progress, !this.options.hasValidation)
  }

  /** Saves ckpt-<step>; `isBest` marks weights that just validated best (or any save without validation data). */
  private async save(progress: TrainProgress, isBest: boolean): Promise<void> {
    const { step } = progress
    // The checkpoint of this step is already there (e.g. the final save right after an epoch's).
    if (step === this.lastSavedStep) return
    const id = checkpointId(step)
    if (isBest) this.bestCheckpointId = id
    const state = this.stateAt(progress, id, isBest)
    const { dir, sizeBytes } = await this.options.store.save(state)
    const removed = await this.retain(id)
    this.kept.push({ id, step, dir })
    const info: CheckpointInfo = { id, step, epoch: state.epochsCompleted, dir, sizeBytes, metrics: state.metrics, isBest, removed }
    if (isBest) this.bestInfo = info
    this.lastInfo = info
    this.lastSavedStep = step
    this.options.reporter.checkpoint(info)
  }

  /** What checkpoint `id` records: the loop's position, metrics, best checkpoint and early stopping's state. */
  private stateAt(progress: TrainProgress, id: string, isBest: boolean): CheckpointState {
    const judged = this.options.earlyStopping.checkpointState()
    return {
      version: 1,
      id,
      step: progress.step,
      epoch: progress.epoch,
      batchInEpoch: progress.batchInEpoch,
      epochsCompleted: epochsCompleted(progress),
      seed: this.options.seed,
      monitor: judged.monitor,
      bestValue: judged.bestValue,
      bestCheckpointId: this.bestCheckpointId,
      epochsWithoutImprovement: judged.epochsWithoutImprovement,
      metrics: { ...progress.trainMetrics, ...progress.validationMetrics },
      isBest,
      optimizer: null,
    }
  }

  /** Lets go of what is no longer kept now that `id` is saved; returns the ids removed. */
  private async retain(id: string): Promise<string[]> {
    const removed: string[] = []
    this.kept = this.kept.filter((entry) => entry.id !== id)
    if (!this.options.saveBestOnly) return removed
    // Keep the best and the one just saved (the one to resume from); the rest go.
    for (const entry of this.kept.filter((e) => e.id !== this.bestCheckpointId)) {
      await this.options.store.remove(entry.dir)
      removed.push(entry.id)
    }
    this.kept = this.kept.filter((entry) => entry.id === this.bestCheckpointId)
    return removed
  }
}
