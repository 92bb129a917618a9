// What a training run leaves in the database besides its job row: one row
// per checkpoint kept (the best one marked, removed ones deleted, in the
// order the process saved them) and the test-split evaluation.
import path from 'node:path'
import type { Logger } from 'pino'
import type { Db } from '../../src/infra/db.ts'
import { newId } from '../../src/domain/ids.ts'
import type { CheckpointInfo, EvaluationResult } from '../ml/types.ts'

export function createRecords(deps: {
  db: Db
  storageRoot: string
  logger: Logger
  jobId: string
  onCheckpoint: (info: CheckpointInfo, rowId: string) => void
}) {
  const { db, jobId } = deps
  // Checkpoint folders are named per job (ckpt-<step>); their rows need ids unique across jobs.
  const rowId = (folder: string) => `${jobId}.${folder}`
  let writes: Promise<unknown> = Promise.resolve()

  async function writeCheckpoint(info: CheckpointInfo) {
    await db.$transaction([
      ...(info.isBest ? [db.checkpoint.updateMany({ where: { jobId, isBest: true }, data: { isBest: false } })] : []),
      db.checkpoint.deleteMany({ where: { jobId, id: { in: info.removed.map(rowId) } } }),
      // A resumed run may save a step again that an earlier attempt saved.
      db.checkpoint.deleteMany({ where: { id: rowId(info.id) } }),
      db.checkpoint.create({
        data: {
          id: rowId(info.id),
          jobId,
          step: info.step,
          epoch: info.epoch,
          path: path.relative(deps.storageRoot, info.dir),
          sizeBytes: BigInt(info.sizeBytes),
          metrics: info.metrics,
          isBest: info.isBest,
        },
      }),
    ])
    deps.onCheckpoint(info, rowId(info.id))
  }

  return {
    rowId,

    /** Records a checkpoint after the ones before it. */
    checkpoint(info: CheckpointInfo): Promise<unknown> {
      writes = writes.then(() => writeCheckpoint(info).catch((error: unknown) => deps.logger.warn({ err: error, jobId }, 'could not record a checkpoint')))
      return writes
    },

    async evaluation(evaluation: EvaluationResult) {
      const data = {
        checkpointId: evaluation.checkpointId === null ? null : rowId(evaluation.checkpointId),
        split: evaluation.split,
        sampleCount: evaluation.sampleCount,
        metrics: evaluation.metrics,
        perClass: evaluation.perClass ?? undefined,
        confusionMatrix: evaluation.confusionMatrix ?? undefined,
        labels: evaluation.labels ?? undefined,
      }
      await db.evaluation.upsert({ where: { jobId }, create: { id: newId('eval'), jobId, ...data }, update: data })
    },

    /** Settles when every checkpoint recorded so far is written. */
    settled(): Promise<unknown> {
      return writes
    },
  }
}

export type Records = ReturnType<typeof createRecords>
