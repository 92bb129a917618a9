// GraphQL Code Generator: typed documents for the tests (and any TypeScript
// client) from the checked-in SDL. `npm run codegen` (run before `npm test`).
import type { CodegenConfig } from '@graphql-codegen/cli'

const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  documents: ['test/**/*.ts', '!test/gql/**'],
  ignoreNoDocuments: true,
  generates: {
    'test/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        importExtension: '.ts',
        scalars: { DateTime: 'string', JSON: 'unknown', JSONObject: 'Record<string, unknown>', Upload: 'File' },
      },
    },
  },
}

export default config
