// Picks the TensorFlow.js backend a training process computes on: the fastest one
// present (tfjs-node-gpu > tfjs-node > wasm > cpu), or the one asked for. The
// tfjs-node packages are optional dependencies that fail to install where
// libtensorflow cannot be downloaded, so each is tried and skipped when absent.
import * as tf from '@tensorflow/tfjs-core'
import { registerWasmKernels } from './kernels/index.ts'

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu'

export interface BackendInfo {
  name: BackendName
  /** Whether the backend computes in float16 (tfjs has no float16 dtype; only reduced-precision WebGL would). */
  float16: boolean
  gpu: boolean
  /** Kernels this project registered for the backend (wasm only). */
  kernelsRegistered: string[]
  /** Kernels that run on the cpu backend because this backend lacks them: worth a "kernel X runs on cpu" log line. */
  fallbackKernels: string[]
  /** Why faster backends were skipped, and other facts worth logging once. */
  notes: string[]
}

export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']

const selections = new Map<string, Promise<BackendInfo>>()

/**
 * Activates the fastest backend present, or `prefer` ('auto' or unset for the
 * fastest); throws when a preferred backend cannot start. Repeated calls with the
 * same preference return the same info and keep that backend active.
 */
export async function selectBackend(options: { prefer?: string } = {}): Promise<BackendInfo> {
  const prefer = parsePreference(options.prefer)
  // tfjs-core's Node bundle registers no gradients; tfjs-layers' bundle registers them all.
  await import('@tensorflow/tfjs-layers')
  let pending = selections.get(prefer)
  if (pending == null) {
    pending = choose(prefer)
    selections.set(prefer, pending)
    // A failed attempt may succeed later (say, after a fix to the environment): do not cache it.
    pending.catch(() => selections.delete(prefer))
  }
  const info = await pending
  const engineName = info.name === 'tensorflow-gpu' ? 'tensorflow' : info.name
  if (tf.engine().backendName !== engineName && !(await tf.setBackend(engineName))) {
    throw new Error(`TensorFlow.js backend '${engineName}' no longer starts`)
  }
  return info
}

function parsePreference(prefer: string | undefined): BackendName | 'auto' {
  const value = (prefer ?? '').trim().toLowerCase()
  if (value === '' || value === 'auto') return 'auto'
  if ((BACKEND_NAMES as readonly string[]).includes(value)) return value as BackendName
  throw new Error(`Unknown TensorFlow.js backend '${prefer}': use one of auto, ${BACKEND_NAMES.join(', ')}`)
}

async function choose(prefer: BackendName | 'auto'): Promise<BackendInfo> {
  const notes: string[] = []
  for (const name of prefer === 'auto' ? BACKEND_NAMES : [prefer]) {
    const info = await tryBackend(name, notes)
    if (info) return info
  }
  throw new Error(`TensorFlow.js backend '${prefer}' cannot start: ${notes.join('; ')}`)
}

const TENSORFLOW_PACKAGES: Record<'tensorflow-gpu' | 'tensorflow', string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
}

async function tryBackend(name: BackendName, notes: string[]): Promise<BackendInfo | null> {
  const info = (more: Partial<BackendInfo> = {}): BackendInfo => ({
    name,
    float16: tf.backend().floatPrecision() === 16,
    gpu: name === 'tensorflow-gpu',
    kernelsRegistered: [],
    fallbackKernels: [],
    notes,
    ...more,
  })

  if (name === 'tensorflow-gpu' || name === 'tensorflow') {
    const specifier = TENSORFLOW_PACKAGES[name]
    try {
      // A variable specifier: the packages are optional and usually absent, so neither tsc nor a bundler may resolve them.
      await import(specifier)
    } catch (error) {
      notes.push(`${specifier} is not available (${firstLine(error)})`)
      return null
    }
    // Both packages register a backend named 'tensorflow' in tfjs' global engine.
    if (!(await start('tensorflow', notes))) return null
    if (name === 'tensorflow-gpu') notes.push('tfjs-node-gpu runs on CPU when CUDA or a GPU is missing at run time')
    return info()
  }

  if (name === 'wasm') {
    // The cpu backend serves the wasm kernels' fallbacks, so it must be registered too.
    await import('@tensorflow/tfjs-backend-cpu')
    await import('@tensorflow/tfjs-backend-wasm')
    if (!(await start('wasm', notes))) return null
    silenceCpuBanner()
    const kernels = registerWasmKernels()
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')
    notes.push(`wasm: SIMD ${simd ? 'on' : 'off'}, 1 thread (no wasm threads in Node)`)
    for (const kernel of kernels.fallback) notes.push(`kernel ${kernel} runs on cpu (no wasm kernel)`)
    if (kernels.unavailable.length > 0) notes.push(`kernels unavailable on wasm: ${kernels.unavailable.join(', ')}`)
    return info({ kernelsRegistered: kernels.registered, fallbackKernels: kernels.fallback })
  }

  await import('@tensorflow/tfjs-backend-cpu')
  if (!(await start('cpu', notes))) return null
  silenceCpuBanner()
  notes.push('cpu backend: pure JavaScript; embedding and conv gradients are too slow to train real models')
  return info()
}

/** tf.setBackend resolves false (and stays on the old backend) when the new one cannot start. */
async function start(engineName: string, notes: string[]): Promise<boolean> {
  try {
    if (await tf.setBackend(engineName)) return true
    notes.push(`backend '${engineName}' failed to initialize`)
  } catch (error) {
    notes.push(`backend '${engineName}' failed to initialize (${firstLine(error)})`)
  }
  return false
}

/** The cpu backend prints an "install tfjs-node" banner on first use; the choice here is deliberate and noted, so keep job logs clean. */
function silenceCpuBanner(): void {
  // firstUse is a private field of MathBackendCPU.
  const cpu = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null
  if (cpu != null) cpu.firstUse = false
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return message.split('\n')[0]
}
