// GraphQL types for a job's configuration groups (spec §1.1), as outputs
// and as inputs. Field meanings and bounds are those of the REST request.
import { builder, type SchemaTypes } from './builder.ts'
import type { JobView } from '../domain/views.ts'

export const ModelConfig = builder.objectRef<JobView['model']>('ModelConfig').implement({
  description: 'What is trained: a base model for a task.',
  fields: (t) => ({
    baseModel: t.exposeString('baseModel', {
      description: 'A built-in base model, the id of a completed job (fine-tune), or a name trained from scratch with `architecture`.',
    }),
    task: t.exposeString('task', { description: 'text-classification, tabular-classification, tabular-regression or image-classification.' }),
    architecture: t.exposeString('architecture', { description: 'bag-of-embeddings, cnn, transformer or mlp (resolved from the base model when not given).' }),
  }),
})

export const DatasetConfig = builder.objectRef<JobView['dataset']>('DatasetConfig').implement({
  description: 'The dataset a job trains on and how it is split.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Dataset id.' }),
    validationSplit: t.exposeFloat('validationSplit', { description: 'Fraction of rows held out for validation, in [0, 1).' }),
    testSplit: t.exposeFloat('testSplit', { description: 'Fraction of rows held out for the final test evaluation, in [0, 1).' }),
    textColumn: t.exposeString('textColumn', {
      nullable: true,
      description: 'Column holding the text (text tasks); default `text`, else the first string column.',
    }),
    labelColumn: t.exposeString('labelColumn', { nullable: true, description: 'Column holding the label; default `label`, else the last column.' }),
    featureColumns: t.exposeStringList('featureColumns', {
      nullable: true,
      description: 'Input columns (tabular and image tasks); default: every column but the label.',
    }),
  }),
})

export const Hyperparameters = builder.objectRef<JobView['hyperparameters']>('Hyperparameters').implement({
  description: 'Training hyperparameters (defaults filled in).',
  fields: (t) => ({
    learningRate: t.exposeFloat('learningRate', { description: 'Peak learning rate (> 0).' }),
    batchSize: t.exposeInt('batchSize', { description: 'Samples per step.' }),
    epochs: t.exposeInt('epochs', { description: 'Passes over the training split.' }),
    warmupSteps: t.exposeInt('warmupSteps', { description: 'Steps of linear warm-up before the schedule starts.' }),
    weightDecay: t.exposeFloat('weightDecay', { description: 'Decoupled (AdamW) weight decay.' }),
    gradientClipping: t.exposeFloat('gradientClipping', { nullable: true, description: 'Clip gradients to this global norm; null: no clipping.' }),
    lrSchedule: t.exposeString('lrSchedule', { description: 'Decay after warm-up: constant, linear, cosine or exponential.' }),
    dropout: t.exposeFloat('dropout', { nullable: true, description: 'Dropout rate; null: the architecture default.' }),
    hiddenSize: t.exposeInt('hiddenSize', { nullable: true, description: 'Hidden width; null: architecture default.' }),
    numLayers: t.exposeInt('numLayers', { nullable: true, description: 'Layers; null: architecture default.' }),
    numHeads: t.exposeInt('numHeads', { nullable: true, description: 'Attention heads (transformer); null: default.' }),
    embeddingDim: t.exposeInt('embeddingDim', { nullable: true, description: 'Token embedding width (text); null: default.' }),
    maxSequenceLength: t.exposeInt('maxSequenceLength', { nullable: true, description: 'Tokens kept per text; null: default.' }),
    vocabSize: t.exposeInt('vocabSize', { nullable: true, description: 'Vocabulary size cap (text); null: default.' }),
    filters: t.exposeInt('filters', { nullable: true, description: 'Convolution filters (cnn); null: default.' }),
    kernelSize: t.exposeInt('kernelSize', { nullable: true, description: 'Convolution kernel size (cnn); null: default.' }),
  }),
})

