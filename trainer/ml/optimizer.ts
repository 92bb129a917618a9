// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization") over
// plain tf.Variables, with optional clipping of the gradients' global norm.
// The update follows PyTorch's torch.optim.AdamW:
//   p ← p − lr·wd·p                      (decoupled decay, decayed variables only)
//   m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²
//   p ← p − (lr / (1−β1ᵗ)) · m / (√v / √(1−β2ᵗ) + ε)
import * as tf from '@tensorflow/tfjs-core'

export interface AdamWOptions {
  weightDecay: number
  /** Global-norm clipping threshold; null for none. */
  clipNorm: number | null
  beta1?: number
  beta2?: number
  epsilon?: number
}

/** What a checkpoint stores: the step count, the moment shapes (to check against the model) and m, v packed as float32. */
export interface AdamWState {
  step: number
  shapes: number[][]
  /** For each variable in order: m then v, flattened. */
  buffer: Float32Array
}

/**
 * Which variables get weight decay. Common practice (BERT, GPT-2, timm): decay
 * the weight matrices of dense, convolution and attention layers (tfjs names
 * them `.../kernel`), never biases, layer-norm gains and offsets, or
 * embedding tables (decaying rare tokens' rows towards zero only hurts them).
 */
export function shouldDecay(variableName: string): boolean {
  return /kernel(_\d+)?$/.test(variableName)
}

/** Scales `grads` so that their joint L2 norm is at most `maxNorm` (tf.clipByGlobalNorm's semantics); returns the norm before clipping. */
export function clipByGlobalNorm(grads: tf.Tensor[], maxNorm: number): { clipped: tf.Tensor[]; norm: tf.Scalar } {
  return tf.tidy(() => {
    const norm = tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))) as tf.Scalar
    // clip / max(norm, clip) is 1 below the threshold, so small gradients pass through unchanged.
    const scale = tf.div(maxNorm, tf.maximum(norm, maxNorm))
    return { clipped: grads.map((g) => tf.mul(g, scale)), norm }
  })
}

export class AdamW {
  readonly beta1: number
  readonly beta2: number
  readonly epsilon: number
  readonly weightDecay: number
  readonly clipNorm: number | null
  /** Updates applied so far (t in the bias corrections). */
  step = 0
  private readonly m: tf.Variable[]
  private readonly v: tf.Variable[]
  private readonly decay: boolean[]

  /** `decayNames[i]` is the name used to decide on decay for `variables[i]` (layer variables' original names are stabler than tf's uniquified ones). */
  constructor(
    private readonly variables: tf.Variable[],
    options: AdamWOptions,
    decayNames: string[] = variables.map((v) => v.name),
  ) {
    this.beta1 = options.beta1 ?? 0.9
    this.beta2 = options.beta2 ?? 0.999
    this.epsilon = options.epsilon ?? 1e-8
    this.weightDecay = options.weightDecay
    this.clipNorm = options.clipNorm
    this.decay = decayNames.map(shouldDecay)
    // tidy frees the zeros tensors; the variables keep their own reference to the data.
    this.m = variables.map((v) => tf.tidy(() => tf.variable(tf.zerosLike(v), false)))
    this.v = variables.map((v) => tf.tidy(() => tf.variable(tf.zerosLike(v), false)))
  }

  /**
   * Applies one update. `grads[i]` belongs to `variables[i]`; a null gradient
   * (a variable the loss does not reach) leaves that variable and its moments
   * untouched, as PyTorch does for parameters without a grad.
   */
  apply(grads: (tf.Tensor | null)[], learningRate: number): void {
    if (grads.length !== this.variables.length) {
      throw new Error(`AdamW.apply: got ${grads.length} gradients for ${this.variables.length} variables`)
    }
    this.step += 1
    const t = this.step
    tf.tidy(() => {
      let used = grads
      if (this.clipNorm != null) {
        const present = grads.filter((g): g is tf.Tensor => g != null)
        const { clipped } = clipByGlobalNorm(present, this.clipNorm)
        let k = 0
        used = grads.map((g) => (g == null ? null : clipped[k++]))
      }
      const b1 = tf.scalar(this.beta1)
      const b2 = tf.scalar(this.beta2)
      const oneMinusB1 = tf.scalar(1 - this.beta1)
      const oneMinusB2 = tf.scalar(1 - this.beta2)
      const stepSize = tf.scalar(learningRate / (1 - this.beta1 ** t))
      const sqrtBias2 = tf.scalar(Math.sqrt(1 - this.beta2 ** t))
      const eps = tf.scalar(this.epsilon)
      const decayFactor = tf.scalar(1 - learningRate * this.weightDecay)
      used.forEach((g, i) => {
        if (g == null) return
        const p = this.variables[i]
        const m = this.m[i]
        const v = this.v[i]
        m.assign(tf.add(tf.mul(m, b1), tf.mul(g, oneMinusB1)))
        v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(g), oneMinusB2)))
        const denominator = tf.add(tf.div(tf.sqrt(v), sqrtBias2), eps)
        const decayed = this.decay[i] && this.weightDecay > 0 ? tf.mul(p, decayFactor) : p
        p.assign(tf.sub(decayed, tf.mul(stepSize, tf.div(m, denominator))))
      })
    })
  }

  /** Copies the moments to the CPU (one read per variable; for checkpoints, not for every step). */
  getState(): AdamWState {
    const shapes = this.variables.map((v) => [...v.shape])
    const total = this.variables.reduce((sum, v) => sum + 2 * v.size, 0)
    const buffer = new Float32Array(total)
    let offset = 0
    for (let i = 0; i < this.variables.length; i++) {
      for (const slot of [this.m[i], this.v[i]]) {
        buffer.set(slot.dataSync() as Float32Array, offset)
        offset += slot.size
      }
    }
    return { step: this.step, shapes, buffer }
  }

  /** Restores a state saved by getState(); the variables' shapes must match. */
  setState(state: AdamWState): void {
    if (state.shapes.length !== this.variables.length) {
      throw new Error(`Optimizer state holds ${state.shapes.length} variables, the model has ${this.variables.length}`)
    }
    let offset = 0
    for (let i = 0; i < this.variables.length; i++) {
      const shape = this.variables[i].shape
      if (state.shapes[i].join('x') !== shape.join('x')) {
        throw new Error(`Optimizer state variable ${i} has shape [${state.shapes[i]}], the model's is [${shape}]`)
      }
      for (const slot of [this.m[i], this.v[i]]) {
        const values = state.buffer.subarray(offset, offset + slot.size)
        if (values.length !== slot.size) throw new Error('Optimizer state buffer is shorter than its shapes say')
        tf.tidy(() => slot.assign(tf.tensor(values, shape, 'float32')))
        offset += slot.size
      }
    }
    if (offset !== state.buffer.length) throw new Error('Optimizer state buffer is longer than its shapes say')
    this.step = state.step
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v])
  }
}
