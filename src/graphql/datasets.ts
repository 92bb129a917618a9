// Datasets in GraphQL: types, queries and the multipart upload mutation.
import { builder, SortOrder, withoutNulls } from './builder.ts'
import { filterOf, offsetConnection } from './connection.ts'
import { viewer } from '../context.ts'
import type { DatasetColumn, DatasetView } from '../domain/views.ts'
import { datasetSortFields } from '../services/datasets.ts'
import { enumOf } from './enums.ts'

const DatasetColumnType = builder.objectRef<DatasetColumn>('DatasetColumn').implement({
  description: 'One column of a dataset.',
  fields: (t) => ({
    name: t.string({ description: 'Column name.', resolve: (column) => column.name }),
    type: t.string({ description: 'string, integer, float or boolean (inferred from the file, or as declared).', resolve: (column) => column.type }),
    description: t.string({
      nullable: true,
      description: 'Description given in a declared schema.',
      resolve: (column) => (typeof column.description === 'string' ? column.description : null),
    }),
  }),
})

const DatasetSchema = builder.objectRef<DatasetView['schema']>('DatasetSchema').implement({
  description: 'Columns of a dataset.',
  fields: (t) => ({ columns: t.expose('columns', { type: [DatasetColumnType], description: 'Columns in file order.' }) }),
})

type DatasetWithPreview = DatasetView & { preview?: Record<string, unknown>[] }

export const Dataset = builder.objectRef<DatasetWithPreview>('Dataset').implement({
  description: 'An uploaded dataset (spec §2).',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'dataset-… id.' }),
    name: t.exposeString('name', { description: 'Name.' }),
    description: t.exposeString('description', { nullable: true, description: 'Description.' }),
    type: t.exposeString('type', { description: 'text, image, audio, multimodal or tabular.' }),
    format: t.exposeString('format', { description: 'csv, json or parquet.' }),
    size: t.exposeFloat('size', { description: 'Bytes (a Float: files may exceed 2^31 bytes).' }),
    rowCount: t.exposeInt('rowCount', { description: 'Data rows.' }),
    columnCount: t.exposeInt('columnCount', { description: 'Columns.' }),
    schema: t.expose('schema', { type: DatasetSchema, description: 'Columns and their types.' }),
    metadata: t.expose('metadata', { type: 'JSONObject', nullable: true, description: 'Metadata given at upload.' }),
    tags: t.exposeStringList('tags', { description: 'Tags.' }),
    status: t.exposeString('status', { description: 'uploaded once stored and checked.' }),
    fileName: t.exposeString('fileName', { description: 'Name of the uploaded file.' }),
    checksum: t.exposeString('checksum', { description: 'sha256 of the file, as sha256:<hex>.' }),
    preview: t.field({
      type: ['JSONObject'],
      description: 'The first rows of the file as objects.',
      resolve: async (dataset, _args, ctx) => dataset.preview ?? (await ctx.services.datasets.get(viewer(ctx), dataset.id)).preview,
    }),
    createdAt: t.field({ type: 'DateTime', description: 'Uploaded.', resolve: (d) => d.createdAt }),
    updatedAt: t.field({ type: 'DateTime', description: 'Last changed.', resolve: (d) => d.updatedAt }),
  }),
})

const DatasetColumnInput = builder.inputType('DatasetColumnInput', {
  description: 'A declared column.',
  fields: (t) => ({
    name: t.string({ required: true, description: 'Column name as in the file.' }),
    type: t.string({ required: true, description: 'string, integer, float or boolean.' }),
    description: t.string({ description: 'What the column holds.' }),
  }),
})

const DatasetSchemaInput = builder.inputType('DatasetSchemaInput', {
  description: 'A declared schema; checked against the file (E1108 when they disagree).',
  fields: (t) => ({ columns: t.field({ type: [DatasetColumnInput], required: true, description: 'Every column of the file.' }) }),
})