export const JobResources = builder.objectRef<JobView['resources']>('JobResources').implement({
  description: 'Requested resources, and what the running job measures of them (null until measured).',
  fields: (t) => ({
    instanceType: t.exposeString('instanceType', { description: 'Instance type from `instanceTypes`.' }),
    instanceCount: t.exposeInt('instanceCount', { description: 'Instances.' }),
    distributed: t.exposeBoolean('distributed', { description: 'Data-parallel training across instances.' }),
    backend: t.exposeString('backend', { nullable: true, description: 'TensorFlow.js backend in use.' }),
    cpuUtilization: t.exposeFloat('cpuUtilization', { nullable: true, description: 'CPU use of the job, percent of its vCPUs.' }),
    memoryUsage: t.exposeFloat('memoryUsage', { nullable: true, description: "Memory use, percent of the instance type's memory." }),
    gpuUtilization: t.exposeFloat('gpuUtilization', { nullable: true, description: 'GPU use, percent; null where no GPU is used.' }),
  }),
})

export const OutputConfig = builder.objectRef<JobView['output']>('OutputConfig').implement({
  description: 'Checkpointing and export settings.',
  fields: (t) => ({
    checkpointInterval: t.exposeInt('checkpointInterval', { nullable: true, description: 'Save a checkpoint every this many steps; null: every epoch.' }),
    saveBestOnly: t.exposeBoolean('saveBestOnly', { description: 'Keep only the checkpoint with the best monitored metric.' }),
    exportFormat: t.exposeString('exportFormat', { nullable: true, description: 'Export produced on completion: onnx or tfjs; null: none.' }),
  }),
})

export const JobOptions = builder.objectRef<JobView['options']>('JobOptions').implement({
  description: 'Other options (defaults filled in).',
  fields: (t) => ({
    enableEarlyStopping: t.exposeBoolean('enableEarlyStopping', { description: 'Stop when the monitored metric stops improving.' }),
    earlyStoppingPatience: t.exposeInt('earlyStoppingPatience', { description: 'Epochs without improvement before stopping.' }),
    earlyStoppingMetric: t.exposeString('earlyStoppingMetric', { description: 'Monitored metric: valLoss, valAccuracy, valMae or valRmse.' }),
    earlyStoppingMinDelta: t.exposeFloat('earlyStoppingMinDelta', { description: 'Smallest change that counts as an improvement.' }),
    enableMixedPrecision: t.exposeBoolean('enableMixedPrecision', { description: 'Use float16 where the backend supports it.' }),
    enableLogging: t.exposeBoolean('enableLogging', { description: 'Write per-epoch log lines.' }),
    seed: t.exposeInt('seed', { description: 'Seed of the shuffle, splits and initialisation.' }),
    maxRetries: t.exposeInt('maxRetries', { description: 'Re-runs after a failure that is not bad input.' }),
    maxRuntimeSeconds: t.exposeInt('maxRuntimeSeconds', { nullable: true, description: 'Fail the job when it runs longer; null: no limit.' }),
  }),
})

export const ModelInput = builder.inputType('ModelInput', {
  description: 'What to train.',
  fields: (t) => ({
    baseModel: t.string({
      required: true,
      description: 'Built-in base model (see `baseModels`), a completed job id, or any name together with `architecture`.',
    }),
    task: t.string({ required: true, description: 'text-classification, tabular-classification, tabular-regression or image-classification.' }),
    architecture: t.string({ description: 'bag-of-embeddings, cnn, transformer or mlp.' }),
  }),
})

const datasetSettingsFields = (t: PothosSchemaTypes.InputFieldBuilder<SchemaTypes, 'InputObject'>) => ({
  validationSplit: t.float({ description: 'Fraction held out for validation, [0, 1); default 0.1.' }),
  testSplit: t.float({ description: 'Fraction held out for testing, [0, 1); default 0.1.' }),
  textColumn: t.string({ description: 'Text column (text tasks).' }),
  labelColumn: t.string({ description: 'Label column.' }),
  featureColumns: t.stringList({ description: 'Input columns (tabular and image tasks).' }),
})

