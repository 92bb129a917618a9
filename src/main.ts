// Entry point: parse the environment, build the app, start it, stop on signals.
import { loadConfig } from './config.ts'
import { buildApp } from './app.ts'
import { parseDatabaseUrl } from './infra/database-url.ts'

async function main() {
  const config = loadConfig()
  const app = await buildApp(config)
  let url: string
  try {
    url = await app.start()
  } catch (error) {
    await app.stop()
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new Error(`Port ${config.port} is already in use: stop the other process or set PORT`)
    throw error
  }
  app.fastify.log.info(
    { url, graphiql: `${url}/graphql`, dataDir: config.dataDir, database: parseDatabaseUrl(config.databaseUrl).provider },
    'training service ready',
  )

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
}

main().catch((error: Error) => {
  // Configuration and start-up problems: one clear line, no stack trace.
  console.error(`training service: ${error.message}`)
  process.exit(1)
})
