// Wires the domain services together. Nothing here knows GraphQL or HTTP.
import type { Db } from '../infra/db.ts'
import type { ReadStore } from '../infra/read-store.ts'
import type { EventBus } from '../infra/event-bus.ts'
import type { Storage } from '../infra/storage.ts'
import type { InstanceType } from '../domain/instance-types.ts'
import type { UploadLimits } from '../ingest/index.ts'
import { createJobLifecycle } from '../core/job-lifecycle.ts'
import { createAuthService } from './auth.ts'
import { createLiveViews } from './live.ts'
import { createDatasetService } from './datasets.ts'
import { createJobService } from './jobs.ts'
import { createMonitoringService } from './monitoring.ts'
import { createResourceService } from './resources.ts'
import { createTemplateService } from './templates.ts'
import { createTuningService } from './tunings.ts'
import { createExportService } from './exports.ts'
import type { Predictor } from '../../trainer/serving.ts'

export interface ServiceDeps {
  db: Db
  reads: ReadStore
  bus: EventBus
  storage: Storage
  instanceTypes: readonly InstanceType[]
  trainerConcurrency: number
  gpus: number
  maxUploadBytes: number
  /** UPLOAD_MAX_*: what one dataset file may hold (src/ingest/limits.ts); the defaults where not given. */
  uploadLimits?: UploadLimits
  /** A trainer silent this long counts as gone (src/services/resources.ts). */
  trainerHeartbeatTimeoutSeconds?: number
  /** Runs trained models for predict and checks export formats (trainer/serving.ts). */
  predictor: Predictor
}

export function createServices(deps: ServiceDeps) {
  const live = createLiveViews(deps.bus)
  const resources = createResourceService(deps)
  const exports = createExportService({ ...deps, live })
  const lifecycle = createJobLifecycle(deps)
  const jobs = createJobService({ ...deps, resources, lifecycle, live, onDeleted: (jobId) => exports.forget(jobId) })
  const templates = createTemplateService({ db: deps.db, jobs, resources })
  return {
    auth: createAuthService(deps.db),
    datasets: createDatasetService(deps),
    jobs,
    monitoring: createMonitoringService({ db: deps.db, reads: deps.reads, live, jobs }),
    templates,
    exports,
    tunings: createTuningService({ db: deps.db, bus: deps.bus, live, jobs, templates }),
    resources,
    storage: deps.storage,
    predictor: deps.predictor,
    maxUploadBytes: deps.maxUploadBytes,
  }
}

export type Services = ReturnType<typeof createServices>
