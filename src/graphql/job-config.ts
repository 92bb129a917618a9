// GraphQL types of a job's configuration groups (spec §1.1), as inputs and
// as outputs, derived from their zod schemas (src/domain/job-config.ts):
// the same fields, descriptions, bounds and defaults as the REST request.
import { builder } from './builder.ts'
import { zodInputType, zodOutputFields } from './zod-fields.ts'
import {
  createJobSchema,
  datasetRefSchema,
  datasetSettingsSchema,
  hyperparametersSchema,
  jobDefaults,
  modelSchema,
  optionsSchema,
  outputSchema,
  resolvedAtCreation,
  resourcesSchema,
} from '../domain/job-config.ts'
import type { JobView } from '../domain/views.ts'

export const ModelInput = zodInputType('ModelInput', modelSchema)
export const DatasetSettingsInput = zodInputType('DatasetSettingsInput', datasetSettingsSchema, { defaults: jobDefaults.dataset })
export const DatasetRefInput = zodInputType('DatasetRefInput', datasetRefSchema, { defaults: jobDefaults.dataset })
export const HyperparametersInput = zodInputType('HyperparametersInput', hyperparametersSchema, { defaults: jobDefaults.hyperparameters })
export const ResourcesInput = zodInputType('ResourcesInput', resourcesSchema, { defaults: jobDefaults.resources })
export const OutputInput = zodInputType('OutputInput', outputSchema, { defaults: jobDefaults.output })
export const OptionsInput = zodInputType('OptionsInput', optionsSchema, { defaults: jobDefaults.options })
export const CreateJobInput = zodInputType('CreateJobInput', createJobSchema, { defaults: { priority: jobDefaults.priority } })

export const ModelConfig = builder.objectRef<JobView['model']>('ModelConfig').implement({
  description: 'What is trained: a base model for a task.',
  fields: (t) => zodOutputFields(t, modelSchema, { always: resolvedAtCreation.model }),
})

export const DatasetConfig = builder.objectRef<JobView['dataset']>('DatasetConfig').implement({
  description: 'The dataset a job trains on and how it is split.',
  fields: (t) => zodOutputFields(t, datasetRefSchema, { defaults: jobDefaults.dataset }),
})

export const Hyperparameters = builder.objectRef<JobView['hyperparameters']>('Hyperparameters').implement({
  description: 'Training hyperparameters (defaults filled in).',
  fields: (t) => zodOutputFields(t, hyperparametersSchema, { defaults: jobDefaults.hyperparameters }),
})

export const JobResources = builder.objectRef<JobView['resources']>('JobResources').implement({
  description: 'Requested resources, and what the running job measures of them (null until measured).',
  fields: (t) => ({
    ...zodOutputFields(t, resourcesSchema, { defaults: jobDefaults.resources }),
    backend: t.exposeString('backend', { nullable: true, description: 'TensorFlow.js backend in use.' }),
    cpuUtilization: t.exposeFloat('cpuUtilization', { nullable: true, description: 'CPU use of the job, percent of its vCPUs.' }),
    memoryUsage: t.exposeFloat('memoryUsage', { nullable: true, description: "Memory use, percent of the instance type's memory." }),
    gpuUtilization: t.exposeFloat('gpuUtilization', { nullable: true, description: 'GPU use, percent; null where no GPU is used.' }),
  }),
})

export const OutputConfig = builder.objectRef<JobView['output']>('OutputConfig').implement({
  description: 'Checkpointing and export settings (defaults filled in).',
  fields: (t) => zodOutputFields(t, outputSchema, { defaults: jobDefaults.output }),
})

export const JobOptions = builder.objectRef<JobView['options']>('JobOptions').implement({
  description: 'Other options (defaults filled in).',
  fields: (t) => zodOutputFields(t, optionsSchema, { defaults: jobDefaults.options, always: resolvedAtCreation.options }),
})
