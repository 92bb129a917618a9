// The training loop's callbacks on their own: the checkpointer's saving,
// retention, best checkpoint and interval decisions over an in-memory store
// (no model, no files), and early stopping's judgement, patience and resume.
import { describe, expect, it } from 'vitest'
import type { CheckpointState } from '../../trainer/ml/checkpoint.ts'
import { Checkpointer, type CheckpointerOptions, type CheckpointStore, type StoredCheckpoint } from '../../trainer/ml/checkpointer.ts'
import { createEarlyStopping, EarlyStopping, type EarlyStoppingOptions } from '../../trainer/ml/early-stopping.ts'
import type { TrainProgress } from '../../trainer/ml/progress.ts'
import type { CheckpointInfo, LogLevel } from '../../trainer/ml/types.ts'
import { jobConfig } from '../helpers/models.ts'

// ---------------------------------------------------------------- fixtures

/** Checkpoints as states in a map, standing in for ckpt-<step> folders. */
function memoryStore(initial: CheckpointState[] = []) {
  const saved = new Map(initial.map((state) => [`/ckpt/${state.id}`, state]))
  const writes: CheckpointState[] = []
  const store: CheckpointStore = {
    list: async () =>
      [...saved.values()].map((state): StoredCheckpoint => ({ id: state.id, step: state.step, dir: `/ckpt/${state.id}` })).sort((a, b) => a.step - b.step),
    save: async (state) => {
      writes.push(state)
      saved.set(`/ckpt/${state.id}`, state)
      return { dir: `/ckpt/${state.id}`, sizeBytes: 100 }
    },
    remove: async (dir) => {
      saved.delete(dir)
    },
    readInfo: async (dir) => {
      const state = saved.get(dir)
      if (!state) throw new Error(`no checkpoint at ${dir}`)
      return { id: state.id, step: state.step, epoch: state.epochsCompleted, dir, sizeBytes: 100, metrics: state.metrics, isBest: state.isBest, removed: [] }
    },
  }
  return { store, writes, onDisk: () => [...saved.values()].map((state) => state.id).sort() }
}

function progressAt(step: number, perEpoch: number): TrainProgress {
  return {
    step,
    epoch: Math.floor(step / perEpoch),
    batchInEpoch: step % perEpoch,
    perEpoch,
    trainMetrics: { trainLoss: 1 / (step + 1) },
    validationMetrics: {},
  }
}

/** A checkpoint's state at the start of training, with `fields` changed. */
function stateWith(fields: Partial<CheckpointState>): CheckpointState {
  return {
    version: 1,
    id: 'ckpt-0',
    step: 0,
    epoch: 0,
    batchInEpoch: 0,
    epochsCompleted: 0,
    seed: 42,
    monitor: 'valLoss',
    bestValue: null,
    bestCheckpointId: null,
    epochsWithoutImprovement: 0,
    metrics: {},
    isBest: false,
    optimizer: null,
    ...fields,
  }
}

const judgeState = { checkpointState: () => ({ monitor: 'valLoss', bestValue: 0.5, epochsWithoutImprovement: 1 }) }

async function checkpointer(options: Partial<CheckpointerOptions> & { store: CheckpointStore }) {
  const reported: CheckpointInfo[] = []
  const checkpoints = await Checkpointer.open({
    interval: null,
    saveBestOnly: false,
    hasValidation: true,
    seed: 42,
    earlyStopping: judgeState,
    reporter: { checkpoint: (info) => reported.push(info) },
    ...options,
  })
  return { checkpoints, reported }
}

/**
 * Drives a checkpointer the way the loop does: `perEpoch` batches an epoch,
 * `improvedAt` the epochs (1-based) whose validation is a new best, then the end of training.
 */
async function train(checkpoints: Checkpointer, { epochs, perEpoch, improvedAt }: { epochs: number; perEpoch: number; improvedAt: number[] }) {
  const progress = progressAt(0, perEpoch)
  for (let epoch = 0; epoch < epochs; epoch++) {
    while (progress.batchInEpoch < perEpoch) {
      progress.step += 1
      progress.batchInEpoch += 1
      await checkpoints.onBatchEnd(progress)
    }
    progress.epoch += 1
    progress.batchInEpoch = 0
    progress.validationMetrics = { valLoss: 1 / progress.epoch }
    await checkpoints.onEpochEnd(progress, improvedAt.includes(progress.epoch))
  }
  await checkpoints.onTrainEnd(progress)
  return progress
}

