// The exec-free syslog transport: datagrams reach a real AF_UNIX SOCK_DGRAM receiver (python3,
// bound like journald/rsyslog bind /dev/log), also from a process under the post-attach seccomp
// filter, where logger(1) can no longer be spawned.
import { expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../helpers/trace";

test("sends datagrams to an AF_UNIX receiver, before and after the seccomp filter; refuses cleanly when nobody listens", async () => {
  const dir = mkdtempSync("/tmp/ebpfctl-dgram-");
  const sockPath = join(dir, "log");
  const receiver = Bun.spawn(
    ["python3", "-c", `import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(${JSON.stringify(sockPath)})\nprint("ready",flush=True)\nfor _ in range(2):\n  print(s.recv(65536).decode(),flush=True)\n`],
    { stdout: "pipe", stderr: "pipe" },
  );
  const reader = receiver.stdout.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  expect(first).toContain("ready");
  const script = join(dir, "send.ts");
  writeFileSync(
    script,
    `import { UnixDatagramSender } from "${repoRoot}src/libbpf/unix-datagram";
import { installFilterOnAllThreads } from "${repoRoot}src/libbpf/seccomp";
import { setNoNewPrivs } from "${repoRoot}src/libbpf/caps";
const s = new UnixDatagramSender(${JSON.stringify(sockPath)});
s.send("<86>before the filter");
setNoNewPrivs();
installFilterOnAllThreads();
s.send("<86>after the filter");
s.close();
try { new UnixDatagramSender(${JSON.stringify(join(dir, "nobody-listens"))}).send("x"); console.log("sent?"); } catch (e) { console.log((e as Error).message); }
`,
  );
  const r = Bun.spawnSync([join(repoRoot, "node_modules/.bin/bun"), script], { stdout: "pipe", stderr: "pipe" });
  expect(r.stderr.toString()).toBe("");
  expect(r.stdout.toString()).toMatch(/sendto .*nobody-listens: ENOENT/);
  let got = "";
  while (!got.includes("after the filter")) {
    const c = await reader.read();
    if (c.done) break;
    got += new TextDecoder().decode(c.value);
  }
  expect(got).toContain("<86>before the filter");
  expect(got).toContain("<86>after the filter");
  await receiver.exited;
});
