// Model export and prediction in GraphQL (spec §5): the Export type,
// Job.exports, exportModel, exportUpdated, and a predict query.
import { builder, withoutNulls } from './builder.ts'
import { Job } from './jobs.ts'
import { viewer } from '../context.ts'
import { enumOf, ExportFormat } from './enums.ts'
import { exportStatuses, quantizationTypes, type ExportView, type TensorDoc } from '../domain/exports.ts'
import type { Prediction, PredictResult } from '../../trainer/serving.ts'

const ExportStatus = enumOf('ExportStatus', 'processing → completed | failed.', exportStatuses)
const QuantizationType = enumOf('QuantizationType', 'int8: 8-bit weights with scales; float16: half-precision weights.', quantizationTypes)

const Tensor = builder.objectRef<TensorDoc>('ExportTensor').implement({
  description: 'An input or output of an exported model.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Name in the model.' }),
    dtype: t.exposeString('dtype', { description: 'Element type.' }),
    shape: t.field({ type: ['JSON'], description: 'Dimensions; strings name variable ones (batch).', resolve: (tensor) => tensor.shape }),
    description: t.exposeString('description', { description: 'What to feed or what comes out.' }),
  }),
})

const Export = builder.objectRef<ExportView>('Export').implement({
  description: "An export of a job's best checkpoint (spec §5).",
  fields: (t) => ({
    id: t.exposeID('id', { description: 'export-… id.' }),
    jobId: t.exposeID('jobId', { description: 'The job exported.' }),
    format: t.field({ type: ExportFormat, description: 'onnx or tfjs.', resolve: (view) => view.format }),
    status: t.field({ type: ExportStatus, description: 'State.', resolve: (view) => view.status }),
    optimize: t.boolean({ description: 'Constants folded, inference no-ops dropped.', resolve: (view) => view.options.optimize }),
    quantizationType: t.field({
      type: QuantizationType,
      nullable: true,
      description: 'Weight quantization, if any.',
      resolve: (view) => view.options.quantizationType,
    }),
    estimatedTime: t.exposeInt('estimatedTime', { nullable: true, description: 'Seconds it was expected to take.' }),
    checkpointId: t.exposeString('checkpointId', { nullable: true, description: 'The checkpoint exported.' }),
    fileName: t.exposeString('fileName', { nullable: true, description: 'Download file name.' }),
    sizeBytes: t.exposeFloat('sizeBytes', { nullable: true, description: 'Bytes of the file.' }),
    sizeBeforeBytes: t.exposeFloat('sizeBeforeBytes', { nullable: true, description: 'Bytes of the same model unoptimized in float32.' }),
    checksum: t.exposeString('checksum', { nullable: true, description: 'sha256:… of the file.' }),
    inputs: t.field({
      type: [Tensor],
      nullable: true,
      description: 'Inputs, with how to make them from raw data.',
      resolve: (view) => view.metadata?.inputs ?? null,
    }),
    outputs: t.field({ type: [Tensor], nullable: true, description: 'Outputs.', resolve: (view) => view.metadata?.outputs ?? null }),
    metadata: t.field({
      type: 'JSONObject',
      nullable: true,
      description: 'Everything recorded about the file (task, labels, opset or files).',
      resolve: (view) => view.metadata as Record<string, unknown> | null,
    }),
    downloadUrl: t.exposeString('downloadUrl', { nullable: true, description: 'REST path of the file, once completed.' }),
    errorCode: t.string({ nullable: true, description: 'E1105 when it failed.', resolve: (view) => view.error?.code ?? null }),
    errorMessage: t.string({ nullable: true, description: 'Why it failed.', resolve: (view) => view.error?.message ?? null }),
    createdAt: t.field({ type: 'DateTime', description: 'Asked for.', resolve: (view) => view.createdAt }),
    completedAt: t.field({ type: 'DateTime', nullable: true, description: 'Ended.', resolve: (view) => view.completedAt }),
  }),
})

