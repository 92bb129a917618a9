// Monitoring and results in GraphQL: log lines, metric history, checkpoints
// and the evaluation as fields of Job; compareJobs; live metric points and
// log lines as subscriptions.
import { builder } from './builder.ts'
import { Job } from './jobs.ts'
import { viewer } from '../context.ts'
import { logLevels, type JobLogView, type LogLevel as Level, type MetricPointView } from '../events/index.ts'
import type { CheckpointView, ComparedJob, Comparison, EvaluationView, LogLine, LogPage, PerClassMetrics, SeriesPoint } from '../services/monitoring.ts'

const levelDescriptions: Record<Level, string> = {
  debug: 'Details for diagnosing the trainer.',
  info: 'Progress: start, epochs, validation, checkpoints, the end.',
  warn: 'Something worth a look that did not stop training (dropped rows, a fallback backend, ...).',
  error: 'Failures.',
}

export const LogLevel = builder.enumType('LogLevel', {
  description: 'Log levels, least to most severe: debug < info < warn < error.',
  values: Object.fromEntries(logLevels.map((level) => [level, { value: level, description: levelDescriptions[level] }])) as Record<
    Level,
    { value: Level; description: string }
  >,
})

const JobLog = builder.objectRef<LogLine | JobLogView>('JobLog').implement({
  description: 'One line of a training log (spec §4.1).',
  fields: (t) => ({
    timestamp: t.field({ type: 'DateTime', description: 'When the trainer wrote it.', resolve: (log) => log.timestamp }),
    level: t.field({ type: LogLevel, description: 'Severity.', resolve: (log) => log.level }),
    message: t.exposeString('message', { description: 'The text.' }),
    step: t.exposeInt('step', { nullable: true, description: 'Optimizer step it refers to, if any.' }),
    epoch: t.exposeFloat('epoch', { nullable: true, description: 'Epoch it refers to, if any.' }),
    metrics: t.field({
      type: 'JSONObject',
      nullable: true,
      description: 'Metric values the line reports (e.g. at the end of an epoch).',
      resolve: (log) => log.metrics ?? null,
    }),
  }),
})

const JobLogPage = builder.objectRef<LogPage>('JobLogPage').implement({
  description: 'A page of log lines, oldest first.',
  fields: (t) => ({
    logs: t.field({ type: [JobLog], description: 'The lines, by timestamp (then the order written).', resolve: (page) => page.logs }),
    hasMore: t.exposeBoolean('hasMore', { description: 'More lines match after these.' }),
    nextStartTime: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'Timestamp of the first line not returned.',
      resolve: (page) => page.nextStartTime,
    }),
    nextCursor: t.exposeString('nextCursor', { nullable: true, description: 'Pass as `after` for the next page.' }),
  }),
})

const MetricPoint = builder.objectRef<SeriesPoint & { name?: string }>('MetricPoint').implement({
  description: 'One value of a metric (spec §4.2).',
  fields: (t) => ({
    name: t.string({
      nullable: true,
      description: 'Metric name (set in subscriptions; in a series, the series has it).',
      resolve: (point) => point.name ?? null,
    }),
    step: t.exposeInt('step', { description: 'Optimizer step.' }),
    epoch: t.exposeFloat('epoch', {
      nullable: true,
      description: 'Epoch: fractional for training steps (1.5 = halfway through epoch 2), whole for validation.',
    }),
    value: t.exposeFloat('value', { description: 'The value (the mean of the bucket when downsampled).' }),
    timestamp: t.field({ type: 'DateTime', description: 'When it was measured.', resolve: (point) => point.timestamp }),
  }),
})

const MetricBatch = builder.objectRef<{ jobId: string; points: MetricPointView[]; emittedAt: string }>('MetricBatch').implement({
  description: 'The metric points one trainer event carried (a few steps of a fast job), in step order.',
  fields: (t) => ({
    jobId: t.exposeID('jobId', { description: 'Job id.' }),
    points: t.field({ type: [MetricPoint], description: 'Points in step order, each with its metric name.', resolve: (batch) => batch.points }),
    emittedAt: t.field({ type: 'DateTime', description: 'When the trainer sent them (for measuring delivery delay).', resolve: (batch) => batch.emittedAt }),
  }),
})

const MetricSeries = builder.objectRef<{ name: string; points: SeriesPoint[] }>('MetricSeries').implement({
  description: 'The history of one metric, in step order.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Metric name, e.g. trainLoss.' }),
    points: t.field({ type: [MetricPoint], description: 'Points in step order.', resolve: (series) => series.points }),
  }),
})

