// Stream recipes end to end through the real CLI, each against an event the test itself causes:
// an exit code, a signal, a TCP connection to its own listener, a bind, a real OOM kill.
// (execsnoop and opensnoop are covered by the lead's tests.)
import { describe, expect } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { expectIdentity, recipeTest, run, traceDuring, useFixtures } from "./trace-helpers";

useFixtures();

type Ev = Record<string, unknown>;
const events = (records: Ev[]) => records.filter((r) => r.kind === "event");

describe("exitsnoop", () => {
  recipeTest("exit code 42 and death by SIGKILL, exactly", async () => {
    let codePid = 0;
    let killedPid = 0;
    const r = await traceDuring(["exitsnoop"], async () => {
      const a = Bun.spawn(["sh", "-c", "exit 42"]);
      codePid = a.pid;
      expect(await a.exited).toBe(42);
      const b = Bun.spawn(["sleep", "30"]);
      killedPid = b.pid;
      await Bun.sleep(50);
      b.kill("SIGKILL");
      await b.exited;
      expect(b.signalCode).toBe("SIGKILL");
    });
    expect(r.code).toBe(0);
    const evs = events(r.records);
    const a = evs.find((e) => e.pid === codePid);
    expect(a).toMatchObject({ comm: "sh", exit_code: 42, sig: 0 });
    const b = evs.find((e) => e.pid === killedPid);
    expect(b).toMatchObject({ comm: "sleep", exit_code: 0, sig: 9, sig_name: "SIGKILL", ppid: process.pid });
    expectIdentity(r);
  });
});

describe("sigsnoop", () => {
  recipeTest("SIGUSR1 from this process to a child: sender, target, signal", async () => {
    let target = 0;
    const r = await traceDuring(["sigsnoop", "--signal", "USR1"], async () => {
      const c = Bun.spawn(["sleep", "30"]);
      target = c.pid;
      await Bun.sleep(50);
      process.kill(c.pid, "SIGUSR1");
      await c.exited;
    });
    expect(r.code).toBe(0);
    const evs = events(r.records).filter((e) => e.tpid === target);
    expect(evs.length).toBe(1);
    expect(evs[0]).toMatchObject({ pid: process.pid, tpid: target, sig: 10, sig_name: "SIGUSR1", tcomm: "sleep", result: 0 });
    expectIdentity(r);
  });
});

/** A listener on 127.0.0.1 that answers `reply` bytes once it has read `expect` bytes, then closes. */
function listener(expectBytes: number, reply: number) {
  let got = 0;
  return Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(s, d) {
        got += d.byteLength;
        if (got >= expectBytes) {
          s.write(new Uint8Array(reply));
          s.end();
        }
      },
      open(s) {
        if (expectBytes === 0) s.end();
      },
    },
  });
}

