// Learned absolute position embeddings added to token embeddings (BERT style).
import * as tf from '@tensorflow/tfjs-core'
import * as tfl from '@tensorflow/tfjs-layers'
import { builtWeight, onlyTensor, type LayerArgs } from './masking.ts'

export interface PositionEmbeddingArgs extends NonNullable<LayerArgs> {
  /** Longest sequence the layer accepts (the table's rows). */
  maxLength: number
}

/** [batch, length, dim] → the same plus a learned vector per position. */
export class PositionEmbedding extends tfl.layers.Layer {
  static readonly className = 'PositionEmbedding'
  readonly maxLength: number
  private embeddings: tfl.LayerVariable | null = null

  constructor(args: PositionEmbeddingArgs) {
    super(args)
    if (!Number.isInteger(args.maxLength) || args.maxLength < 1) {
      throw new Error(`PositionEmbedding: maxLength must be a positive integer, got ${args.maxLength}`)
    }
    this.maxLength = args.maxLength
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = inputShape as tfl.Shape
    const dim = shape[shape.length - 1]
    if (dim == null) throw new Error('PositionEmbedding: the last input dimension must be known')
    // Same default as tfjs' Embedding layer.
    const initializer = tfl.initializers.randomUniform({ minval: -0.05, maxval: 0.05 })
    this.embeddings = this.addWeight('embeddings', [this.maxLength, dim], 'float32', initializer)
    this.built = true
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = onlyTensor(inputs)
      const [, length, dim] = x.shape
      if (length > this.maxLength) {
        throw new Error(`PositionEmbedding: sequence of ${length} is longer than maxLength ${this.maxLength}`)
      }
      const table = builtWeight(this.embeddings, 'PositionEmbedding').read()
      const positions = length === this.maxLength ? table : tf.slice(table, [0, 0], [length, dim])
      return tf.add(x, positions)
    })
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), maxLength: this.maxLength }
  }
}

tf.serialization.registerClass(PositionEmbedding)
