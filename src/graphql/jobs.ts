// Jobs in GraphQL: the Job type, queries, mutations and subscriptions.
import { builder, SortOrder, withoutNulls, type SchemaTypes } from './builder.ts'
import { filterOf, offsetConnection } from './connection.ts'
import { CreateJobInput, DatasetConfig, Hyperparameters, JobOptions, JobResources, ModelConfig, OutputConfig } from './job-config.ts'
import { enumOf } from './enums.ts'
import { viewer } from '../context.ts'
import { jobStatuses, type JobView } from '../domain/views.ts'
import { jobSortFields } from '../services/jobs.ts'

export const JobStatus = enumOf('JobStatus', 'pending → running → completed | failed; stop: running → stopping → cancelled, pending → cancelled.', jobStatuses)

const JobProgress = builder.objectRef<JobView['progress']>('JobProgress').implement({
  description: 'How far training has come.',
  fields: (t) => ({
    epoch: t.exposeInt('epoch', { nullable: true, description: 'Current epoch (1-based); null before training starts.' }),
    totalEpochs: t.exposeInt('totalEpochs', { description: 'Epochs configured.' }),
    step: t.exposeInt('step', { nullable: true, description: 'Optimizer steps done; null before training starts.' }),
    totalSteps: t.exposeInt('totalSteps', { nullable: true, description: 'Steps of the whole job.' }),
    percentage: t.exposeFloat('percentage', { description: '0-100.' }),
  }),
})

const metric = (name: string, description: string) => (t: PothosSchemaTypes.ObjectFieldBuilder<SchemaTypes, JobView['metrics']>) =>
  t.float({ nullable: true, description, resolve: (metrics) => metrics[name] ?? null })

const JobMetrics = builder.objectRef<JobView['metrics']>('JobMetrics').implement({
  description: 'Latest metric values; null until measured (regression jobs report MAE/RMSE instead of accuracy).',
  fields: (t) => ({
    trainLoss: metric('trainLoss', 'Training loss (running mean over the current epoch).')(t),
    trainAccuracy: metric('trainAccuracy', 'Training accuracy (classification).')(t),
    valLoss: metric('valLoss', 'Validation loss at the last evaluation.')(t),
    valAccuracy: metric('valAccuracy', 'Validation accuracy (classification).')(t),
    trainMae: metric('trainMae', 'Training mean absolute error (regression).')(t),
    valMae: metric('valMae', 'Validation mean absolute error (regression).')(t),
    trainRmse: metric('trainRmse', 'Training root mean squared error (regression).')(t),
    valRmse: metric('valRmse', 'Validation root mean squared error (regression).')(t),
    learningRate: metric('learningRate', 'Learning rate of the last step.')(t),
    all: t.field({ type: 'JSONObject', description: 'Every latest metric by name.', resolve: (metrics) => metrics }),
  }),
})

const JobTime = builder.objectRef<JobView['time']>('JobTime').implement({
  description: 'Timing, in seconds where a duration.',
  fields: (t) => ({
    startedAt: t.field({ type: 'DateTime', nullable: true, description: 'When training started.', resolve: (time) => time.startedAt }),
    elapsedTime: t.exposeInt('elapsedTime', { nullable: true, description: 'Seconds since the start (to the end once ended).' }),
    estimatedRemainingTime: t.exposeInt('estimatedRemainingTime', {
      nullable: true,
      description: 'Seconds left, from measured throughput; null when not running.',
    }),
    completedAt: t.field({ type: 'DateTime', nullable: true, description: 'When the job ended.', resolve: (time) => time.completedAt }),
  }),
})

const JobCost = builder.objectRef<JobView['cost']>('JobCost').implement({
  description: "Cost from the instance type's hourly price × instances × time.",
  fields: (t) => ({
    estimatedCost: t.exposeFloat('estimatedCost', { nullable: true, description: 'Expected cost of the whole job.' }),
    actualCost: t.exposeFloat('actualCost', { nullable: true, description: 'Cost so far; null before the job starts.' }),
    currency: t.exposeString('currency', { description: 'Always USD.' }),
    pricePerHour: t.exposeFloat('pricePerHour', { nullable: true, description: 'Price of one instance for one hour.' }),
  }),
})

const JobError = builder.objectRef<NonNullable<JobView['error']>>('JobError').implement({
  description: 'Why a job failed.',
  fields: (t) => ({
    code: t.exposeString('code', { description: 'Error code, e.g. E1104.' }),
    message: t.exposeString('message', { description: 'What went wrong.' }),
  }),
})

