// Templates in GraphQL (spec §6).
import { resolveOffsetConnection } from '@pothos/plugin-relay'
import { builder, SortOrder, withoutNulls } from './builder.ts'
import { DatasetSettingsInput, HyperparametersInput, ModelInput, OptionsInput, OutputInput, ResourcesInput } from './job-config.ts'
import { Job } from './jobs.ts'
import { viewer } from '../context.ts'
import type { TemplateView } from '../domain/views.ts'

const Template = builder.objectRef<TemplateView>('Template').implement({
  description: 'A saved job configuration; private to its owner unless public.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'template-… id.' }),
    name: t.exposeString('name', { description: 'Name.' }),
    description: t.exposeString('description', { nullable: true, description: 'Description.' }),
    owner: t.exposeString('owner', { description: 'User who created it.' }),
    model: t.expose('model', { type: 'JSONObject', description: 'Model group as saved.' }),
    dataset: t.expose('dataset', { type: 'JSONObject', nullable: true, description: 'Dataset settings (splits, columns) as saved.' }),
    hyperparameters: t.expose('hyperparameters', { type: 'JSONObject', description: 'Hyperparameters as saved.' }),
    resources: t.expose('resources', { type: 'JSONObject', nullable: true, description: 'Resources as saved.' }),
    output: t.expose('output', { type: 'JSONObject', nullable: true, description: 'Output settings as saved.' }),
    options: t.expose('options', { type: 'JSONObject', nullable: true, description: 'Options as saved.' }),
    isPublic: t.exposeBoolean('isPublic', { description: 'Visible to every user.' }),
    createdAt: t.field({ type: 'DateTime', description: 'Created.', resolve: (x) => x.createdAt }),
    updatedAt: t.field({ type: 'DateTime', description: 'Last changed.', resolve: (x) => x.updatedAt }),
  }),
})

const CreateTemplateInput = builder.inputType('CreateTemplateInput', {
  description: 'A template (the body of POST /v1/training/templates).',
  fields: (t) => ({
    name: t.string({ required: true, description: 'Non-empty, at most 128 characters.' }),
    description: t.string({ description: 'At most 2000 characters.' }),
    model: t.field({ type: ModelInput, required: true, description: 'What to train.' }),
    dataset: t.field({ type: DatasetSettingsInput, description: 'Splits and column roles (the dataset itself is chosen per job).' }),
    hyperparameters: t.field({ type: HyperparametersInput, description: 'Hyperparameters.' }),
    resources: t.field({ type: ResourcesInput, description: 'Resources.' }),
    output: t.field({ type: OutputInput, description: 'Output settings.' }),
    options: t.field({ type: OptionsInput, description: 'Other options.' }),
    isPublic: t.boolean({ description: 'Visible to every user; default false.' }),
  }),
})

const CreateJobFromTemplateInput = builder.inputType('CreateJobFromTemplateInput', {
  description: 'What a job from a template adds (spec §6.2).',
  fields: (t) => ({
    name: t.string({ required: true, description: 'Job name.' }),
    datasetId: t.id({ required: true, description: 'Dataset to train on.' }),
    overrides: t.field({ type: 'JSONObject', description: 'Job fields deep-merged over the template, e.g. {"hyperparameters":{"epochs":15}}.' }),
  }),
})

const TemplateVisibility = builder.enumType('TemplateVisibility', {
  description: 'Which templates to list.',
  values: { all: { description: 'Yours and public ones' }, mine: { description: 'Yours' }, public: { description: 'Public ones' } } as const,
})

const TemplateSortField = builder.enumType('TemplateSortField', {
  description: 'Template list order.',
  values: { createdAt: { description: 'Creation time' }, updatedAt: { description: 'Last change' }, name: { description: 'Name' } } as const,
})

const DeleteTemplateResult = builder.objectRef<{ templateId: string; deleted: true; deletedAt: string }>('DeleteTemplateResult').implement({
  description: 'Result of deleteTemplate.',
  fields: (t) => ({
    templateId: t.exposeID('templateId', { description: 'The deleted template.' }),
    deleted: t.exposeBoolean('deleted', { description: 'Always true.' }),
    deletedAt: t.field({ type: 'DateTime', description: 'When.', resolve: (r) => r.deletedAt }),
  }),
})

builder.queryFields((t) => ({
  template: t.field({
    type: Template,
    description: 'A template you own or a public one (E1109 otherwise).',
    args: { id: t.arg.id({ required: true, description: 'Template id.' }) },
    resolve: (_root, args, ctx) => ctx.services.templates.get(viewer(ctx), String(args.id)),
  }),
  templates: t.connection({
    type: Template,
    description: 'Your templates and public ones.',
    args: {
      visibility: t.arg({ type: TemplateVisibility, description: 'Default all.' }),
      sortBy: t.arg({ type: TemplateSortField, description: 'Default createdAt.' }),
      sortOrder: t.arg({ type: SortOrder, description: 'Default desc.' }),
    },
    resolve: async (_root, args, ctx) => {
      const filters = withoutNulls({ visibility: args.visibility, sortBy: args.sortBy, sortOrder: args.sortOrder })
      let totalCount = 0
      const connection = await resolveOffsetConnection({ args }, async ({ offset, limit }) => {
        const page = await ctx.services.templates.find(viewer(ctx), filters, { offset, limit })
        totalCount = page.total
        return page.items
      })
      return { ...connection, totalCount }
    },
  }),
}))

builder.mutationFields((t) => ({
  createTemplate: t.field({
    type: Template,
    description: 'Saves a template (spec §6.1).',
    args: { input: t.arg({ type: CreateTemplateInput, required: true, description: 'The template.' }) },
    resolve: (_root, args, ctx) => ctx.services.templates.create(viewer(ctx), withoutNulls(args.input)),
  }),
  deleteTemplate: t.field({
    type: DeleteTemplateResult,
    description: 'Deletes one of your templates.',
    args: { id: t.arg.id({ required: true, description: 'Template id.' }) },
    resolve: (_root, args, ctx) => ctx.services.templates.delete(viewer(ctx), String(args.id)),
  }),
  createJobFromTemplate: t.field({
    type: Job,
    description: 'Creates a job from a template (spec §6.2), with overrides deep-merged over it.',
    args: {
      templateId: t.arg.id({ required: true, description: 'Template id.' }),
      input: t.arg({ type: CreateJobFromTemplateInput, required: true, description: 'Name, dataset and overrides.' }),
    },
    resolve: (_root, args, ctx) => ctx.services.templates.createJob(viewer(ctx), String(args.templateId), withoutNulls(args.input)),
  }),
}))
