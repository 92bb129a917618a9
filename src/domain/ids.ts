import { randomBytes } from 'node:crypto'

const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz'

/** A random id with the spec's look: `job-k3x9…`, `dataset-…` (12 base-36 characters, ~62 bits). */
export function newId(prefix: 'job' | 'dataset' | 'template' | 'tuning' | 'trial' | 'export' | 'checkpoint' | 'eval' | 'user' | 'token'): string {
  const bytes = randomBytes(12)
  let out = ''
  for (const byte of bytes) out += alphabet[byte % 36]
  return `${prefix}-${out}`
}
