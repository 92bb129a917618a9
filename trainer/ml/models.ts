// The built-in architectures as tfjs-layers models. Which hyperparameters
// each one reads (defaults in brackets; dropout [0.1] everywhere):
//   text bag-of-embeddings  embeddingDim [hiddenSize, else 64]
//   text cnn                embeddingDim [64], filters [128], kernelSize [3], numLayers (stacked convolutions) [1]
//   text transformer        hiddenSize (model width) [embeddingDim, else 64], embeddingDim [hiddenSize]
//                           (a projection joins them when they differ), numLayers [2], numHeads [4];
//                           feed-forward width 2·hiddenSize
//   tabular mlp             hiddenSize [64], numLayers [2]
//   image cnn               filters (first block; each next block doubles) [16], kernelSize [3],
//                           numLayers (conv + pool blocks) [2], hiddenSize (dense) [64]
// vocabSize and maxSequenceLength shape the data (trainer/data); the model
// takes both from the prepared data. Weights start from tfjs' default
// initializers, whose unseeded draws come from Math.random (seeded per job).
import * as tfl from '@tensorflow/tfjs-layers'
import { LayerNorm, MaskedAveragePooling1D, MultiHeadSelfAttention, PaddingMask, PositionEmbedding } from './layers/index.ts'
import { BadInputError, type Architecture, type JobConfig, type PreparedData, type Task } from './types.ts'

type Hyperparameters = JobConfig['hyperparameters']
type SymbolicTensor = tfl.SymbolicTensor

export interface ModelSpec {
  task: Task
  architecture: Architecture
  data: Pick<PreparedData, 'inputShape' | 'numClasses' | 'preprocessing'>
  hyperparameters: Hyperparameters
}

/** Builds the untrained model for a task and architecture. */
export function buildModel(spec: ModelSpec): tfl.LayersModel {
  const { task, architecture } = spec
  switch (`${task}/${architecture}`) {
    case 'text-classification/bag-of-embeddings':
      return bagOfEmbeddings(spec)
    case 'text-classification/cnn':
      return textCnn(spec)
    case 'text-classification/transformer':
      return transformer(spec)
    case 'tabular-classification/mlp':
    case 'tabular-regression/mlp':
      return mlp(spec)
    case 'image-classification/cnn':
      return imageCnn(spec)
    default:
      throw new BadInputError(`Architecture ${architecture} cannot train a ${task} model`)
  }
}

function dropoutRate(hp: Hyperparameters): number {
  return hp.dropout ?? 0.1
}

function classCount(spec: ModelSpec): number {
  const n = spec.data.numClasses
  if (n == null || n < 2) throw new BadInputError(`Classification needs at least 2 classes, the data has ${n ?? 'none'}`)
  return n
}

/** Softmax over the classes, or one linear unit for regression. */
function head(spec: ModelSpec, features: SymbolicTensor): SymbolicTensor {
  if (spec.task === 'tabular-regression') return apply(tfl.layers.dense({ units: 1, name: 'output' }), features)
  return apply(tfl.layers.dense({ units: classCount(spec), activation: 'softmax', name: 'output' }), features)
}

function apply(layer: tfl.layers.Layer, input: SymbolicTensor | SymbolicTensor[]): SymbolicTensor {
  return layer.apply(input) as SymbolicTensor
}

function textInput(spec: ModelSpec): { input: SymbolicTensor; vocabulary: number; length: number } {
  const pre = spec.data.preprocessing
  if (pre.kind !== 'text') throw new BadInputError(`A text model needs text preprocessing, got ${pre.kind}`)
  const [length] = spec.data.inputShape
  if (spec.data.inputShape.length !== 1 || !(length > 0)) {
    throw new BadInputError(`A text model needs inputs of shape [sequenceLength], got [${spec.data.inputShape}]`)
  }
  if (pre.vocabulary.length < 3) throw new BadInputError('The vocabulary is empty: the training texts have no tokens')
  const input = tfl.input({ shape: [length], dtype: 'int32', name: 'tokens' })
  return { input, vocabulary: pre.vocabulary.length, length }
}

function embed(input: SymbolicTensor, vocabulary: number, dim: number): SymbolicTensor {
  return apply(tfl.layers.embedding({ inputDim: vocabulary, outputDim: dim, name: 'token_embedding' }), input)
}

function bagOfEmbeddings(spec: ModelSpec): tfl.LayersModel {
  const hp = spec.hyperparameters
  const { input, vocabulary } = textInput(spec)
  const mask = apply(new PaddingMask({ name: 'padding_mask' }), input)
  const embedded = embed(input, vocabulary, hp.embeddingDim ?? hp.hiddenSize ?? 64)
  let x = apply(new MaskedAveragePooling1D({ name: 'average' }), [embedded, mask])
  x = apply(tfl.layers.dropout({ rate: dropoutRate(hp) }), x)
  return tfl.model({ inputs: input, outputs: head(spec, x), name: 'text_bag_of_embeddings' })
}

function textCnn(spec: ModelSpec): tfl.LayersModel {
  const hp = spec.hyperparameters
  const { input, vocabulary } = textInput(spec)
  let x = embed(input, vocabulary, hp.embeddingDim ?? 64)
  for (let i = 0; i < (hp.numLayers ?? 1); i++) {
    // 'same' padding keeps short sequences (shorter than the kernel) valid.
    x = apply(tfl.layers.conv1d({ filters: hp.filters ?? 128, kernelSize: hp.kernelSize ?? 3, padding: 'same', activation: 'relu' }), x)
  }
  x = apply(tfl.layers.globalMaxPooling1d({}), x)
  x = apply(tfl.layers.dropout({ rate: dropoutRate(hp) }), x)
  return tfl.model({ inputs: input, outputs: head(spec, x), name: 'text_cnn' })
}

