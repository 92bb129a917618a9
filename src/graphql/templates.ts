// Templates in GraphQL (spec §6).
import { builder, SortOrder, withoutNulls } from './builder.ts'
import { filterOf, offsetConnection } from './connection.ts'
import './job-config.ts'
import { enumOf } from './enums.ts'
import { zodInputType } from './zod-fields.ts'
import { Job } from './jobs.ts'
import { viewer } from '../context.ts'
import { createTemplateSchema } from '../domain/job-config.ts'
import type { TemplateView } from '../domain/views.ts'
import { templateSortFields, templateVisibilities } from '../services/templates.ts'

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

const CreateTemplateInput = zodInputType('CreateTemplateInput', createTemplateSchema)

const CreateJobFromTemplateInput = builder.inputType('CreateJobFromTemplateInput', {
  description: 'What a job from a template adds (spec §6.2).',
  fields: (t) => ({
    name: t.string({ required: true, description: 'Job name.' }),
    datasetId: t.id({ required: true, description: 'Dataset to train on.' }),
    overrides: t.field({ type: 'JSONObject', description: 'Job fields deep-merged over the template, e.g. {"hyperparameters":{"epochs":15}}.' }),
  }),
})

const TemplateVisibility = enumOf('TemplateVisibility', 'Which templates to list.', templateVisibilities, {
  all: 'Yours and public ones',
  mine: 'Yours',
  public: 'Public ones',
})

const TemplateSortField = enumOf('TemplateSortField', 'Template list order.', templateSortFields, {
  createdAt: 'Creation time',
  updatedAt: 'Last change',
  name: 'Name',
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
    resolve: (_root, args, ctx) => {
      const filter = filterOf({ visibility: args.visibility, sortBy: args.sortBy, sortOrder: args.sortOrder })
      return offsetConnection(args, (window) => ctx.services.templates.find(viewer(ctx), filter, window))
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
