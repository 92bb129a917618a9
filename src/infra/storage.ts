// Files under DATA_DIR: dataset uploads, checkpoints and exports. Uploads
// stream into a staging folder (hashed and counted on the way) and move into
// place only once the dataset is accepted, so a failed upload leaves nothing.
import { createHash, randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { PayloadTooLargeError } from '../errors/index.ts'

export interface StagedFile {
  /** Absolute path of the staged file. */
  path: string
  /** The client's file name, reduced to a safe base name. */
  fileName: string
  size: number
  /** sha256, hex. */
  checksum: string
}

/** A safe base name: no folders, no control or shell-special characters, at most 120 characters. */
export function safeFileName(name: string | undefined, fallback: string): string {
  const base = path.basename((name ?? '').replaceAll('\\', '/'))
  const cleaned = base
    .replace(/[^A-Za-z0-9._ -]/g, '_')
    .replace(/^\.+/, '')
    .trim()
    .slice(-120)
  return cleaned === '' ? fallback : cleaned
}

export function createStorage(dataDir: string) {
  const root = path.resolve(dataDir)
  const stagingDir = path.join(root, 'staging')

  /** Absolute path of a path relative to DATA_DIR; refuses anything outside it. */
  function resolve(relative: string): string {
    const absolute = path.resolve(root, relative)
    if (absolute !== root && !absolute.startsWith(root + path.sep)) throw new Error(`Path ${relative} leaves DATA_DIR`)
    return absolute
  }

  return {
    root,
    resolve,

    async init(): Promise<void> {
      await mkdir(stagingDir, { recursive: true })
      // A staged file untouched for an hour belongs to an upload a crash interrupted. Younger
      // ones may be in flight in another process sharing DATA_DIR (API and worker).
      const cutoff = Date.now() - 3600_000
      for (const name of await readdir(stagingDir)) {
        const file = path.join(stagingDir, name)
        const info = await stat(file).catch(() => undefined)
        if (info && info.mtimeMs < cutoff) await rm(file, { recursive: true, force: true })
      }
    },

    /**
     * Streams `source` into the staging folder. Over `maxBytes`, stops reading,
     * removes the partial file and throws PayloadTooLargeError (413, E1108).
     */
    async stage(source: Readable, clientName: string | undefined, fallbackName: string, maxBytes: number): Promise<StagedFile> {
      await mkdir(stagingDir, { recursive: true })
      const target = path.join(stagingDir, `${Date.now()}-${randomBytes(6).toString('hex')}`)
      const hash = createHash('sha256')
      let size = 0
      const meter = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          size += chunk.length
          if (size > maxBytes) {
            done(new PayloadTooLargeError(`file is larger than the limit of ${maxBytes} bytes (MAX_UPLOAD_BYTES)`))
            return
          }
          hash.update(chunk)
          done(null, chunk)
        },
      })
      try {
        await pipeline(source, meter, createWriteStream(target, { highWaterMark: 1 << 20 }))
      } catch (error) {
        await rm(target, { force: true })
        throw error
      }
      return { path: target, fileName: safeFileName(clientName, fallbackName), size, checksum: hash.digest('hex') }
    },

    async discard(staged: StagedFile | undefined): Promise<void> {
      if (staged) await rm(staged.path, { force: true })
    },

    /** Moves a staged file to `relative` (under DATA_DIR). */
    async commit(staged: StagedFile, relative: string): Promise<void> {
      const absolute = resolve(relative)
      await mkdir(path.dirname(absolute), { recursive: true })
      await rename(staged.path, absolute)
    },

    /** Removes a file or folder under DATA_DIR; missing is fine. */
    async remove(relative: string): Promise<void> {
      // A training process may still be adding a checkpoint to the folder (ENOTEMPTY): try again.
      await rm(resolve(relative), { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
    },

    async size(relative: string): Promise<number | null> {
      try {
        return (await stat(resolve(relative))).size
      } catch {
        return null
      }
    },
  }
}

export type Storage = ReturnType<typeof createStorage>
