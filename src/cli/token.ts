// Token administration against the service's database:
//   npm run token -- create <user> [scopes]   prints a new token (default scopes read+write)
//   npm run token -- list [user]
//   npm run token -- revoke <token-id>
// Uses the same DATA_DIR / DATABASE_URL as the service and applies migrations first.
import { loadConfig } from '../config.ts'
import { createDatabase } from '../infra/db.ts'
import { migrateDatabase } from '../infra/migrate.ts'
import { createAuthService, parseScopes } from '../services/auth.ts'

const usage = `usage:
  npm run token -- create <user> [scopes]   scopes: read, write, admin joined with "+" (default read+write)
  npm run token -- list [user]
  npm run token -- revoke <token-id>`

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args
  if (!command || !['create', 'list', 'revoke'].includes(command)) {
    console.error(usage)
    return 2
  }
  const config = loadConfig()
  await migrateDatabase(config.databaseUrl)
  const database = await createDatabase(config.databaseUrl)
  try {
    const auth = createAuthService(database.db)
    if (command === 'create') {
      const [user, scopes] = rest
      if (!user) {
        console.error(usage)
        return 2
      }
      const created = await auth.createToken(user, scopes ? parseScopes(scopes) : ['read', 'write'], 'npm run token')
      console.error(`Created token ${created.id} for ${created.user} with scopes ${created.scopes.join('+')}. It is shown only once:`)
      console.log(created.token)
      return 0
    }
    if (command === 'list') {
      for (const token of await auth.listTokens(rest[0])) {
        const state = token.revokedAt ? `revoked ${token.revokedAt.toISOString()}` : 'active'
        console.log(`${token.id}\t${token.user.name}\t${token.scopes}\t${token.prefix}…\t${state}\t${token.label ?? ''}`)
      }
      return 0
    }
    const [id] = rest
    if (!id) {
      console.error(usage)
      return 2
    }
    if (!(await auth.revokeToken(id))) {
      console.error(`No active token ${id}`)
      return 1
    }
    console.error(`Revoked ${id}`)
    return 0
  } finally {
    await database.close()
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(error.message)
    process.exit(1)
  },
)
