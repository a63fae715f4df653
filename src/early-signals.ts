// SIGTERM, SIGINT and SIGHUP are caught from the first statement of the program (src/cli/main.ts
// installs this before it loads anything else), so no signal ends ebpfctl by its default action
// once JavaScript runs (before that, for the runtime's own start-up of a few tens of ms, nothing
// has been recorded yet, so nothing is left half-written).
//
// Until a command claims the signals (`trace` does, before its first audit record), a signal ends
// the process as the default action would (exit 128 + n), unless the command listens itself (audit
// tail stops on Ctrl-C). Once claimed, a signal is only remembered: the trace ends its session at
// the next step ("cancelled" before attach, a detach with the signal as reason after it) and
// writes session_end on the way out.
export type StopSignal = "SIGINT" | "SIGTERM" | "SIGHUP";
export const STOP_SIGNALS: readonly StopSignal[] = ["SIGINT", "SIGTERM", "SIGHUP"];
const NUMBER: Record<StopSignal, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

let installed = false;
let claimed = false;
let pending: StopSignal | undefined;
const listeners = new Set<(s: StopSignal) => void>();

/** Install the handlers (idempotent). The first statement of main.ts. */
export function installEarlySignalHandlers(): void {
  if (installed) return;
  installed = true;
  for (const sig of STOP_SIGNALS) {
    process.on(sig, () => {
      if (!claimed) {
        // Nobody owns a session: behave like the default action, unless the command listens itself.
        if (process.listenerCount(sig) <= 1) process.exit(128 + NUMBER[sig]);
        return;
      }
      pending ??= sig;
      for (const l of listeners) l(sig);
    });
  }
}

/** From now on a stop signal is remembered for the session, not fatal (`trace`). */
export function claimStopSignals(): void {
  claimed = true;
}

/** The first stop signal received since the claim, if any. */
export function pendingStopSignal(): StopSignal | undefined {
  return pending;
}

/** Call `l` on every stop signal from now on; returns the function that unsubscribes. */
export function onStopSignal(l: (s: StopSignal) => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

/**
 * Let queued signal handlers run: Bun delivers a signal to JavaScript on the event loop, so a
 * signal that arrived during synchronous work is seen only after a turn of the loop.
 */
export const signalCheckpoint = (): Promise<StopSignal | undefined> => new Promise((r) => setImmediate(() => r(pending)));