describe("tcpconnect", () => {
  recipeTest("a connect to a local listener: pid, daddr, dport", async () => {
    const srv = listener(0, 0);
    let pid = 0;
    try {
      const r = await traceDuring(["tcpconnect"], async () => {
        const c = await run(["bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${srv.port}; exec 3>&-`]);
        expect(c.code).toBe(0);
        pid = c.pid;
      });
      expect(r.code).toBe(0);
      const ev = events(r.records).find((e) => e.dport === srv.port);
      expect(ev).toMatchObject({ pid, comm: "bash", daddr: "127.0.0.1", dport: srv.port, family: 2 });
      expectIdentity(r);
    } finally {
      srv.stop(true);
    }
  });
});

describe("tcplife", () => {
  recipeTest("one session with known byte counts: ports, pid and tx/rx", async () => {
    const TX = 1234;
    const RX = 567;
    const srv = listener(TX, RX);
    let pid = 0;
    try {
      const r = await traceDuring(["tcplife"], async () => {
        const c = await run(["bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${srv.port}; head -c ${TX} /dev/zero >&3; head -c ${RX} <&3 | wc -c; exec 3>&-`]);
        expect(c.stdout.trim()).toBe(String(RX));
        pid = c.pid;
        await Bun.sleep(200); // both ends reach CLOSE
      });
      expect(r.code).toBe(0);
      const client = events(r.records).find((e) => e.dport === srv.port);
      expect(client).toMatchObject({ pid, comm: "bash", daddr: "127.0.0.1", saddr: "127.0.0.1", dport: srv.port });
      if (client!.has_bytes) {
        expect(client!.tx_bytes).toBe(TX);
        expect(client!.rx_bytes).toBe(RX);
      }
      const server = events(r.records).find((e) => e.sport === srv.port);
      expect(server).toBeDefined();
      expect(server!.dport).toBe(client!.sport);
      if (server!.has_bytes) {
        expect(server!.rx_bytes).toBe(TX);
        expect(server!.tx_bytes).toBe(RX);
      }
      expectIdentity(r);
    } finally {
      srv.stop(true);
    }
  });
});

describe("bindsnoop", () => {
  recipeTest("bind to a known address and port", async () => {
    const port = 20000 + (process.pid % 20000);
    let pid = 0;
    const r = await traceDuring(["bindsnoop", "--port", String(port)], async () => {
      const c = await run(["python3", "-c", `import socket; s=socket.socket(); s.bind(("127.0.0.1", ${port})); print("ok")`]);
      expect(c.stdout.trim()).toBe("ok");
      pid = c.pid;
    });
    expect(r.code).toBe(0);
    const evs = events(r.records);
    expect(evs.length).toBe(1);
    expect(evs[0]).toMatchObject({ pid, port, addr: "127.0.0.1", ret: 0, family: 2 });
    expectIdentity(r);
  });
});

/** A memory cgroup with a small limit: cgroup v2 if its memory controller is usable, else v1. */
function memoryCgroup(limitBytes: number): { procs: string; version: 1 | 2; remove(): void } | string {
  const v2root = "/sys/fs/cgroup";
  const v2controllers = existsSync(`${v2root}/cgroup.controllers`) ? readFileSync(`${v2root}/cgroup.controllers`, "utf8") : "";
  const name = `ebpfctl-oomkill-test-${process.pid}`;
  if (/\bmemory\b/.test(v2controllers)) {
    const dir = `${v2root}/${name}`;
    mkdirSync(dir);
    writeFileSync(`${dir}/memory.max`, String(limitBytes));
    if (existsSync(`${dir}/memory.swap.max`)) writeFileSync(`${dir}/memory.swap.max`, "0");
    return { procs: `${dir}/cgroup.procs`, version: 2, remove: () => rmdirSync(dir) };
  }
  const v1 = "/sys/fs/cgroup/memory";
  if (existsSync(`${v1}/memory.limit_in_bytes`)) {
    const dir = `${v1}/${name}`;
    mkdirSync(dir);
    writeFileSync(`${dir}/memory.limit_in_bytes`, String(limitBytes));
    return { procs: `${dir}/cgroup.procs`, version: 1, remove: () => rmdirSync(dir) };
  }
  return "no usable memory cgroup (neither a cgroup v2 memory controller nor a v1 memory hierarchy)";
}

describe("oomkill", () => {
  recipeTest("a real OOM kill inside a memory cgroup: the victim's pid and comm", async () => {
    const cg = memoryCgroup(32 << 20);
    if (typeof cg === "string") throw new Error(cg);
    let victim = 0;
    try {
      const r = await traceDuring(["oomkill"], async () => {
        // tail /dev/zero buffers an endless line: it grows until the cgroup's OOM killer ends it.
        const c = Bun.spawn(["sh", "-c", `echo $$ > ${cg.procs} && exec tail /dev/zero`], { stdout: "ignore", stderr: "ignore" });
        victim = c.pid;
        await c.exited;
        expect(c.signalCode).toBe("SIGKILL");
      });
      expect(r.code).toBe(0);
      const ev = events(r.records).find((e) => e.tpid === victim);
      expect(ev).toMatchObject({ tpid: victim, tcomm: "tail" });
      expect(ev!.fpid).toBe(victim); // the allocation that hit the limit was the victim's own
      expectIdentity(r);
    } finally {
      for (let i = 0; i < 20; i++) {
        try {
          cg.remove();
          break;
        } catch {
          await Bun.sleep(50);
        }
      }
    }
  });
});
