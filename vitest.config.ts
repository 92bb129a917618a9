import { createRequire } from 'node:module'
import { defineConfig } from 'vitest/config'

const require = createRequire(import.meta.url)

export default defineConfig({
  resolve: {
    // graphql 16 ships CommonJS (main) and ESM (module) builds. Node, and so every
    // dependency, loads the CommonJS one; Vite would pick the ESM one for test
    // files, and two copies of graphql reject each other's schemas.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // Each file starts its own servers on free ports with its own data directory.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
})