const CreateDatasetInput = builder.inputType('CreateDatasetInput', {
  description: 'The fields of a dataset upload (the multipart form of POST /v1/training/datasets).',
  fields: (t) => ({
    name: t.string({ required: true, description: 'Non-empty, at most 128 characters.' }),
    description: t.string({ description: 'At most 2000 characters.' }),
    type: t.string({ required: true, description: 'text, image, audio, multimodal or tabular.' }),
    format: t.string({ required: true, description: 'csv, json (array or JSON Lines) or parquet.' }),
    schema: t.field({ type: DatasetSchemaInput, description: 'Declared schema; inferred from the file when absent.' }),
    metadata: t.field({ type: 'JSONObject', description: 'Free-form metadata (e.g. language, image width/height/channels).' }),
    tags: t.stringList({ description: 'Tags (at most 32).' }),
  }),
})

const DatasetSortField = enumOf('DatasetSortField', 'Dataset list order.', datasetSortFields, { createdAt: 'Upload time', name: 'Name', size: 'Bytes' })

const DeleteDatasetResult = builder.objectRef<{ datasetId: string; deleted: true; deletedAt: string }>('DeleteDatasetResult').implement({
  description: 'Result of deleteDataset.',
  fields: (t) => ({
    datasetId: t.exposeID('datasetId', { description: 'The deleted dataset.' }),
    deleted: t.exposeBoolean('deleted', { description: 'Always true.' }),
    deletedAt: t.field({ type: 'DateTime', description: 'When.', resolve: (r) => r.deletedAt }),
  }),
})

builder.queryFields((t) => ({
  dataset: t.field({
    type: Dataset,
    description: 'One of your datasets (E1102 when absent).',
    args: { id: t.arg.id({ required: true, description: 'Dataset id.' }) },
    resolve: (_root, args, ctx) => ctx.services.datasets.get(viewer(ctx), String(args.id)),
  }),
  datasets: t.connection({
    type: Dataset,
    description: 'Your datasets, newest first by default.',
    args: {
      type: t.arg.string({ description: 'Only datasets of this type.' }),
      tags: t.arg.stringList({ description: 'Only datasets carrying every one of these tags.' }),
      sortBy: t.arg({ type: DatasetSortField, description: 'Default createdAt.' }),
      sortOrder: t.arg({ type: SortOrder, description: 'Default desc.' }),
    },
    resolve: (_root, args, ctx) => {
      const filter = filterOf({ type: args.type, tags: args.tags, sortBy: args.sortBy, sortOrder: args.sortOrder })
      return offsetConnection(args, (window) => ctx.services.datasets.find(viewer(ctx), filter, window))
    },
  }),
}))

builder.mutationFields((t) => ({
  createDataset: t.field({
    type: Dataset,
    description: 'Uploads a dataset (GraphQL multipart request). The file streams to disk; it is parsed, typed and checked before the dataset exists.',
    args: {
      input: t.arg({ type: CreateDatasetInput, required: true, description: 'Dataset fields.' }),
      file: t.arg({ type: 'Upload', required: true, description: 'The dataset file.' }),
    },
    resolve: async (_root, args, ctx) => {
      const principal = viewer(ctx)
      const upload = await args.file
      const { services } = ctx
      const input = withoutNulls(args.input)
      const staged = await services.storage.stage(upload.createReadStream(), upload.filename, `data.${input.format}`, services.maxUploadBytes)
      return services.datasets.create(principal, { fields: input, file: staged })
    },
  }),
  deleteDataset: t.field({
    type: DeleteDatasetResult,
    description: 'Deletes a dataset and its file (E1110 while a pending or running job uses it).',
    args: { id: t.arg.id({ required: true, description: 'Dataset id.' }) },
    resolve: (_root, args, ctx) => ctx.services.datasets.delete(viewer(ctx), String(args.id)),
  }),
}))
