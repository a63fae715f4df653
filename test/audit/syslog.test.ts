// The syslog mirror, received on a real unix datagram socket bound at a temporary path.
import { afterAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { AuditLog } from "../../src/audit/audit-log";
import { verifyCheckpoint } from "../../src/audit/checkpoint";
import { sealLog } from "../../src/audit/seal-init";
import { prerequisite, tmp } from "./helpers";

// Bun cannot bind unix datagram sockets, so the listener is a few lines of Debian's python3.
const PY = "/usr/bin/python3";
const LISTENER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("ready", flush=True)
while True:
    data = s.recv(65536)
    print(data.decode(), flush=True)
`;
const children: { kill(): void }[] = [];
afterAll(() => children.forEach((c) => c.kill()));

test("records are mirrored to syslog as authpriv with the right severity", async () => {
  if (!prerequisite(existsSync(PY), "python3 (test listener)")) return;
  const dir = tmp();
  const sock = join(dir, "log.sock");
  const p = Bun.spawn([PY, "-c", LISTENER, sock], { stdout: "pipe" });
  children.push(p);
  const reader = p.stdout.getReader();
  let buf = "";
  const nextLines = async (n: number) => {
    while (buf.split("\n").length - 1 < n) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += new TextDecoder().decode(value);
    }
    const parts = buf.split("\n");
    const got = parts.slice(0, n);
    buf = parts.slice(n).join("\n");
    return got;
  };
  expect(await nextLines(1)).toEqual(["ready"]);

  const log = AuditLog.open({ path: join(dir, "audit.jsonl"), session: "sys1", syslog: true, syslogSocket: sock });
  const a = log.append("session_start", { recipe: "execsnoop" });
  const b = log.append("budget_breach", { budget: "max_rate", limit: 1000, observed: 5000 });
  const c = log.append("detached", { reason: "completed" });
  expect(log.lastSyslogError).toBeNull();
  log.close();

  const got = await nextLines(3);
  const re = /^<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d ebpfctl\[(\d+)\]: (\{.*\})$/;
  const parsed = got.map((l) => re.exec(l));
  expect(parsed.every((m) => m !== null)).toBe(true);
  expect(parsed.map((m) => Number(m![1]))).toEqual([86, 85, 86]); // authpriv.info, authpriv.notice, authpriv.info
  expect(parsed.map((m) => Number(m![2]))).toEqual([process.pid, process.pid, process.pid]);
  expect(parsed.map((m) => JSON.parse(m![3]!))).toEqual([a, b, c]);
});

test("a missing syslog socket never fails the append; the reason is kept", () => {
  const dir = tmp();
  const log = AuditLog.open({ path: join(dir, "audit.jsonl"), session: "s", syslog: true, syslogSocket: join(dir, "nope.sock") });
  const r = log.append("session_start", {});
  expect(r.seq).toBe(1);
  expect(log.lastSyslogError).not.toBeNull();
  log.close();
});

test("a sealed log mirrors its signed checkpoints to syslog even without --audit-syslog", async () => {
  if (!prerequisite(existsSync(PY), "python3 (test listener)")) return;
  const dir = tmp();
  const sock = join(dir, "log.sock");
  const p = Bun.spawn([PY, "-c", LISTENER, sock], { stdout: "pipe" });
  children.push(p);
  const reader = p.stdout.getReader();
  let buf = "";
  const nextLine = async () => {
    while (!buf.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += new TextDecoder().decode(value);
    }
    const [line, ...rest] = buf.split("\n");
    buf = rest.join("\n");
    return line!;
  };
  expect(await nextLine()).toBe("ready");
  const saved = process.env.EBPFCTL_SYSLOG_SOCKET;
  process.env.EBPFCTL_SYSLOG_SOCKET = sock;
  try {
    const path = join(dir, "audit.jsonl");
    const { secret } = sealLog(path);
    const log = AuditLog.open({ path, session: "sys2" });
    log.append("session_start", {});
    const end = log.append("session_end", { exit_code: 0 });
    log.close();
    const got: Record<string, unknown>[] = [];
    for (let i = 0; i < 2; i++) got.push(JSON.parse(/ebpfctl\[\d+\]: (\{.*\})$/.exec(await nextLine())![1]!));
    // init's checkpoint (of audit_sealed), then the session's (of session_end); nothing else.
    expect(got.map((r) => r.event)).toEqual(["checkpoint", "checkpoint"]);
    expect(got[1]).toMatchObject({ of_seq: end.seq, of_hash: end.hash });
    expect(verifyCheckpoint(secret.publicKey, end.seq, end.hash, String(got[1]!.signature))).toBe(true);
    expect(verifyCheckpoint(secret.publicKey, end.seq, "0".repeat(64), String(got[1]!.signature))).toBe(false);
  } finally {
    if (saved === undefined) delete process.env.EBPFCTL_SYSLOG_SOCKET;
    else process.env.EBPFCTL_SYSLOG_SOCKET = saved;
  }
});
