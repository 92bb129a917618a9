// Instance types, base models and the viewer in GraphQL.
import { builder } from './builder.ts'
import { viewer } from '../context.ts'
import { Architecture, Task } from './enums.ts'
import { baseModels, type BaseModel as BaseModelEntry } from '../domain/catalog.ts'
import type { InstanceTypeUsage } from '../services/resources.ts'

const InstanceType = builder.objectRef<InstanceTypeUsage>('InstanceType').implement({
  description: 'An instance type a job can ask for, with its current use on this deployment.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Name to use in resources.instanceType.' }),
    description: t.exposeString('description', { description: 'Summary.' }),
    vcpus: t.exposeFloat('vcpus', { description: 'vCPUs per instance.' }),
    memoryGb: t.exposeFloat('memoryGb', { description: 'Memory per instance, GiB.' }),
    gpus: t.exposeInt('gpus', { description: 'GPUs per instance.' }),
    accelerator: t.exposeString('accelerator', { nullable: true, description: 'GPU model, or null.' }),
    pricePerHour: t.exposeFloat('pricePerHour', { description: 'USD per instance-hour.' }),
    capacity: t.exposeInt('capacity', { description: 'Instances this deployment can run at once (0: not available here).' }),
    inUse: t.exposeInt('inUse', { description: 'Instances held by running jobs.' }),
    available: t.exposeInt('available', { description: 'Instances free now.' }),
    queued: t.exposeInt('queued', { description: 'Pending jobs waiting for this type.' }),
  }),
})

const BaseModel = builder.objectRef<BaseModelEntry>('BaseModel').implement({
  description: 'A built-in base model.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Name to use in model.baseModel.' }),
    tasks: t.field({ type: [Task], description: 'Tasks it trains.', resolve: (model) => model.tasks }),
    architecture: t.field({ type: Architecture, description: 'Architecture.', resolve: (model) => model.architecture }),
    description: t.exposeString('description', { description: 'What it is.' }),
  }),
})

const Viewer = builder.objectRef<{ name: string; scopes: string[] }>('Viewer').implement({
  description: 'The user the token belongs to.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'User name.' }),
    scopes: t.exposeStringList('scopes', { description: 'Scopes of the token (implied ones included).' }),
  }),
})

builder.queryFields((t) => ({
  instanceTypes: t.field({
    type: [InstanceType],
    description: 'Instance types and their current use.',
    resolve: async (_root, _args, ctx) => (await ctx.services.resources.usage()).instanceTypes,
  }),
  baseModels: t.field({
    type: [BaseModel],
    description: 'Built-in base models, optionally for one task.',
    args: { task: t.arg({ type: Task, description: 'Only models for this task.' }) },
    resolve: (_root, args) => baseModels.filter((model) => !args.task || model.tasks.includes(args.task)),
  }),
  viewer: t.field({
    type: Viewer,
    description: 'Who the token belongs to.',
    resolve: (_root, _args, ctx) => {
      const principal = viewer(ctx)
      return { name: principal.userName, scopes: [...principal.scopes] }
    },
  }),
}))