const Checkpoint = builder.objectRef<CheckpointView>('Checkpoint').implement({
  description: 'Saved model weights at a step.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Checkpoint id.' }),
    step: t.exposeInt('step', { description: 'Step it was saved at.' }),
    epoch: t.exposeFloat('epoch', { description: 'Epochs completed (fractional).' }),
    sizeBytes: t.exposeFloat('sizeBytes', { description: 'Size on disk in bytes.' }),
    metrics: t.field({ type: 'JSONObject', nullable: true, description: 'Metrics when it was saved.', resolve: (checkpoint) => checkpoint.metrics }),
    isBest: t.exposeBoolean('isBest', { description: 'The best by validation so far (the one exported and evaluated).' }),
    createdAt: t.field({ type: 'DateTime', description: 'When it was saved.', resolve: (checkpoint) => checkpoint.createdAt }),
  }),
})

const ClassMetrics = builder.objectRef<PerClassMetrics>('ClassMetrics').implement({
  description: 'Test metrics of one class.',
  fields: (t) => ({
    label: t.exposeString('label', { description: 'Class name.' }),
    precision: t.exposeFloat('precision', { description: 'Precision.' }),
    recall: t.exposeFloat('recall', { description: 'Recall.' }),
    f1: t.exposeFloat('f1', { description: 'F1 score.' }),
    support: t.exposeInt('support', { description: 'Test samples of this class.' }),
  }),
})

const Evaluation = builder.objectRef<EvaluationView>('Evaluation').implement({
  description: 'The trained model measured on the held-out test split.',
  fields: (t) => ({
    jobId: t.exposeID('jobId', { description: 'The job.' }),
    checkpointId: t.exposeID('checkpointId', { nullable: true, description: 'Checkpoint evaluated.' }),
    split: t.exposeString('split', { description: 'Split evaluated (test).' }),
    sampleCount: t.exposeInt('sampleCount', { description: 'Samples evaluated.' }),
    metrics: t.field({
      type: 'JSONObject',
      description: 'Classification: loss, accuracy, precision, recall, f1 (macro). Regression: loss, mae, rmse, r2.',
      resolve: (e) => e.metrics,
    }),
    perClass: t.field({ type: [ClassMetrics], nullable: true, description: 'Per class (classification).', resolve: (e) => e.perClass }),
    confusionMatrix: t.field({
      type: t.listRef(t.listRef('Int')),
      nullable: true,
      description: 'confusionMatrix[actual][predicted], in `labels` order (classification).',
      resolve: (e) => e.confusionMatrix,
    }),
    labels: t.stringList({ nullable: true, description: 'Class names (classification).', resolve: (e) => e.labels }),
    createdAt: t.field({ type: 'DateTime', description: 'When it was evaluated.', resolve: (e) => e.createdAt }),
  }),
})

const ConfigDifference = builder.objectRef<{ path: string; values: unknown[] }>('ConfigDifference').implement({
  description: 'A configuration setting whose value differs between the compared jobs.',
  fields: (t) => ({
    path: t.exposeString('path', { description: 'Dotted path, e.g. hyperparameters.learningRate.' }),
    values: t.field({
      type: ['JSON'],
      nullable: { list: false, items: true },
      description: 'One value per job, in the order asked (null where a job lacks it).',
      resolve: (d) => d.values,
    }),
  }),
})

const ComparedJobRef = builder.objectRef<ComparedJob>('ComparedJob').implement({
  description: 'One job in a comparison.',
  fields: (t) => ({
    job: t.field({ type: Job, description: 'The job (configuration, final metrics, cost, ...).', resolve: (entry) => entry.job }),
    testMetrics: t.field({
      type: 'JSONObject',
      nullable: true,
      description: 'Metrics of its test evaluation; null without one.',
      resolve: (entry) => entry.testMetrics,
    }),
    duration: t.exposeFloat('duration', { nullable: true, description: 'Seconds from start to end; null until it has ended.' }),
  }),
})

const BestJob = builder.objectRef<NonNullable<Comparison['best']>>('BestJob').implement({
  description: 'The best of the compared jobs by a test metric.',
  fields: (t) => ({
    metric: t.exposeString('metric', { description: 'accuracy (highest wins, classification) or rmse (lowest wins, regression): a key of testMetrics.' }),
    jobId: t.exposeID('jobId', { description: 'The best job.' }),
    value: t.exposeFloat('value', { description: 'Its value of the metric.' }),
  }),
})

const JobComparison = builder.objectRef<Comparison>('JobComparison').implement({
  description: 'Jobs side by side.',
  fields: (t) => ({
    jobs: t.field({ type: [ComparedJobRef], description: 'The jobs, in the order asked.', resolve: (c) => c.jobs }),
    differences: t.field({
      type: [ConfigDifference],
      description: 'Settings (model, dataset, hyperparameters, options) whose values differ.',
      resolve: (c) => Object.entries(c.differences).map(([path, values]) => ({ path, values })),
    }),
    best: t.field({
      type: BestJob,
      nullable: true,
      description: 'Best by test accuracy or RMSE; null without evaluations or across task families.',
      resolve: (c) => c.best,
    }),
  }),
})

