// The instance-type catalog: what a job may ask for in
// `resources.instanceType`, what it costs, and how many can run at once here.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'

export interface InstanceType {
  name: string
  description: string
  vcpus: number
  memoryGb: number
  gpus: number
  accelerator: string | null
  pricePerHour: number
  /** Concurrent jobs of this type this deployment can run. */
  capacity: number
  speedFactor: number
}

const entrySchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9.-]*$/, 'lowercase letters, digits, dots and dashes'),
  description: z.string().default(''),
  vcpus: z.number().positive(),
  memoryGb: z.number().positive(),
  gpus: z.int().min(0).default(0),
  accelerator: z.string().nullable().default(null),
  pricePerHour: z.number().min(0),
  capacity: z.union([z.literal('auto'), z.int().min(0)]).default('auto'),
  speedFactor: z.number().positive().default(1),
})

const catalogSchema = z.object({
  instanceTypes: z.array(entrySchema).min(1),
})

/** GPUs usable for training: only where a GPU TensorFlow.js backend is installed and nvidia-smi lists devices. */
export function detectGpus(): number {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node-gpu')
  } catch {
    return 0
  }
  try {
    const listing = execFileSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 5000 })
    return listing.split('\n').filter((line) => line.startsWith('GPU ')).length
  } catch {
    return 0
  }
}

export interface MachineResources {
  vcpus: number
  gpus: number
}

export function loadInstanceTypes(file: string | undefined, machine: MachineResources): InstanceType[] {
  const path = file ?? fileURLToPath(new URL('./instance-types.json', import.meta.url))
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new Error(`Cannot read the instance-type catalog ${path}: ${(error as Error).message}`)
  }
  const parsed = catalogSchema.safeParse(raw)
  if (!parsed.success) {
    throw new Error(`Invalid instance-type catalog ${path}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
  }
  const names = new Set<string>()
  return parsed.data.instanceTypes.map((entry) => {
    if (names.has(entry.name)) throw new Error(`Instance type ${entry.name} appears twice in ${path}`)
    names.add(entry.name)
    const auto = entry.gpus > 0 ? Math.floor(machine.gpus / entry.gpus) : Math.floor(machine.vcpus / entry.vcpus)
    // A GPU type never runs where no GPU backend is present, whatever the file says.
    const capacity = entry.gpus > 0 && machine.gpus === 0 ? 0 : entry.capacity === 'auto' ? auto : entry.capacity
    return { ...entry, capacity }
  })
}

export function machineResources(): MachineResources {
  return { vcpus: os.availableParallelism(), gpus: detectGpus() }
}
