// DESIGN's import rules, checked by `npm run lint` (dependency-cruiser) on
// every run of .ci/run. The layers, outermost first:
//   src/app.ts, src/main.ts, src/context.ts  composition root and transports
//   src/graphql, src/rest                     the two API layers
//   src/services                              domain logic per aggregate (no GraphQL, no HTTP)
//   src/core                                  what the API and the trainer both write through (job lifecycle, job rows)
//   src/ingest                                dataset readers, shared by upload analysis and training
//   src/domain                                pure types, schemas and rules (type-only imports of row types)
//   src/events, src/infra, src/errors, src/config.ts
//   trainer/                                  its own process: meets the API through the database, the bus and storage
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'trainer-not-to-api',
      severity: 'error',
      comment:
        'The trainer runs as its own process (npm run worker): it never imports the API layers, the services or the composition root; it uses src/core, src/domain, src/events, src/infra, src/errors, src/ingest and src/config.ts.',
      from: { path: '^trainer/' },
      to: { path: ['^src/(graphql|rest|services|cli)/', '^src/(app|context|main)\\.ts$'] },
    },
    {
      name: 'trainer-not-to-graphql-or-http-packages',
      severity: 'error',
      comment: 'No GraphQL or HTTP server package in the trainer.',
      from: { path: '^trainer/' },
      to: { path: 'node_modules/(graphql|graphql-yoga|graphql-ws|graphql-scalars|graphql-upload-minimal|@pothos|@graphql-yoga|fastify|@fastify|busboy)/' },
    },
    {
      name: 'src-only-trainer-entries',
      severity: 'error',
      comment: "src/ imports only the trainer's named entries: trainer/index.ts (start/stop) and trainer/serving.ts (prediction in the API process).",
      from: { path: '^src/' },
      to: { path: '^trainer/', pathNot: '^trainer/(index|serving)\\.ts$' },
    },
    {
      name: 'services-not-to-graphql-or-http',
      severity: 'error',
      comment: 'Services know nothing of GraphQL or HTTP: they take plain inputs and throw domain errors.',
      from: { path: '^src/services/' },
      to: {
        path: [
          '^src/(graphql|rest)/',
          '^src/(app|context|main)\\.ts$',
          'node_modules/(graphql|graphql-yoga|graphql-ws|graphql-upload-minimal|@pothos|@graphql-yoga|fastify|@fastify|busboy)/',
        ],
      },
    },
    {
      name: 'core-not-to-api',
      severity: 'error',
      comment: 'src/core is shared with the trainer: it may not reach into the API layers or the services.',
      from: { path: '^src/(core|ingest|events|infra|errors)/' },
      to: { path: ['^src/(graphql|rest|services|cli)/', '^src/(app|context|main)\\.ts$', '^trainer/'] },
    },
    {
      name: 'domain-is-pure',
      severity: 'error',
      comment:
        'src/domain holds types, schemas and pure rules: no database, bus or storage access (type-only imports of row types are fine), and nothing from the layers above.',
      from: { path: '^src/domain/' },
      to: { path: ['^src/(infra|core|ingest|services|graphql|rest|cli)/', '^src/(app|context|main)\\.ts$', '^trainer/'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'rest-not-to-database',
      severity: 'error',
      comment: 'REST routes call the same services as the resolvers; they never reach the database on their own.',
      from: { path: '^src/rest/' },
      to: { path: '^src/infra/(db|read-store|database-url|history-writer)\\.ts$', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'api-layers-apart',
      severity: 'error',
      comment: 'GraphQL and REST are two projections of the same services; neither imports the other.',
      from: { path: '^src/graphql/' },
      to: { path: '^src/rest/' },
    },
    {
      name: 'rest-not-to-graphql',
      severity: 'error',
      comment: 'GraphQL and REST are two projections of the same services; neither imports the other.',
      from: { path: '^src/rest/' },
      to: { path: '^src/graphql/' },
    },
    {
      name: 'not-to-tests-or-benches',
      severity: 'error',
      comment: 'Shipped code never imports test or benchmark code.',
      from: { path: '^(src|trainer)/' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment:
        'An import that resolves to nothing is a typo or a missing dependency. @graphql-typed-document-node/core ships only type declarations (no JavaScript to resolve); the project imports it with `import type`.',
      from: {},
      to: { couldNotResolve: true, pathNot: '^@graphql-typed-document-node/core$' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'Modules import each other only one way at run time, so that each can be read (and tested) on its own; a type-only import back (a row type) is no cycle.',
      from: { path: '^(src|trainer)/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['^prisma/generated/', '^test/gql/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js', '.json'] },
  },
}
