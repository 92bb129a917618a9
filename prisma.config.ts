// Prisma CLI configuration. The same DATABASE_URL rules as the service
// (src/infra/database-url.ts) pick the provider, its schema file and its
// migrations folder; migrations run through the driver adapter (no engine
// binaries are downloaded).
import { defineConfig } from 'prisma/config'
import { createAdapterFactory, parseDatabaseUrl, prismaLayout, resolveDatabaseUrl } from './src/infra/database-url.ts'

const target = parseDatabaseUrl(resolveDatabaseUrl())
const layout = prismaLayout[target.provider]

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: layout.schema,
  migrations: { path: layout.migrations },
  adapter: async () => createAdapterFactory(target),
})