export const DatasetSettingsInput = builder.inputType('DatasetSettingsInput', {
  description: 'How a dataset is split and which columns play which role.',
  fields: (t) => datasetSettingsFields(t),
})

export const DatasetRefInput = builder.inputType('DatasetRefInput', {
  description: 'The dataset to train on and how to split it.',
  fields: (t) => ({ id: t.id({ required: true, description: 'Dataset id.' }), ...datasetSettingsFields(t) }),
})

export const HyperparametersInput = builder.inputType('HyperparametersInput', {
  description: 'Hyperparameters; each is optional and has a default.',
  fields: (t) => ({
    learningRate: t.float({ description: 'Peak learning rate, > 0 and <= 10; default 0.001.' }),
    batchSize: t.int({ description: '1-65536; default 32.' }),
    epochs: t.int({ description: '1-10000; default 10.' }),
    warmupSteps: t.int({ description: 'Linear warm-up steps; default 0.' }),
    weightDecay: t.float({ description: 'Decoupled weight decay in [0, 1]; default 0.' }),
    gradientClipping: t.float({ description: 'Global-norm clipping threshold (> 0); default none.' }),
    lrSchedule: t.string({ description: 'constant, linear, cosine or exponential; default linear.' }),
    dropout: t.float({ description: 'Dropout rate in [0, 1).' }),
    hiddenSize: t.int({ description: 'Hidden width (4-4096).' }),
    numLayers: t.int({ description: 'Layers (1-48).' }),
    numHeads: t.int({ description: 'Attention heads (1-64), must divide hiddenSize.' }),
    embeddingDim: t.int({ description: 'Token embedding width (4-4096).' }),
    maxSequenceLength: t.int({ description: 'Tokens kept per text (4-4096).' }),
    vocabSize: t.int({ description: 'Vocabulary size cap (100-1000000).' }),
    filters: t.int({ description: 'Convolution filters (4-1024).' }),
    kernelSize: t.int({ description: 'Convolution kernel size (1-15).' }),
  }),
})

export const ResourcesInput = builder.inputType('ResourcesInput', {
  description: 'Where the job runs.',
  fields: (t) => ({
    instanceType: t.string({ required: true, description: 'An instance type from `instanceTypes`.' }),
    instanceCount: t.int({ description: '1-64; default 1.' }),
    distributed: t.boolean({ description: 'Required true when instanceCount > 1.' }),
  }),
})

export const OutputInput = builder.inputType('OutputInput', {
  description: 'Checkpointing and export.',
  fields: (t) => ({
    checkpointInterval: t.int({ description: 'Checkpoint every this many steps; default every epoch.' }),
    saveBestOnly: t.boolean({ description: 'Keep only the best checkpoint; default false.' }),
    exportFormat: t.string({ description: 'onnx or tfjs, exported on completion.' }),
  }),
})

export const OptionsInput = builder.inputType('OptionsInput', {
  description: 'Other options.',
  fields: (t) => ({
    enableEarlyStopping: t.boolean({ description: 'Default false.' }),
    earlyStoppingPatience: t.int({ description: 'Epochs without improvement (1-1000); default 3.' }),
    earlyStoppingMetric: t.string({ description: 'valLoss (default), valAccuracy, valMae or valRmse.' }),
    earlyStoppingMinDelta: t.float({ description: 'Smallest improvement that counts; default 0.' }),
    enableMixedPrecision: t.boolean({ description: 'Default false.' }),
    enableLogging: t.boolean({ description: 'Default true.' }),
    seed: t.int({ description: '0-2147483647; default random (and recorded).' }),
    maxRetries: t.int({ description: '0-10; default 0.' }),
    maxRuntimeSeconds: t.int({ description: 'Time limit in seconds; default none.' }),
  }),
})