builder.objectFields(Job, (t) => ({
  logs: t.field({
    type: JobLogPage,
    description: 'Log lines (spec §4.1), oldest first.',
    args: {
      minLevel: t.arg({ type: LogLevel, defaultValue: 'info', description: 'Lines at this level and above.' }),
      startTime: t.arg({ type: 'DateTime', description: 'Lines at or after this time.' }),
      endTime: t.arg({ type: 'DateTime', description: 'Lines at or before this time.' }),
      limit: t.arg.int({ defaultValue: 100, description: 'At most this many lines (1-1000).' }),
      after: t.arg.string({ description: 'nextCursor of the previous page.' }),
    },
    resolve: (job, args, ctx) =>
      ctx.services.monitoring.logs(viewer(ctx), job.id, {
        minLevel: args.minLevel ?? undefined,
        startTime: args.startTime ?? undefined,
        endTime: args.endTime ?? undefined,
        limit: args.limit ?? undefined,
        after: args.after ?? undefined,
      }),
  }),
  metricHistory: t.field({
    type: [MetricSeries],
    description: 'Metric history (spec §4.2), one series per metric.',
    args: {
      names: t.arg.stringList({ description: "Only these metrics (the task's metric names or any the job reported); default all reported." }),
      maxPoints: t.arg.int({
        description: 'Downsample each series to at most this many points (2-10000): first and last kept, evenly spaced bucket means between.',
      }),
    },
    resolve: async (job, args, ctx) => {
      const history = await ctx.services.monitoring.metricHistory(viewer(ctx), job.id, {
        names: args.names ?? undefined,
        maxPoints: args.maxPoints ?? undefined,
      })
      return Object.entries(history).map(([name, points]) => ({ name, points }))
    },
  }),
  checkpoints: t.field({
    type: [Checkpoint],
    description: 'Checkpoints kept, in step order.',
    resolve: (job, _args, ctx) => ctx.services.monitoring.checkpoints(viewer(ctx), job.id),
  }),
  evaluation: t.field({
    type: Evaluation,
    nullable: true,
    description: 'The test-set evaluation; null until the job has completed and been evaluated.',
    resolve: async (job, _args, ctx) => (await ctx.services.monitoring.findEvaluation(viewer(ctx), job.id)).evaluation,
  }),
}))

builder.queryFields((t) => ({
  compareJobs: t.field({
    type: JobComparison,
    description: 'Compares 2-20 of your jobs (E1101 naming any that is not yours or does not exist).',
    args: { ids: t.arg.idList({ required: true, description: 'Job ids, no repeats.' }) },
    resolve: (_root, args, ctx) => ctx.services.monitoring.compare(viewer(ctx), args.ids.map(String)),
  }),
}))

builder.subscriptionFields((t) => ({
  jobMetrics: t.field({
    type: MetricPoint,
    description:
      'Metric points of one of your jobs as they are measured, one result per point, in step order (E1101 when not yours). Completes when the job ends (at once for an ended job).',
    args: {
      id: t.arg.id({ required: true, description: 'Job id.' }),
      names: t.arg.stringList({ description: 'Only these metrics.' }),
    },
    subscribe: (_root, args, ctx) => ctx.services.monitoring.watchMetrics(viewer(ctx), String(args.id), args.names ?? undefined),
    resolve: (point) => point,
  }),
  jobMetricBatches: t.field({
    type: MetricBatch,
    description:
      'Like jobMetrics, but one result per trainer event carrying every point of it (several steps for a fast job): far fewer results and messages, so prefer it for many subscribers or fast jobs. Completes when the job ends.',
    args: {
      id: t.arg.id({ required: true, description: 'Job id.' }),
      names: t.arg.stringList({ description: 'Only these metrics.' }),
    },
    subscribe: (_root, args, ctx) => ctx.services.monitoring.watchMetricBatches(viewer(ctx), String(args.id), args.names ?? undefined),
    resolve: (batch) => batch,
  }),
  jobLogs: t.field({
    type: JobLog,
    description: 'Log lines of one of your jobs as they are written (E1101 when not yours). Completes when the job ends (at once for an ended job).',
    args: {
      id: t.arg.id({ required: true, description: 'Job id.' }),
      minLevel: t.arg({ type: LogLevel, defaultValue: 'info', description: 'Lines at this level and above.' }),
    },
    subscribe: (_root, args, ctx) => ctx.services.monitoring.watchLogs(viewer(ctx), String(args.id), args.minLevel ?? undefined),
    resolve: (log) => log,
  }),
}))
