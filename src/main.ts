// Entry point: parse the environment, build the app, start it, stop on signals.
import { loadConfig } from './config.ts'
import { buildApp } from './app.ts'
import { parseDatabaseUrl } from './infra/database-url.ts'

const config = loadConfig()
const app = await buildApp(config)
const url = await app.start()
app.fastify.log.info({ url, graphiql: `${url}/graphql`, dataDir: config.dataDir, database: parseDatabaseUrl(config.databaseUrl).provider }, 'training service ready')

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    app.fastify.log.info({ signal }, 'stopping')
    app.stop().then(
      () => process.exit(0),
      (error) => {
        app.fastify.log.error({ err: error }, 'stop failed')
        process.exit(1)
      },
    )
  })
}