function transformer(spec: ModelSpec): tfl.LayersModel {
  const hp = spec.hyperparameters
  const { input, vocabulary, length } = textInput(spec)
  const width = hp.hiddenSize ?? hp.embeddingDim ?? 64
  const embeddingDim = hp.embeddingDim ?? width
  const heads = hp.numHeads ?? 4
  if (width % heads !== 0) throw new BadInputError(`numHeads (${heads}) must divide hiddenSize (${width})`)
  const rate = dropoutRate(hp)
  const mask = apply(new PaddingMask({ name: 'padding_mask' }), input)
  let x = embed(input, vocabulary, embeddingDim)
  if (embeddingDim !== width) x = apply(tfl.layers.dense({ units: width, name: 'embedding_projection' }), x)
  x = apply(new PositionEmbedding({ maxLength: length, name: 'position_embedding' }), x)
  x = apply(tfl.layers.dropout({ rate }), x)
  // Post-norm encoder blocks (the original Transformer and BERT). LayerNorm, not
  // tfl.layers.layerNormalization, whose gradient is ~100× slower (see layers/layer-norm.ts).
  for (let i = 0; i < (hp.numLayers ?? 2); i++) {
    const attended = apply(new MultiHeadSelfAttention({ numHeads: heads, name: `attention_${i}` }), [x, mask])
    x = apply(tfl.layers.add({}), [x, apply(tfl.layers.dropout({ rate }), attended)])
    x = apply(new LayerNorm({ epsilon: 1e-6, name: `attention_norm_${i}` }), x)
    let ff = apply(tfl.layers.dense({ units: 2 * width, activation: 'relu', name: `ffn_in_${i}` }), x)
    ff = apply(tfl.layers.dense({ units: width, name: `ffn_out_${i}` }), ff)
    x = apply(tfl.layers.add({}), [x, apply(tfl.layers.dropout({ rate }), ff)])
    x = apply(new LayerNorm({ epsilon: 1e-6, name: `ffn_norm_${i}` }), x)
  }
  x = apply(new MaskedAveragePooling1D({ name: 'average' }), [x, mask])
  x = apply(tfl.layers.dropout({ rate }), x)
  return tfl.model({ inputs: input, outputs: head(spec, x), name: 'text_transformer' })
}

function mlp(spec: ModelSpec): tfl.LayersModel {
  const hp = spec.hyperparameters
  const pre = spec.data.preprocessing
  if (pre.kind !== 'tabular') throw new BadInputError(`A tabular model needs tabular preprocessing, got ${pre.kind}`)
  const width = spec.data.inputShape.reduce((a, b) => a * b, 1)
  if (!(width > 0)) throw new BadInputError('The tabular data has no feature columns')
  const input = tfl.input({ shape: [width], name: 'features' })
  let x = input
  for (let i = 0; i < (hp.numLayers ?? 2); i++) {
    x = apply(tfl.layers.dense({ units: hp.hiddenSize ?? 64, activation: 'relu' }), x)
    x = apply(tfl.layers.dropout({ rate: dropoutRate(hp) }), x)
  }
  return tfl.model({ inputs: input, outputs: head(spec, x), name: 'tabular_mlp' })
}

function imageCnn(spec: ModelSpec): tfl.LayersModel {
  const hp = spec.hyperparameters
  const pre = spec.data.preprocessing
  if (pre.kind !== 'image') throw new BadInputError(`An image model needs image preprocessing, got ${pre.kind}`)
  const imageShape = [pre.height, pre.width, pre.channels]
  const given = spec.data.inputShape
  const input = tfl.input({ shape: given, name: 'pixels' })
  let x = input
  // Flat pixel rows are accepted too: reshape them to height × width × channels.
  if (given.join('x') !== imageShape.join('x')) {
    if (given.reduce((a, b) => a * b, 1) !== imageShape.reduce((a, b) => a * b, 1)) {
      throw new BadInputError(`Image inputs of shape [${given}] do not hold ${pre.height}×${pre.width}×${pre.channels} pixels`)
    }
    x = apply(tfl.layers.reshape({ targetShape: imageShape }), x)
  }
  let [height, width] = imageShape
  for (let i = 0; i < (hp.numLayers ?? 2); i++) {
    const filters = (hp.filters ?? 16) * 2 ** i
    x = apply(tfl.layers.conv2d({ filters, kernelSize: hp.kernelSize ?? 3, padding: 'same', activation: 'relu' }), x)
    // Pool only while there is something left to halve (tiny images, many blocks).
    if (height >= 2 && width >= 2) {
      x = apply(tfl.layers.maxPooling2d({ poolSize: 2 }), x)
      height = Math.floor(height / 2)
      width = Math.floor(width / 2)
    }
  }
  x = apply(tfl.layers.flatten({}), x)
  x = apply(tfl.layers.dense({ units: hp.hiddenSize ?? 64, activation: 'relu' }), x)
  x = apply(tfl.layers.dropout({ rate: dropoutRate(hp) }), x)
  return tfl.model({ inputs: input, outputs: head(spec, x), name: 'image_cnn' })
}