const PredictionRef = builder.objectRef<Prediction>('Prediction').implement({
  description: "The model's answer for one input.",
  fields: (t) => ({
    label: t.string({ nullable: true, description: 'Classification: the most likely class.', resolve: (p) => ('label' in p ? p.label : null) }),
    index: t.int({ nullable: true, description: 'Classification: its index in the labels.', resolve: (p) => ('index' in p ? p.index : null) }),
    probabilities: t.field({
      type: 'JSONObject',
      nullable: true,
      description: 'Classification: every class and its probability.',
      resolve: (p) => ('probabilities' in p ? p.probabilities : null),
    }),
    value: t.float({ nullable: true, description: "Regression: the predicted value, in the target's units.", resolve: (p) => ('value' in p ? p.value : null) }),
    warnings: t.exposeStringList('warnings', {
      description: 'What of this input the model did not learn from: a missing feature, an unseen category, a text of unknown tokens.',
    }),
  }),
})

const PredictResultRef = builder.objectRef<PredictResult>('PredictResult').implement({
  description: "Predictions from a job's best checkpoint.",
  fields: (t) => ({
    predictions: t.field({ type: [PredictionRef], description: 'One per input, in input order.', resolve: (r) => r.predictions }),
    jobId: t.id({ description: 'The job.', resolve: (r) => r.model.jobId }),
    checkpointId: t.string({ description: 'The checkpoint that answered.', resolve: (r) => r.model.checkpointId }),
    inputs: t.string({ description: 'What the model takes.', resolve: (r) => r.model.inputs }),
  }),
})

const ExportOptionsInput = builder.inputType('ExportOptionsInput', {
  description: 'As the options of POST /jobs/{id}/export.',
  fields: (t) => ({
    optimize: t.boolean({ description: 'Default true.' }),
    quantize: t.boolean({ description: 'Default false.' }),
    quantizationType: t.field({ type: QuantizationType, description: 'With quantize: int8 (default) or float16.' }),
  }),
})

builder.objectFields(Job, (t) => ({
  exports: t.field({
    type: [Export],
    description: 'Exports of this job, newest first.',
    resolve: (job, _args, ctx) => ctx.services.exports.ofJob(viewer(ctx), job.id),
  }),
}))

builder.queryFields((t) => ({
  export: t.field({
    type: Export,
    description: 'One export of one of your jobs (E1101 for an unknown job, E1109 for an unknown export).',
    args: { jobId: t.arg.id({ required: true, description: 'Job id.' }), id: t.arg.id({ required: true, description: 'Export id.' }) },
    resolve: (_root, args, ctx) => ctx.services.exports.get(viewer(ctx), String(args.jobId), String(args.id)),
  }),
  predict: t.field({
    type: PredictResultRef,
    description:
      "Labels with probabilities (or values) for raw inputs from a job's best checkpoint: texts (strings), feature rows (objects by column, or arrays in feature order) or pixel rows. Wrong shapes or types: E1108 naming each input.",
    args: {
      jobId: t.arg.id({ required: true, description: 'Job id.' }),
      inputs: t.arg({ type: ['JSON'], required: true, description: 'The raw inputs.' }),
    },
    resolve: (_root, args, ctx) => ctx.services.exports.predict(viewer(ctx), String(args.jobId), { inputs: args.inputs }),
  }),
}))

builder.mutationFields((t) => ({
  exportModel: t.field({
    type: Export,
    description: "Queues an export of a job's best checkpoint (spec §5.1); follow it with exportUpdated or Job.exports.",
    args: {
      jobId: t.arg.id({ required: true, description: 'Job id.' }),
      format: t.arg({ type: ExportFormat, required: true, description: 'onnx or tfjs.' }),
      options: t.arg({ type: ExportOptionsInput, description: 'optimize, quantize, quantizationType.' }),
    },
    resolve: (_root, args, ctx) =>
      ctx.services.exports.create(viewer(ctx), String(args.jobId), withoutNulls({ format: args.format, options: args.options ?? undefined })),
  }),
}))

builder.subscriptionFields((t) => ({
  exportUpdated: t.field({
    type: Export,
    description: 'The state of one export: its current state first, then each change; completes once it has completed or failed.',
    args: { jobId: t.arg.id({ required: true, description: 'Job id.' }), id: t.arg.id({ required: true, description: 'Export id.' }) },
    subscribe: (_root, args, ctx) => ctx.services.exports.watch(viewer(ctx), String(args.jobId), String(args.id)),
    resolve: (view) => view,
  }),
}))
