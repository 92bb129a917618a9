// GraphQL enums over the domain's value lists. One naming rule everywhere:
// a GraphQL enum value cannot hold `-`, so each `-` becomes `_`
// (`text-classification` is `text_classification` in GraphQL); resolvers and
// services keep seeing the domain's own strings. Enums made here are known
// by their values, so that fields derived from zod enums find them.
import type { EnumRef } from '@pothos/core'
import { architectures, tasks } from '../domain/catalog.ts'
import { earlyStoppingMetrics, exportFormats, lrSchedules } from '../domain/job-config.ts'
import { builder, type SchemaTypes } from './builder.ts'

/** The GraphQL name of a domain value: `-` becomes `_`. */
export const graphqlValueName = (value: string) => value.replaceAll('-', '_')

const byValues = new Map<string, EnumRef<SchemaTypes, unknown, unknown>>()
const keyOf = (values: readonly string[]) => [...values].sort().join('\n')

/** A GraphQL enum whose values are `values` (named by `graphqlValueName`), each optionally described. */
export function enumOf<const T extends string>(name: string, description: string, values: readonly T[], descriptions: Partial<Record<T, string>> = {}) {
  const entries = values.map((value) => [graphqlValueName(value), { value, description: descriptions[value] }] as const)
  const ref = builder.enumType(name, { description, values: Object.fromEntries(entries) as Record<string, { value: T; description?: string }> })
  byValues.set(keyOf(values), ref)
  return ref
}

/** The enum made for exactly these values; a zod enum without one is a mistake in the schema's wiring. */
export function enumForValues(values: readonly string[]): EnumRef<SchemaTypes, unknown, unknown> {
  const ref = byValues.get(keyOf(values))
  if (!ref) throw new Error(`No GraphQL enum for the values ${values.join(', ')}: make one with enumOf`)
  return ref
}

export const Task = enumOf('Task', 'What a job learns to predict.', tasks, {
  'text-classification': 'A class for a text.',
  'tabular-classification': 'A class for a row of features.',
  'tabular-regression': 'A number for a row of features.',
  'image-classification': 'A class for an image (pixel columns).',
})

export const Architecture = enumOf('Architecture', 'The kind of network trained.', architectures, {
  'bag-of-embeddings': 'Averaged token embeddings and a linear classifier (text).',
  cnn: 'Convolutions (text: 1-D over tokens; images: 2-D).',
  transformer: 'A small transformer encoder (text).',
  mlp: 'Dense layers (tabular).',
})

export const LrSchedule = enumOf('LrSchedule', 'How the learning rate decays after warm-up.', lrSchedules, {
  constant: 'Stays at the peak.',
  linear: 'Falls linearly to 0 at the last step.',
  cosine: 'Follows half a cosine to 0.',
  exponential: 'Falls geometrically to 1% of the peak at the last step.',
})

export const ExportFormat = enumOf(
  'ExportFormat',
  'onnx: a standard ONNX model (onnxruntime and others); tfjs: TensorFlow.js layers format, one zip archive.',
  exportFormats,
)

export const EarlyStoppingMetric = enumOf('EarlyStoppingMetric', 'The validation metric early stopping and the best checkpoint watch.', earlyStoppingMetrics, {
  valLoss: 'Validation loss (lower is better).',
  valAccuracy: 'Validation accuracy (classification; higher is better).',
  valMae: 'Validation mean absolute error (regression; lower is better).',
  valRmse: 'Validation root mean squared error (regression; lower is better).',
})
