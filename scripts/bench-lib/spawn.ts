// Spawn a process and time how long until a marker line shows up on one of its streams.
import type { Subprocess } from "bun";

export interface MarkerRun {
  /** ms from just before spawn to the moment the marker line was read */
  ms: number;
  /** the marker line itself */
  line: string;
  /** everything read from the watched stream up to the marker */
  text: string;
}

/**
 * Start `cmd`, read `stream` line by line until `isMarker(line)`, then stop the process with
 * SIGINT (SIGKILL after 5 s) and wait for it to exit. Throws if it exits or times out first.
 */
export async function timeToMarker(
  cmd: string[],
  opts: { stream: "stdout" | "stderr"; isMarker: (line: string) => boolean; env?: Record<string, string | undefined>; timeoutMs?: number },
): Promise<MarkerRun> {
  const t0 = performance.now();
  const proc = Bun.spawn(cmd, {
    stdin: "ignore",
    stdout: opts.stream === "stdout" ? "pipe" : "ignore",
    stderr: opts.stream === "stderr" ? "pipe" : "ignore",
    env: opts.env as Record<string, string>,
  });
  const stream = (opts.stream === "stdout" ? proc.stdout : proc.stderr) as ReadableStream<Uint8Array>;
  const reader = stream.getReader();
  const dec = new TextDecoder();
  let buf = "";
  let text = "";
  const timeout = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 20_000);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`${cmd.join(" ")} exited (${await proc.exited}) before its marker line; output:\n${text}${buf}`);
      const tRead = performance.now();
      buf += dec.decode(value, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        text += line + "\n";
        if (opts.isMarker(line)) {
          // Keep draining so a chatty process never blocks on a full pipe while it shuts down.
          const drain = (async () => {
            while (!(await reader.read()).done);
          })().catch(() => {});
          await stop(proc);
          await drain;
          return { ms: tRead - t0, line, text };
        }
      }
    }
  } finally {
    clearTimeout(timeout);
  }
}

async function stop(proc: Subprocess): Promise<void> {
  proc.kill("SIGINT");
  const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
  await proc.exited;
  clearTimeout(t);
}
