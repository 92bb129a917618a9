// Loaded models kept for prediction, least recently used evicted first. A
// model is loaded once however many calls ask for it at the same time, and a
// model evicted (or forgotten) while a prediction still runs on it is
// disposed when that prediction ends, not under its feet.

interface Entry<T> {
  jobId: string
  loading: Promise<T>
  loaded: T | null
  /** Calls running on this entry now. */
  users: number
  /** Out of the cache: dispose as soon as no call uses it. */
  dropped: boolean
}

export class ModelCache<T> {
  /** In use order: the first entry is the least recently used. */
  private readonly entries = new Map<string, Entry<T>>()

  constructor(
    private readonly capacity: number,
    private readonly dispose: (value: T) => void,
  ) {
    if (!(Number.isInteger(capacity) && capacity >= 1)) throw new Error(`a model cache holds at least 1 model, not ${capacity}`)
  }

  /** Runs `use` on the value cached under `key`, loading it with `load` when absent. */
  async use<R>(key: string, jobId: string, load: () => Promise<T>, use: (value: T) => Promise<R>): Promise<R> {
    let entry = this.entries.get(key)
    if (entry === undefined) entry = this.start(key, jobId, load)
    else this.entries.delete(key)
    this.entries.set(key, entry)
    entry.users += 1
    this.evictBeyondCapacity()
    try {
      return await use(await entry.loading)
    } finally {
      entry.users -= 1
      this.settle(entry)
    }
  }

  /** Drops every model of `jobId`. */
  forget(jobId: string): void {
    for (const [key, entry] of this.entries) if (entry.jobId === jobId) this.drop(key, entry)
  }

  /** Drops every model. */
  clear(): void {
    for (const [key, entry] of this.entries) this.drop(key, entry)
  }

  private start(key: string, jobId: string, load: () => Promise<T>): Entry<T> {
    const entry: Entry<T> = { jobId, loading: load(), loaded: null, users: 0, dropped: false }
    entry.loading.then(
      (value) => {
        entry.loaded = value
        this.settle(entry)
      },
      // The callers waiting on it see the error; the next call tries again.
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key)
      },
    )
    return entry
  }

  private evictBeyondCapacity(): void {
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.capacity) return
      this.drop(key, entry)
    }
  }

  private drop(key: string, entry: Entry<T>): void {
    this.entries.delete(key)
    entry.dropped = true
    this.settle(entry)
  }

  private settle(entry: Entry<T>): void {
    if (!entry.dropped || entry.users > 0 || entry.loaded === null) return
    this.dispose(entry.loaded)
    entry.loaded = null
  }
}
