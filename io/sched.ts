/**
 * V8's helper threads give way to the packet path (issue 15).
 *
 * V8 runs its optimizing compilers and part of its garbage collector on
 * helper threads ("V8 DefaultWorker", as many as the cores less one). When
 * the main thread hands one a job (a function has become hot, say), the
 * kernel wakes it, and a woken thread may preempt the thread that woke it:
 * on a 2-core machine that is often the main thread with a frame in hand.
 * Traced on a tunnel pinged 100 times a second for 15 s: 30 of the 34
 * pings over 0.7 ms had a helper running inside them, 1.1 ms on average,
 * and tier-up jobs go on coming for a minute and more at that rate.
 *
 * {@linkcode batchHelperThreads} puts those threads under SCHED_BATCH: a
 * batch thread never preempts a running thread when it wakes; it runs when a
 * core is free or when the running thread's slice ends, and it keeps its fair
 * share of the CPU (SCHED_IDLE would starve the compilers under load, and a
 * higher nice value still lets a woken thread preempt). A thread may lower
 * its own process's threads' policy without privilege. The main thread, the
 * runtime's own threads and the thread that parks for the event loop keep
 * SCHED_OTHER.
 *
 * @module
 */

import { C, cString, errno, libc, osError } from "../ffi/libc.ts";
import { readKernelText } from "./kernel_drops.ts";
import type { OsError } from "../errors.ts";

/** What {@linkcode batchHelperThreads} did. */
export interface BatchResult {
  /** Helper threads now under SCHED_BATCH. */
  readonly batched: number;
  /** The first failure (EPERM under a seccomp filter that denies
   * sched_setscheduler, say); the threads after it are left as they were. */
  readonly error?: OsError;
}

/** The prefix of the names V8 gives its helper threads (comm is cut at 15
 * bytes: "V8 DefaultWorke"). */
const HELPER_PREFIX = "V8 ";
/** Offset of d_name in glibc's struct dirent on 64-bit Linux. */
const D_NAME = 19;

/** The ids of this process's threads, from /proc/self/task (read through
 * libc: Deno lets only --allow-all programs read /proc/self). */
function threadIds(): number[] {
  const c = libc();
  const dir = c.opendir(cString("/proc/self/task"));
  if (dir === null) throw osError("opendir /proc/self/task", errno());
  const ids: number[] = [];
  try {
    for (let e = c.readdir(dir); e !== null; e = c.readdir(dir)) {
      const name = Deno.UnsafePointerView.getCString(e, D_NAME);
      if (/^\d+$/.test(name)) ids.push(Number(name));
    }
  } finally {
    c.closedir(dir);
  }
  return ids;
}

/** The name (comm) of thread `tid` of this process, or "" when it has gone. */
function threadName(tid: number): string {
  return readKernelText(`/proc/self/task/${tid}/comm`)?.trimEnd() ?? "";
}

/** Puts every V8 helper thread of this process under SCHED_BATCH (see the
 * module doc). Call it from the main thread once V8 is up (any time after
 * start: its helpers exist from the first line of the program). Never
 * throws for a refused call: the result carries it. */
export function batchHelperThreads(): BatchResult {
  const param = new Uint8Array(4); // struct sched_param { int sched_priority = 0 }
  const c = libc();
  let batched = 0;
  for (const tid of threadIds()) {
    if (!threadName(tid).startsWith(HELPER_PREFIX)) continue;
    if (c.sched_setscheduler(tid, C.SCHED_BATCH, param) < 0) {
      return { batched, error: osError("sched_setscheduler", errno()) };
    }
    batched++;
  }
  return { batched };
}