function loggingReporter() {
  const logs: { level: LogLevel; message: string; extra?: object }[] = []
  return { logs, log: (level: LogLevel, message: string, extra?: object) => logs.push({ level, message, extra }) }
}

const stopping = (options: Partial<EarlyStoppingOptions> = {}) => {
  const reporter = loggingReporter()
  const earlyStopping = new EarlyStopping({ monitor: 'valLoss', higherIsBetter: false, minDelta: 0, patience: 2, enabled: true, ...options }, reporter)
  return { earlyStopping, logs: reporter.logs }
}

// ---------------------------------------------------------------- checkpointer

describe('checkpointer', () => {
  it('saves at every epoch end without an interval, marking the validated-best ones best', async () => {
    const { store } = memoryStore()
    const { checkpoints, reported } = await checkpointer({ store })
    await train(checkpoints, { epochs: 3, perEpoch: 4, improvedAt: [1, 3] })

    expect(reported.map((c) => [c.id, c.isBest])).toEqual([
      ['ckpt-4', true],
      ['ckpt-8', false],
      ['ckpt-12', true],
    ])
    expect(checkpoints.best?.id).toBe('ckpt-12')
    expect(checkpoints.last?.id).toBe('ckpt-12')
  })

  it('keeps only the best and the latest checkpoint with saveBestOnly, reporting the others as removed', async () => {
    const { store, onDisk } = memoryStore()
    const { checkpoints, reported } = await checkpointer({ store, saveBestOnly: true })
    await train(checkpoints, { epochs: 4, perEpoch: 2, improvedAt: [1, 2] })

    expect(reported.map((c) => [c.id, c.removed])).toEqual([
      ['ckpt-2', []],
      ['ckpt-4', ['ckpt-2']],
      ['ckpt-6', []],
      ['ckpt-8', ['ckpt-6']],
    ])
    expect(onDisk()).toEqual(['ckpt-4', 'ckpt-8'])
    expect(checkpoints.best?.id).toBe('ckpt-4')
    expect(checkpoints.last?.id).toBe('ckpt-8')
  })

  it('saves every checkpointInterval steps, and an interval on an epoch’s last batch waits for validation', async () => {
    const { store, writes } = memoryStore()
    const { checkpoints, reported } = await checkpointer({ store, interval: 3 })
    await train(checkpoints, { epochs: 2, perEpoch: 3, improvedAt: [] })

    // Steps 3 and 6 end epochs: saved after validation, with its metrics; nothing else is due.
    expect(reported.map((c) => c.step)).toEqual([3, 6])
    expect(writes.map((s) => [s.epoch, s.batchInEpoch, s.metrics.valLoss])).toEqual([
      [1, 0, 1],
      [2, 0, 0.5],
    ])
  })

  it('saves mid-epoch at the interval and validated-best weights between intervals', async () => {
    const { store } = memoryStore()
    const { checkpoints, reported } = await checkpointer({ store, interval: 5 })
    await train(checkpoints, { epochs: 3, perEpoch: 4, improvedAt: [1] })

    // 5 and 10 by interval (mid-epoch, not best), 4 as a new best, 12 at the end.
    expect(reported.map((c) => [c.step, c.isBest])).toEqual([
      [4, true],
      [5, false],
      [10, false],
      [12, false],
    ])
    expect(checkpoints.best?.step).toBe(4)
  })

  it('saves a step only once, so the end of training right after an epoch’s checkpoint adds nothing', async () => {
    const { store, writes } = memoryStore()
    const { checkpoints } = await checkpointer({ store })
    const progress = await train(checkpoints, { epochs: 2, perEpoch: 2, improvedAt: [] })
    await checkpoints.onTrainEnd(progress)

    expect(writes.map((s) => s.id)).toEqual(['ckpt-2', 'ckpt-4'])
  })

  it('counts every save as best when there is no validation data', async () => {
    const { store } = memoryStore()
    const { checkpoints, reported } = await checkpointer({ store, hasValidation: false, interval: 3 })
    const progress = progressAt(0, 4)
    for (let i = 0; i < 3; i++) {
      progress.step += 1
      progress.batchInEpoch += 1
      await checkpoints.onBatchEnd(progress)
    }
    await checkpoints.onEpochEnd({ ...progress, epoch: 1, batchInEpoch: 0, step: 4 }, false)

    expect(reported.map((c) => [c.step, c.isBest])).toEqual([
      [3, true],
      [4, true],
    ])
    expect(checkpoints.best?.step).toBe(4)
  })

  it('awaits nothing after a step when no checkpoint is due', async () => {
    const { store } = memoryStore()
    const { checkpoints } = await checkpointer({ store, interval: 10 })
    expect(checkpoints.onBatchEnd(progressAt(9, 4))).toBeNull()
    const saving = checkpoints.onBatchEnd(progressAt(10, 4))
    expect(saving).toBeInstanceOf(Promise)
    await saving
  })

  it('records the position, metrics, seed, best checkpoint and early stopping’s state in each checkpoint', async () => {
    const { store, writes } = memoryStore()
    const { checkpoints, reported } = await checkpointer({ store, interval: 6 })
    const progress: TrainProgress = { ...progressAt(6, 4), validationMetrics: { valLoss: 0.7 } }
    await checkpoints.onBatchEnd(progress)

    expect(writes).toEqual([
      {
        version: 1,
        id: 'ckpt-6',
        step: 6,
        epoch: 1,
        batchInEpoch: 2,
        epochsCompleted: 1.5,
        seed: 42,
        monitor: 'valLoss',
        bestValue: 0.5,
        bestCheckpointId: null,
        epochsWithoutImprovement: 1,
        metrics: { trainLoss: 1 / 7, valLoss: 0.7 },
        isBest: false,
        optimizer: null,
      },
    ])
    expect(reported[0]).toEqual({
      id: 'ckpt-6',
      step: 6,
      epoch: 1.5,
      dir: '/ckpt/ckpt-6',
      sizeBytes: 100,
      metrics: { trainLoss: 1 / 7, valLoss: 0.7 },
      isBest: false,
      removed: [],
    })
  })

  it('resumes with its latest and best checkpoint, not saving the resumed step again', async () => {
    const first = memoryStore()
    const before = await checkpointer({ store: first.store, saveBestOnly: true })
    const progress = progressAt(0, 2)
    progress.step = 2
    progress.epoch = 1
    await before.checkpoints.onEpochEnd(progress, true)
    progress.step = 3
    progress.batchInEpoch = 1
    await before.checkpoints.onTrainEnd(progress)
    const resumedFrom = first.writes[1]

    const after = await checkpointer({ store: first.store, saveBestOnly: true })
    await after.checkpoints.restore(resumedFrom, '/ckpt/ckpt-3')
    expect(after.checkpoints.last?.id).toBe('ckpt-3')
    expect(after.checkpoints.best).toMatchObject({ id: 'ckpt-2', isBest: true })
    await after.checkpoints.onTrainEnd(progress)
    expect(after.reported).toEqual([])

    // The next save still keeps the best from before the resume.
    progress.step = 4
    progress.epoch = 2
    progress.batchInEpoch = 0
    await after.checkpoints.onEpochEnd(progress, false)
    expect(after.reported.map((c) => [c.id, c.removed])).toEqual([['ckpt-4', ['ckpt-3']]])
    expect(first.onDisk()).toEqual(['ckpt-2', 'ckpt-4'])
  })
})

