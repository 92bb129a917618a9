// Users and bearer tokens: tokens are stored as SHA-256 hashes and carry
// scopes (read, write, admin). `write` implies `read`; `admin` implies both
// and lets a token see and manage every user's jobs.
import { createHash, randomBytes } from 'node:crypto'
import type { Db } from '../infra/db.ts'
import { ForbiddenError, UnauthenticatedError } from '../errors/index.ts'
import { newId } from '../domain/ids.ts'

export const scopeNames = ['read', 'write', 'admin'] as const
export type Scope = (typeof scopeNames)[number]

export interface Principal {
  userId: string
  userName: string
  tokenId: string
  /** Scopes with implications applied (write ⇒ read, admin ⇒ write, read). */
  scopes: ReadonlySet<Scope>
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/** Parses `read+write`, `read,write` or `read write`; throws on an unknown scope. */
export function parseScopes(text: string): Scope[] {
  const parts = text.split(/[+,\s]+/).filter(Boolean)
  const unknown = parts.filter((part) => !(scopeNames as readonly string[]).includes(part))
  if (unknown.length > 0 || parts.length === 0) {
    throw new Error(`Unknown scope ${unknown.map((u) => JSON.stringify(u)).join(', ') || '(none given)'}: use read, write or admin, joined with "+"`)
  }
  return scopeNames.filter((scope) => parts.includes(scope))
}

function effectiveScopes(stored: string): Set<Scope> {
  const scopes = new Set(stored.split('+').filter(Boolean) as Scope[])
  if (scopes.has('admin')) scopes.add('write')
  if (scopes.has('write')) scopes.add('read')
  return scopes
}

export function requireScope(principal: Principal, scope: Scope): void {
  if (!principal.scopes.has(scope)) {
    const held = [...principal.scopes].join('+') || 'none'
    throw new ForbiddenError(`This token has scopes ${held}; this operation needs the ${scope} scope`)
  }
}

export function isAdmin(principal: Principal): boolean {
  return principal.scopes.has('admin')
}

export interface BootstrapEntry {
  user: string
  token: string
  scopes: Scope[]
}

const userNamePattern = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/

export function checkUserName(name: string): void {
  if (!userNamePattern.test(name)) {
    throw new Error(`User name ${JSON.stringify(name)} must be 1-64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit`)
  }
}

/** Parses API_TOKENS: `user:token[:scope+scope]`, comma-separated. */
export function parseApiTokens(value: string): BootstrapEntry[] {
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const [user, token, scopes, ...rest] = entry.split(':')
      if (!user || !token || rest.length > 0) {
        throw new Error(`API_TOKENS entry ${JSON.stringify(entry)} must look like user:token or user:token:read+write`)
      }
      checkUserName(user)
      return { user, token, scopes: scopes ? parseScopes(scopes) : ['read', 'write'] }
    })
}

const cacheTtlMs = 10_000
const lastUsedIntervalMs = 60_000

export function createAuthService(db: Db) {
  const cache = new Map<string, { principal: Principal | null; expires: number }>()
  const lastUsedWritten = new Map<string, number>()

  async function ensureUser(name: string) {
    checkUserName(name)
    return db.user.upsert({ where: { name }, update: {}, create: { id: newId('user'), name } })
  }

  async function lookup(hash: string): Promise<Principal | null> {
    const row = await db.apiToken.findUnique({ where: { tokenHash: hash }, include: { user: true } })
    if (!row || row.revokedAt) return null
    return { userId: row.userId, userName: row.user.name, tokenId: row.id, scopes: effectiveScopes(row.scopes) }
  }

  /** One API_TOKENS entry: its user, and its token with the given scopes (idempotent). */
  async function bootstrapOne(entry: BootstrapEntry): Promise<void> {
    const user = await ensureUser(entry.user)
    const hash = hashToken(entry.token)
    const existing = await db.apiToken.findUnique({ where: { tokenHash: hash } })
    const scopes = entry.scopes.join('+')
    if (existing && existing.userId !== user.id) {
      throw new Error(`API_TOKENS gives user ${entry.user} a token that already belongs to another user`)
    }
    if (existing) {
      if (existing.scopes !== scopes || existing.revokedAt) {
        await db.apiToken.update({ where: { id: existing.id }, data: { scopes, revokedAt: null } })
      }
    } else {
      await db.apiToken.create({
        data: { id: newId('token'), userId: user.id, tokenHash: hash, prefix: entry.token.slice(0, 6), scopes, label: 'API_TOKENS' },
      })
    }
  }

  return {
    /**
     * The principal for an `Authorization` header value; throws E1100 when the
     * header is missing, malformed, or names no live token.
     */
    async authenticate(authorization: string | undefined | null): Promise<Principal> {
      if (!authorization) throw new UnauthenticatedError()
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization)
      if (!match) throw new UnauthenticatedError('Authorization header must be "Bearer <token>"')
      const hash = hashToken(match[1])
      const now = Date.now()
      let hit = cache.get(hash)
      if (!hit || hit.expires < now) {
        hit = { principal: await lookup(hash), expires: now + cacheTtlMs }
        if (cache.size > 10_000) cache.clear()
        cache.set(hash, hit)
      }
      if (!hit.principal) throw new UnauthenticatedError('Bearer token is not valid (unknown or revoked)')
      const principal = hit.principal
      if ((lastUsedWritten.get(principal.tokenId) ?? 0) + lastUsedIntervalMs < now) {
        lastUsedWritten.set(principal.tokenId, now)
        // Best effort, off the request path: a failed write only loses a timestamp.
        void db.apiToken.update({ where: { id: principal.tokenId }, data: { lastUsedAt: new Date(now) } }).catch(() => {})
      }
      return principal
    },

    /** Creates users and tokens from API_TOKENS; running it again changes nothing. */
    async bootstrap(entries: BootstrapEntry[]): Promise<void> {
      for (const entry of entries) {
        // Processes starting together on one database race on the same rows: the loser of a
        // unique-constraint race (P2002) looks again and finds the winner's row.
        for (let attempt = 1; ; attempt++) {
          try {
            await bootstrapOne(entry)
            break
          } catch (error) {
            if (attempt >= 3 || (error as { code?: unknown }).code !== 'P2002') throw error
          }
        }
      }
      cache.clear()
    },

    /** Creates a token for `userName` (creating the user if needed) and returns it in plain text, once. */
    async createToken(userName: string, scopes: Scope[], label?: string) {
      const user = await ensureUser(userName)
      const token = `tsk_${randomBytes(24).toString('base64url')}`
      const row = await db.apiToken.create({
        data: { id: newId('token'), userId: user.id, tokenHash: hashToken(token), prefix: token.slice(0, 8), scopes: scopes.join('+'), label: label ?? null },
      })
      return { token, id: row.id, user: user.name, scopes }
    },

    async listTokens(userName?: string) {
      return db.apiToken.findMany({
        where: userName ? { user: { name: userName } } : {},
        include: { user: true },
        orderBy: { createdAt: 'asc' },
      })
    },

    async revokeToken(id: string): Promise<boolean> {
      const result = await db.apiToken.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date() } })
      cache.clear()
      return result.count > 0
    },

    async countUsers(): Promise<number> {
      return db.user.count()
    },
  }
}

export type AuthService = ReturnType<typeof createAuthService>
