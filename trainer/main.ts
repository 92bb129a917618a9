// `npm run worker`: the trainer as its own process, against the same
// database, data directory and event bus as the API (set REDIS_URL on both
// so they share events; run the API with TRAINER=off).
import { loadConfig } from '../src/config.ts'
import { createDatabase } from '../src/infra/db.ts'
import { createEventBus } from '../src/infra/event-bus.ts'
import { createHistoryWriter } from '../src/infra/history-writer.ts'
import { createLogger } from '../src/infra/logger.ts'
import { migrateDatabase } from '../src/infra/migrate.ts'
import { createStorage } from '../src/infra/storage.ts'
import { loadInstanceTypes, machineResources } from '../src/domain/instance-types.ts'
import { createTrainer } from './index.ts'

async function main() {
  const config = loadConfig()
  const logger = createLogger(config)
  const storage = createStorage(config.dataDir)
  await storage.init()
  await migrateDatabase(config.databaseUrl)
  const database = await createDatabase(config.databaseUrl)
  const bus = await createEventBus(config.redisUrl)
  if (!config.redisUrl) logger.warn('REDIS_URL is not set: live events from this worker reach no API process (jobs still train and are recorded)')
  const history = createHistoryWriter(database.target)
  const trainer = createTrainer({
    db: database.db,
    history,
    bus,
    storage,
    logger,
    instanceTypes: loadInstanceTypes(config.instanceTypesFile, machineResources()),
    concurrency: config.trainerConcurrency,
    backend: config.trainerBackend ?? null,
  })
  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'worker stopping: running jobs checkpoint and go back to the queue')
    await trainer.stop()
    await history.close()
    await bus.close()
    await database.close()
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
  await trainer.start()
}

main().catch((error: unknown) => {
  console.error(`worker failed to start: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
})
