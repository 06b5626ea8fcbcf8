// Bootstrap of the project's worker threads: loads the TypeScript entry named in workerData
// through tsx's loader, as cli/bin.mjs does for the CLI. A worker does not inherit a loader that
// was registered with module.register() on the main thread.
import { readlinkSync } from 'node:fs'
import { setPriority } from 'node:os'
import { workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

// Background threads (the verifier, state roots) yield the CPU to the request path: on Linux a
// thread's nice value is set by its thread id, which /proc/thread-self names. Elsewhere, or
// without permission, the thread just keeps the default priority.
if (workerData.nice) {
  try {
    setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), workerData.nice)
  } catch {}
}

register()
await import(workerData.entry)
