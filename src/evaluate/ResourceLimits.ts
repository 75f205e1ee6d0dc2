/** Memory and CPU limits of an evaluation (rlimits), and how hitting one looks from outside. */
export interface Limits {
  /** Address-space limit (RLIMIT_AS) in MiB. */
  readonly memoryMb?: number | undefined
  /** CPU-time limit (RLIMIT_CPU) in seconds: SIGXCPU at the limit, SIGKILL one second later. */
  readonly cpuSeconds?: number | undefined
}

/**
 * An argv prefix applying `limits` through `sh -c 'ulimit …; exec "$@"'`, so the evaluator
 * itself (not a shell) is the process that runs under them; core dumps are off. Empty when
 * there is nothing to limit.
 */
export const limitsPrefix = (limits: Limits): ReadonlyArray<string> => {
  if (limits.memoryMb === undefined && limits.cpuSeconds === undefined) return []
  const steps = ["ulimit -c 0"]
  if (limits.memoryMb !== undefined) steps.push(`ulimit -v ${Math.max(1, Math.round(limits.memoryMb * 1024))}`)
  if (limits.cpuSeconds !== undefined) {
    const soft = Math.max(1, Math.ceil(limits.cpuSeconds))
    // soft first: a hard limit below the current soft one is refused
    steps.push(`ulimit -S -t ${soft}`, `ulimit -H -t ${soft + 1}`)
  }
  return ["sh", "-c", `${steps.join(" && ")} && exec "$@"`, "evolve-limits"]
}

/** What a memory or CPU limit looks like from outside, for failure messages. */
export const limitHint = (limits: Limits, text: string, signalName: string | null): string | null => {
  if (signalName === "SIGXCPU" && limits.cpuSeconds !== undefined) {
    return `CPU time limit of ${limits.cpuSeconds} s exceeded`
  }
  if (
    limits.memoryMb !== undefined &&
    (/\bMemoryError\b|Cannot allocate memory|out of memory|bad_alloc|allocation failed|ENOMEM|heap limit/i.test(
      text
    ) ||
      signalName === "SIGSEGV" || signalName === "SIGABRT" || signalName === "SIGBUS")
  ) {
    return `memory limit of ${limits.memoryMb} MB probably exceeded`
  }
  return null
}
