// What a training process needs to start: the job's configuration, its
// dataset's file, the checkpoint to resume from (a retry or a recovery) and
// the one to start from (fine-tuning another job), the backend and the
// instance type's size. Says in the job's log where it starts from.
import type { Db, Job } from '../../src/infra/db.ts'
import type { Storage } from '../../src/infra/storage.ts'
import type { InstanceType } from '../../src/domain/instance-types.ts'
import type { JobConfig } from '../../src/domain/job-config.ts'
import { findBaseModel } from '../../src/domain/catalog.ts'
import { datasetColumnsOf, datasetMetadataOf } from '../../src/domain/json-columns.ts'
import type { LogLevel } from '../../src/events/index.ts'
import type { TrainingSpec } from '../worker/protocol.ts'

type Log = (level: LogLevel, message: string, position?: { step: number; epoch: number }) => void

/** The checkpoint a job continues from after a retry or a crash: its latest one. */
async function latestCheckpoint(db: Db, jobId: string) {
  return db.checkpoint.findFirst({ where: { jobId }, orderBy: [{ step: 'desc' }, { createdAt: 'desc' }] })
}

/** Where model.baseModel points when it is the id of a completed job of the same user: that job's best checkpoint. */
async function fineTuneSource(db: Db, job: Job) {
  if (findBaseModel(job.baseModel)) return { kind: 'builtin' as const }
  const source = await db.job.findFirst({ where: { id: job.baseModel, ownerId: job.ownerId, status: 'completed' } })
  if (!source) return { kind: 'unavailable' as const }
  const best =
    (await db.checkpoint.findFirst({ where: { jobId: source.id, isBest: true }, orderBy: { step: 'desc' } })) ?? (await latestCheckpoint(db, source.id))
  return best ? { kind: 'job' as const, checkpoint: best } : { kind: 'unavailable' as const }
}

/** The spec of the job's training process, or why it cannot train. */
export async function trainingSpecOf(
  deps: { db: Db; storage: Storage; backend: string | null; log: Log },
  job: Job,
  config: JobConfig,
  instanceType: InstanceType | undefined,
): Promise<TrainingSpec | string> {
  const { db, storage, log } = deps
  const dataset = await db.dataset.findUnique({ where: { id: job.datasetId } })
  if (!dataset) return `dataset ${job.datasetId} no longer exists (it was deleted after the job was created)`
  const columns = datasetColumnsOf(dataset).map((column) => column.name)
  const source = await fineTuneSource(db, job)
  if (source.kind === 'unavailable') {
    log('warn', `Base model ${JSON.stringify(job.baseModel)} is not available here; training a new ${config.model.architecture} model from scratch`)
  }
  const resume = await latestCheckpoint(db, job.id)
  if (resume) {
    log('info', `Resuming from checkpoint ${resume.id} at step ${resume.step} (attempt ${job.attempts})`, { step: resume.step, epoch: resume.epoch })
  }
  const count = config.resources.instanceCount
  if (count > 1) {
    log('info', `instanceCount ${count}: training runs in one process here (no data-parallel workers); capacity and cost count ${count} instances`)
  }
  return {
    jobId: job.id,
    config,
    dataset: {
      id: dataset.id,
      file: storage.resolve(dataset.filePath),
      format: dataset.format,
      columns,
      metadata: datasetMetadataOf(dataset),
    },
    checkpointDir: storage.resolve(`checkpoints/${job.id}`),
    resumeFrom: resume ? storage.resolve(resume.path) : null,
    initFrom: source.kind === 'job' ? storage.resolve(source.checkpoint.path) : null,
    backend: deps.backend,
    vcpus: instanceType?.vcpus ?? 1,
    memoryLimitBytes: (instanceType?.memoryGb ?? 0) * 1024 ** 3,
  }
}
