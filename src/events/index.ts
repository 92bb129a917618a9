// Topic names and payloads of the event bus, shared by the API and the
// trainer. Payloads are plain JSON (ISO strings, no Dates).
import type { JobView } from '../domain/views.ts'

export const topics = {
  /** Every change of one job. */
  job: (jobId: string) => `job.${jobId}`,
  /** Every change of any job a user owns. */
  userJobs: (userId: string) => `user.${userId}.jobs`,
}

export interface JobUpdatedEvent {
  type: 'job.updated'
  ownerId: string
  job: JobView
}
