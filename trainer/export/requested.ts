// output.exportFormat of a job request (spec §1.1): when such a job
// completes, its best checkpoint is queued for export like a user's
// POST /jobs/{id}/export with the default options, and the job's log says so.
import type { Db } from '../../src/infra/db.ts'
import type { EventBus } from '../../src/infra/event-bus.ts'
import type { ExportFormat, ExportOptions } from '../../src/domain/exports.ts'
import { newId } from '../../src/domain/ids.ts'
import { toJson } from '../../src/domain/json-columns.ts'
import { topics } from '../../src/events/index.ts'

/** Queues the export a completed job asked for; returns its id, or null when it asked for none or has no checkpoint. */
export async function queueRequestedExport(db: Db, bus: EventBus, job: { id: string; ownerId: string }, format: ExportFormat | null): Promise<string | null> {
  if (!format) return null
  const checkpoint =
    (await db.checkpoint.findFirst({ where: { jobId: job.id, isBest: true }, orderBy: { step: 'desc' } })) ??
    (await db.checkpoint.findFirst({ where: { jobId: job.id }, orderBy: { step: 'desc' } }))
  if (!checkpoint) return null
  const options: ExportOptions = { optimize: true, quantization: null }
  const row = await db.export.create({
    data: {
      id: newId('export'),
      jobId: job.id,
      ownerId: job.ownerId,
      format,
      options: toJson(options),
      status: 'processing',
      checkpointId: checkpoint.id,
    },
  })
  await bus.publish(topics.exportWake, { exportId: row.id })
  return row.id
}