export const Job = builder.objectRef<JobView>('Job').implement({
  description: 'A training job (spec §1).',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'job-… id.' }),
    name: t.exposeString('name', { description: 'Name.' }),
    description: t.exposeString('description', { nullable: true, description: 'Description.' }),
    owner: t.exposeString('owner', { description: 'User who created it.' }),
    status: t.expose('status', { type: JobStatus, description: 'Current state.' }),
    priority: t.exposeInt('priority', { description: 'Queue priority: higher runs first.' }),
    model: t.expose('model', { type: ModelConfig, description: 'What is trained.' }),
    dataset: t.expose('dataset', { type: DatasetConfig, description: 'Dataset and splits.' }),
    hyperparameters: t.expose('hyperparameters', { type: Hyperparameters, description: 'Hyperparameters.' }),
    resources: t.expose('resources', { type: JobResources, description: 'Resources asked for and measured.' }),
    output: t.expose('output', { type: OutputConfig, description: 'Checkpoint and export settings.' }),
    options: t.expose('options', { type: JobOptions, description: 'Other options.' }),
    progress: t.expose('progress', { type: JobProgress, description: 'Progress.' }),
    metrics: t.expose('metrics', { type: JobMetrics, description: 'Latest metrics.' }),
    time: t.expose('time', { type: JobTime, description: 'Timing.' }),
    cost: t.expose('cost', { type: JobCost, description: 'Cost.' }),
    error: t.expose('error', { type: JobError, nullable: true, description: 'Set when the job failed.' }),
    templateId: t.exposeID('templateId', { nullable: true, description: 'Template it was created from.' }),
    tuningId: t.exposeID('tuningId', { nullable: true, description: 'Tuning job it is a trial of.' }),
    createdAt: t.field({ type: 'DateTime', description: 'Created.', resolve: (job) => job.createdAt }),
    updatedAt: t.field({ type: 'DateTime', description: 'Last changed.', resolve: (job) => job.updatedAt }),
    estimatedStartTime: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When the queue is expected to start it.',
      resolve: (job) => job.estimatedStartTime,
    }),
    estimatedCompletionTime: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When it is expected to end.',
      resolve: (job) => job.estimatedCompletionTime,
    }),
    stoppedAt: t.field({ type: 'DateTime', nullable: true, description: 'When a stop was asked for.', resolve: (job) => job.stoppedAt }),
    completedAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When it ended (completed, failed or cancelled).',
      resolve: (job) => job.completedAt,
    }),
  }),
})

const JobSortField = enumOf('JobSortField', 'Job list order.', jobSortFields, { createdAt: 'Creation time', updatedAt: 'Last change', name: 'Name' })

const DeleteJobResult = builder.objectRef<{ jobId: string; deleted: true; deletedAt: string; force: boolean }>('DeleteJobResult').implement({
  description: 'Result of deleteJob.',
  fields: (t) => ({
    jobId: t.exposeID('jobId', { description: 'The deleted job.' }),
    deleted: t.exposeBoolean('deleted', { description: 'Always true.' }),
    deletedAt: t.field({ type: 'DateTime', description: 'When.', resolve: (result) => result.deletedAt }),
    force: t.exposeBoolean('force', { description: 'Whether checkpoints and exports were removed too.' }),
  }),
})

builder.queryFields((t) => ({
  job: t.field({
    type: Job,
    description: 'One job (E1101 when it does not exist or is not yours).',
    args: { id: t.arg.id({ required: true, description: 'Job id.' }) },
    resolve: (_root, args, ctx) => ctx.services.jobs.get(viewer(ctx), String(args.id)),
  }),
  jobs: t.connection({
    type: Job,
    description: "Your jobs, newest first by default (admin tokens: every user's, or one user's with `owner`).",
    args: {
      status: t.arg({ type: JobStatus, description: 'Only jobs in this state.' }),
      model: t.arg.string({ description: 'Only jobs with this model.baseModel.' }),
      owner: t.arg.string({ description: 'Only jobs of this user (admin scope for other users).' }),
      sortBy: t.arg({ type: JobSortField, description: 'Default createdAt.' }),
      sortOrder: t.arg({ type: SortOrder, description: 'Default desc.' }),
    },
    resolve: (_root, args, ctx) => {
      const filter = filterOf({ status: args.status, model: args.model, owner: args.owner, sortBy: args.sortBy, sortOrder: args.sortOrder })
      return offsetConnection(args, (window) => ctx.services.jobs.find(viewer(ctx), filter, window))
    },
  }),
}))

builder.mutationFields((t) => ({
  createJob: t.field({
    type: Job,
    description: 'Queues a training job (spec §1.1). Invalid input: E1108 naming every field; unknown dataset: E1102; no capacity: E1103.',
    args: { input: t.arg({ type: CreateJobInput, required: true, description: 'The job.' }) },
    resolve: (_root, args, ctx) => ctx.services.jobs.create(viewer(ctx), withoutNulls(args.input)),
  }),
  stopJob: t.field({
    type: Job,
    description: 'Stops a job (spec §1.4): pending → cancelled at once, running → stopping.',
    args: { id: t.arg.id({ required: true, description: 'Job id.' }) },
    resolve: (_root, args, ctx) => ctx.services.jobs.stop(viewer(ctx), String(args.id)),
  }),
  deleteJob: t.field({
    type: DeleteJobResult,
    description: 'Deletes a job (spec §1.5). A running job needs force; force also removes checkpoints and exports.',
    args: {
      id: t.arg.id({ required: true, description: 'Job id.' }),
      force: t.arg.boolean({ defaultValue: false, description: 'Also stop a running job and remove its checkpoints and exports.' }),
    },
    resolve: (_root, args, ctx) => ctx.services.jobs.delete(viewer(ctx), String(args.id), args.force ?? false),
  }),
}))

builder.subscriptionFields((t) => ({
  jobUpdated: t.field({
    type: Job,
    description:
      'Every change of one of your jobs (E1101 when it is not yours). For a job that has already ended, sends its final state once; the stream completes after the job ends.',
    args: { id: t.arg.id({ required: true, description: 'Job id.' }) },
    subscribe: (_root, args, ctx) => ctx.services.jobs.watch(viewer(ctx), String(args.id)),
    resolve: (job) => job,
  }),
  myJobs: t.field({
    type: Job,
    description: 'Every change of any of your jobs.',
    subscribe: (_root, _args, ctx) => ctx.services.jobs.watchMine(viewer(ctx)),
    resolve: (job) => job,
  }),
}))
