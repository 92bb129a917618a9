// Tasks, architectures and the built-in base models the trainer provides.

export const tasks = ['text-classification', 'tabular-classification', 'tabular-regression', 'image-classification'] as const
export type Task = (typeof tasks)[number]

export const architectures = ['bag-of-embeddings', 'cnn', 'transformer', 'mlp'] as const
export type Architecture = (typeof architectures)[number]

/** Which architectures each task can train. */
export const architecturesByTask: Record<Task, readonly Architecture[]> = {
  'text-classification': ['cnn', 'transformer', 'bag-of-embeddings'],
  'tabular-classification': ['mlp'],
  'tabular-regression': ['mlp'],
  'image-classification': ['cnn'],
}

export interface BaseModel {
  name: string
  tasks: readonly Task[]
  architecture: Architecture
  description: string
}

/** Built-in base models: architectures trained from scratch on the user's data. */
export const baseModels: readonly BaseModel[] = [
  {
    name: 'text-cnn',
    tasks: ['text-classification'],
    architecture: 'cnn',
    description: 'Token embeddings, 1-D convolutions and max pooling; fast and strong on short texts.',
  },
  {
    name: 'text-transformer-small',
    tasks: ['text-classification'],
    architecture: 'transformer',
    description: 'Small transformer encoder: embeddings, positions, multi-head self-attention, feed-forward, pooling.',
  },
  {
    name: 'text-bag-of-embeddings',
    tasks: ['text-classification'],
    architecture: 'bag-of-embeddings',
    description: 'Averaged token embeddings and a linear classifier; the quickest text baseline.',
  },
  {
    name: 'tabular-mlp',
    tasks: ['tabular-classification', 'tabular-regression'],
    architecture: 'mlp',
    description: 'Multi-layer perceptron over normalized numeric and one-hot categorical features.',
  },
  {
    name: 'image-cnn-small',
    tasks: ['image-classification'],
    architecture: 'cnn',
    description: 'Small convolutional network for pixel-column images (e.g. MNIST-style CSV).',
  },
]

export function findBaseModel(name: string): BaseModel | undefined {
  return baseModels.find((model) => model.name === name)
}

/**
 * Throughput priors (training samples per second on the reference instance,
 * `cpu.large`, 2 vCPUs, TensorFlow.js wasm backend), from the measurements in
 * DESIGN.md. They feed time and cost estimates only until the service has
 * measured jobs of its own for that architecture and instance type.
 */
export const throughputPriors: Record<Architecture, number> = {
  mlp: 10_000,
  'bag-of-embeddings': 2_000,
  cnn: 900,
  transformer: 170,
}
