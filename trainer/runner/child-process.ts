// The training process of one job: forked with `node --import tsx` and a
// heap cap from the instance type's memory, driven over IPC (start, stop),
// killed when a stop is not honoured within the grace period. A crash or an
// out-of-memory there ends only that job; `exited` says how it ended.
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { ChildMessage, ParentMessage, TrainingSpec } from '../worker/protocol.ts'

const childEntry = fileURLToPath(new URL('../worker/child.ts', import.meta.url))

/** How long a stopping child may take to checkpoint and leave before it is killed. */
export const stopGraceMs = 30_000

export interface ProcessExit {
  code: number | null
  signal: NodeJS.Signals | null
  /** The last few KB of its stderr. */
  stderr: string
  /** V8 reported the heap exhausted. */
  outOfHeap: boolean
}

export interface TrainingProcess {
  /** Asks the process to stop at its next step (it checkpoints first); kills it after the grace period. */
  stop(reason: 'stop' | 'timeout', onKill: () => void): void
  kill(): void
  readonly exited: Promise<ProcessExit>
}

export function startTrainingProcess(
  spec: TrainingSpec,
  options: { memoryGb: number; onMessage: (message: ChildMessage) => void; onError: (error: Error) => void },
): TrainingProcess {
  const maxOldSpace = Math.max(256, Math.floor(options.memoryGb * 1024 * 0.75))
  const child: ChildProcess = fork(childEntry, [], {
    execArgv: ['--import', 'tsx', `--max-old-space-size=${maxOldSpace}`],
    serialization: 'advanced',
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000)
  })
  child.on('message', (message: ChildMessage) => options.onMessage(message))
  child.on('error', options.onError)
  const exited = new Promise<ProcessExit>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, stderr: stderr.trim(), outOfHeap: /heap out of memory|Allocation failed/i.test(stderr) }))
  })
  const send = (message: ParentMessage) => {
    if (child.connected) child.send(message)
  }
  send({ type: 'start', spec })

  return {
    exited,
    stop(reason, onKill) {
      send({ type: 'stop', reason })
      const killer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) {
          onKill()
          child.kill('SIGKILL')
        }
      }, stopGraceMs)
      killer.unref()
    },
    kill() {
      child.kill('SIGKILL')
    },
  }
}