// ---------------------------------------------------------------- early stopping

describe('early stopping', () => {
  it('stops after patience epochs without an improvement larger than minDelta, saying why', () => {
    const { earlyStopping, logs } = stopping({ minDelta: 0.1, patience: 2 })
    expect(earlyStopping.onEpochEnd({ valLoss: 1 })).toBe(true)
    expect(earlyStopping.shouldStop(progressAt(4, 4))).toBe(false)
    // 0.95 beats 1 but not by more than 0.1.
    expect(earlyStopping.onEpochEnd({ valLoss: 0.95 })).toBe(false)
    expect(earlyStopping.shouldStop(progressAt(8, 4))).toBe(false)
    expect(earlyStopping.onEpochEnd({ valLoss: 0.99 })).toBe(false)
    expect(earlyStopping.shouldStop(progressAt(12, 4))).toBe(true)

    expect(logs).toEqual([
      {
        level: 'info',
        message: 'Early stopping after epoch 3: valLoss did not improve by more than 0.1 for 2 epochs (best 1)',
        extra: { step: 12, epoch: 3 },
      },
    ])
  })

  it('resets its patience on an improvement', () => {
    const { earlyStopping } = stopping({ patience: 2 })
    earlyStopping.onEpochEnd({ valLoss: 1 })
    earlyStopping.onEpochEnd({ valLoss: 1 })
    expect(earlyStopping.onEpochEnd({ valLoss: 0.5 })).toBe(true)
    earlyStopping.onEpochEnd({ valLoss: 0.6 })
    expect(earlyStopping.shouldStop(progressAt(16, 4))).toBe(false)
    expect(earlyStopping.checkpointState()).toEqual({ monitor: 'valLoss', bestValue: 0.5, epochsWithoutImprovement: 1 })
  })

  it('counts a higher valAccuracy as an improvement', () => {
    const { earlyStopping } = stopping({ monitor: 'valAccuracy', higherIsBetter: true })
    expect(earlyStopping.onEpochEnd({ valAccuracy: 0.6 })).toBe(true)
    expect(earlyStopping.onEpochEnd({ valAccuracy: 0.7 })).toBe(true)
    expect(earlyStopping.onEpochEnd({ valAccuracy: 0.65 })).toBe(false)
  })

  it('counts a missing or non-finite metric as no improvement', () => {
    const { earlyStopping } = stopping()
    expect(earlyStopping.onEpochEnd({ valAccuracy: 0.9 })).toBe(false)
    expect(earlyStopping.onEpochEnd({ valLoss: Number.NaN })).toBe(false)
    expect(earlyStopping.checkpointState()).toEqual({ monitor: 'valLoss', bestValue: null, epochsWithoutImprovement: 2 })
  })

  it('still judges improvements when turned off, but never stops training', () => {
    const { earlyStopping, logs } = stopping({ enabled: false, patience: 1 })
    expect(earlyStopping.onEpochEnd({ valLoss: 1 })).toBe(true)
    expect(earlyStopping.onEpochEnd({ valLoss: 2 })).toBe(false)
    expect(earlyStopping.shouldStop(progressAt(8, 4))).toBe(false)
    expect(logs).toEqual([])
  })

  it('continues its best value and patience from a checkpoint', () => {
    const { earlyStopping } = stopping({ patience: 3 })
    earlyStopping.restore(stateWith({ bestValue: 0.4, epochsWithoutImprovement: 2 }))
    expect(earlyStopping.onEpochEnd({ valLoss: 0.45 })).toBe(false)
    expect(earlyStopping.shouldStop(progressAt(20, 4))).toBe(true)
  })

  it('watches valLoss when the configured metric does not exist for the task, and stops only with validation data', () => {
    const reporter = loggingReporter()
    const regression = jobConfig('tabular-regression', 'mlp', { options: { earlyStoppingMetric: 'valAccuracy', enableEarlyStopping: true } })
    expect(createEarlyStopping(regression, true, true, reporter).monitor).toBe('valLoss')
    const classification = jobConfig('tabular-classification', 'mlp', { options: { earlyStoppingMetric: 'valRmse', enableEarlyStopping: true } })
    expect(createEarlyStopping(classification, false, true, reporter).monitor).toBe('valLoss')
    const accuracy = jobConfig('tabular-classification', 'mlp', {
      options: { earlyStoppingMetric: 'valAccuracy', enableEarlyStopping: true, earlyStoppingPatience: 1 },
    })
    const watching = createEarlyStopping(accuracy, false, true, reporter)
    expect(watching.monitor).toBe('valAccuracy')
    expect(watching.onEpochEnd({ valAccuracy: 0.5 })).toBe(true)
    expect(watching.onEpochEnd({ valAccuracy: 0.4 })).toBe(false)
    expect(watching.shouldStop(progressAt(8, 4))).toBe(true)

    const withoutValidation = createEarlyStopping(accuracy, false, false, reporter)
    withoutValidation.restore(stateWith({ bestValue: 0.5, epochsWithoutImprovement: 5 }))
    expect(withoutValidation.shouldStop(progressAt(8, 4))).toBe(false)
  })
})
