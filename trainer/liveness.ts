// Whether the trainer named by a worker id (`host:pid:random`) still lives,
// so that jobs and tunings it held can be taken over at once instead of
// after their heartbeat goes stale.
import os from 'node:os'

export const hostname = os.hostname()

/** True when `workerId` names a process on this machine that no longer exists. */
export function processGone(workerId: string | null): boolean {
  const [host, pid] = (workerId ?? '').split(':')
  if (host !== hostname || !pid || Number(pid) === process.pid) return false
  try {
    process.kill(Number(pid), 0)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH'
  }
}
