import { Command, Option } from "clipanion";
import { closeSync, fstatSync, openSync, readSync, statSync, watch } from "node:fs";
import { dirname } from "node:path";
import { EbpfctlCommand, outputOption } from "./base";
import { auditLogMissing, usageError } from "../errors";
import { AuditRecordSchema, chainFiles } from "../audit/record";
import { readTail, readTailOfFile } from "../audit/tail";

export class AuditTailCommand extends EbpfctlCommand {
  static paths = [["audit", "tail"]];
  static usage = Command.Usage({
    description: "Print the newest audit records, and optionally follow the log",
    details: `
      Prints the last N records (default 10; rotated files are read when the live file has fewer),
      one per line: time, seq, session, event and its fields. With -f, keeps printing records as
      they are appended, following rotation; it waits on inotify (fs.watch), never polls. Stop it
      with Ctrl-C. --output json prints the records exactly as stored.
    `,
    examples: [
      ["The last 20 records", "sudo ebpfctl audit tail -n 20"],
      ["Follow the log as JSON lines", "sudo ebpfctl audit tail -f --output json"],
    ],
  });
  lines = Option.String("-n,--lines", "10", { description: "How many records to print first" });
  follow = Option.Boolean("-f,--follow", false, { description: "Keep printing new records" });
  output = outputOption();

  async run(): Promise<number> {
    const n = Number(this.lines);
    if (!Number.isInteger(n) || n < 0) throw usageError(`-n: expected a non-negative integer, got "${this.lines}"`);
    if (this.output !== "table" && this.output !== "json") throw usageError(`--output: expected table or json, got "${this.output}"`);
    const path = this.auditLogPath();
    const files = chainFiles(path);
    if (files.length === 0 && !this.follow) throw auditLogMissing(path);

    // Pin the live file and its size first, so a record appended while we print is not missed.
    let live: { fd: number; size: number } | null = null;
    try {
      const fd = openSync(path, "r");
      live = { fd, size: fstatSync(fd).size };
    } catch {
      live = null;
    }
    try {
      // Newest file first until n lines are collected.
      const collected: string[] = [];
      for (let i = files.length - 1; i >= 0 && collected.length < n; i--) {
        const want = n - collected.length;
        const t = files[i] === path && live ? readTail(live.fd, want, live.size) : readTailOfFile(files[i]!, want);
        collected.unshift(...t.lines);
      }
      for (const line of collected) this.print(line);
    } catch (e) {
      if (live) closeSync(live.fd);
      throw e;
    }
    if (!this.follow) {
      if (live) closeSync(live.fd);
      return 0;
    }
    await this.followLog(path, live);
    return 0;
  }

  private print(line: string): void {
    if (line === "") return;
    if (this.output === "json") {
      this.context.stdout.write(line + "\n");
      return;
    }
    let rec: Record<string, unknown>;
    try {
      rec = AuditRecordSchema.parse(JSON.parse(line)) as Record<string, unknown>;
    } catch {
      this.context.stdout.write(`(not a record) ${line}\n`);
      return;
    }
    const { seq, ts, session, host: _h, pid: _p, event, prev: _v, hash: _x, mac: _m, ...fields } = rec;
    const rest = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ");
    this.context.stdout.write(`${ts} #${seq} ${String(session).slice(0, 8)} ${event}${rest ? " " + rest : ""}\n`);
  }

  /** Print what is appended from now on; on rotation finish the old file, then start the new one. */
  private followLog(path: string, start: { fd: number; size: number } | null): Promise<void> {
    let fd: number | null = start?.fd ?? null;
    let ino = start ? fstatSync(start.fd).ino : -1;
    let offset = start?.size ?? 0;
    let pending = "";
    const openLive = () => {
      try {
        fd = openSync(path, "r");
        ino = fstatSync(fd).ino;
      } catch {
        fd = null;
      }
    };
    const drain = () => {
      if (fd === null) return;
      const buf = Buffer.alloc(65536);
      for (;;) {
        const got = readSync(fd, buf, 0, buf.length, offset);
        if (got <= 0) break;
        offset += got;
        pending += buf.subarray(0, got).toString("utf8");
      }
      const parts = pending.split("\n");
      pending = parts.pop() ?? "";
      for (const line of parts) this.print(line);
    };
    const check = () => {
      drain();
      let current = -1;
      try {
        current = statSync(path).ino;
      } catch {
        return; // mid-rotation: the new file appears in a moment
      }
      if (current !== ino) {
        if (fd !== null) closeSync(fd);
        openLive();
        offset = 0;
        pending = "";
        drain();
      }
    };
    return new Promise<void>((resolve) => {
      // Every event in the log's directory, not only those naming the log: a rotation's rename
      // can reach us under the temporary name, coalesced with the first append to the new file,
      // and the .head sidecar changes after every append. check() is a stat and a read.
      const watcher = watch(dirname(path), () => check());
      const stop = () => {
        watcher.close();
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        if (fd !== null) closeSync(fd);
        resolve();
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
      check();
    });
  }
}
