// The custom layers the built-in models use. Importing this module registers
// them with tf.serialization, which tfl.models.modelFromJSON and
// tfl.loadLayersModel need to rebuild a saved model.
export { PaddingMask, MaskedAveragePooling1D } from './masking.ts'
export { PositionEmbedding } from './position-embedding.ts'
export { MultiHeadSelfAttention } from './self-attention.ts'
export { LayerNorm } from './layer-norm.ts'
