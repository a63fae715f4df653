// The generated -o json line against the generic one on REAL records: each stream recipe's BPF
// object is loaded and attached (its first alternatives, as on this kernel), a workload the test
// runs makes the kernel write records with awkward contents (a comm set with prctl to quotes,
// a backslash, control chars and invalid UTF-8; such paths and argv; failed calls; IPv4 and IPv6;
// a real OOM kill in a memory cgroup), and every record the ring delivers in that window (the
// workload's and the host's) goes through both paths: the generated line made in the ring
// callback from the record in place, and the generic line (its own reader, decode + jsonEvent +
// JSON.stringify) from a copy of the same bytes, byte for byte. The workload's own comm must be
// seen (ground truth: the bytes the test gave prctl), and every line validates against the
// recipe's docs/schema event schema with ajv.
import { describe, expect } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { toArrayBuffer } from "bun:ffi";
import Ajv2020 from "ajv/dist/2020";
import { RingBufferReader, type BpfLink } from "../../src/libbpf";
import { attachAlternative } from "../../src/session/attach";
import { kernelTest } from "../kernel/helpers";
import { openObject, pathsFor, repo, streamRecipes, type StreamManifest } from "./json-line-helpers";

const ajv = new Ajv2020({ allErrors: true, strict: false });
const eventSchema = (name: string) => ajv.compile(JSON.parse(readFileSync(join(repo, "docs/schema/events", `${name}.json`), "utf8")));

/** The comm the workloads give themselves: a quote, a backslash, control chars, invalid UTF-8 (15 bytes + NUL). */
const COMM = [0x71, 0x22, 0x5c, 0x01, 0x1f, 0xff, 0xc3, 0x7f, 0x0a, 0x09, 0xed, 0xa0, 0x80, 0x20, 0x7a];
const COMM_TEXT = new TextDecoder().decode(Uint8Array.from(COMM));
const PY_PRELUDE = `import ctypes, os, socket, signal, sys, time, threading
ctypes.CDLL(None).prctl(15, bytes([${COMM.join(",")}]), 0, 0, 0)
`;

interface Capture { lines: string[]; records: Uint8Array[] }

/**
 * Loads the recipe's object and attaches it, runs `work`, drains the ring. Alternatives are tried
 * in order as the session does (attempt k takes each probe's k-th alternative, or its last): on
 * this kernel fentry is refused and there are no kprobes, so tcpconnect and oomkill move on.
 */
async function capture(m: StreamManifest, work: () => Promise<void>): Promise<Capture & { check: ReturnType<typeof pathsFor> }> {
  const tries = Math.max(...m.probes.map((p) => p.alternatives.length));
  for (let k = 0; ; k++) {
    const obj = openObject(m);
    const links: BpfLink[] = [];
    let rb: RingBufferReader | undefined;
    try {
      const chosen = m.probes.map((p) => p.alternatives[Math.min(k, p.alternatives.length - 1)]!);
      const programs = new Set(chosen.map((a) => a.program));
      for (const p of obj.programs()) p.autoload = programs.has(p.name);
      try {
        obj.load();
        for (const a of chosen) links.push(...attachAlternative(obj.program(a.program), a, { params: {} }));
      } catch (e) {
        if (k + 1 < tries) continue;
        throw e;
      }
      const paths = pathsFor(m, obj);
      if (!paths.line) throw new Error(`${m.name}: no generated line (${paths.fallback})`);
      const direct = paths.reader.reading(paths.line);
      const out: Capture = { lines: [], records: [] };
      rb = new RingBufferReader(obj.map(m.event.ringbuf), (p, size) => {
        if (out.records.length >= 20_000) return;
        out.lines.push(direct(p, size)); // the path -o json takes now
        out.records.push(new Uint8Array(toArrayBuffer(p, 0, size)).slice());
      });
      let done = false;
      const running = work().finally(() => (done = true));
      while (!done) {
        rb.poll(20);
        await Bun.sleep(5);
      }
      await running;
      await Bun.sleep(100);
      rb.consume();
      return { ...out, check: paths };
    } finally {
      rb?.close();
      for (const l of links.reverse()) l.close();
      obj.close();
    }
  }
}

async function py(script: string, opts: { cgroupProcs?: string } = {}): Promise<number> {
  const p = Bun.spawn(["python3", "-c", PY_PRELUDE + script], { stdout: "ignore", stderr: "pipe", env: { ...process.env, CGROUP_PROCS: opts.cgroupProcs ?? "" } });
  const code = await p.exited;
  if (code !== 0 && !opts.cgroupProcs) throw new Error(`workload failed (${code}): ${await new Response(p.stderr).text()}`);
  return p.pid;
}

const WEIRD = `b'/tmp/ebpfctl-jl-"q\\\\\\x01\\x1f\\xff\\xc3\\xed\\xa0\\x80-' + str(os.getpid()).encode()`;
const LISTEN = `
def serve(fam, host):
    s = socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((host, 0)); s.listen(8)
    def run():
        while True:
            c, _ = s.accept(); c.recv(4096); c.sendall(b"y" * 777); c.close()
    threading.Thread(target=run, daemon=True).start()
    return s.getsockname()[1]
def talk(fam, host, port):
    c = socket.create_connection((host, port)); c.sendall(b"x" * 1234); c.recv(4096); c.close()
`;

/** A workload per recipe: what makes its kernel side write records, with edge contents where the kernel lets us choose them. */
const WORKLOADS: Record<string, () => Promise<void>> = {
  execsnoop: async () => {
    await py(`args = [b"/bin/true", b'a"b\\\\c', bytes(range(1, 32)) + b"\\x7f", b"\\xff\\xfe\\xc3", b"", "é😀".encode()] + [b"x" * 120] * 12
for i in range(5):
    if os.fork() == 0:
        os.execv(b"/bin/true", args)
    os.wait()
if os.fork() == 0:
    try: os.execv(${WEIRD}, [b"nope"])
    except OSError: os._exit(0)
os.wait()`);
  },
  opensnoop: async () => {
    await py(`for p in [${WEIRD}, b"/etc/hostname", b"/" + b"d" * 300]:
    try: os.close(os.open(p, os.O_RDONLY))
    except OSError: pass
d = "/tmp/ebpfctl-jl-open-%d" % os.getpid()
os.close(os.open(d, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_NONBLOCK, 0o600)); os.unlink(d)
os.close(os.open("/tmp", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)); os.close(os.open("/tmp", os.O_PATH))`);
  },
  bindsnoop: async () => {
    await py(`keep = [socket.socket() for _ in range(10)]
for k in keep: k.bind(("127.0.0.1", 0))
a = socket.socket(); a.bind(("127.0.0.1", 0))
b = socket.socket(socket.AF_INET6); b.bind(("::1", 0))
c = socket.socket()
try: c.bind(("127.0.0.1", a.getsockname()[1]))
except OSError: pass
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.bind(("::", 0))`);
  },
  tcpconnect: async () => {
    await py(`${LISTEN}
p4, p6 = serve(socket.AF_INET, "127.0.0.1"), serve(socket.AF_INET6, "::1")
for _ in range(10): talk(socket.AF_INET, "127.0.0.1", p4); talk(socket.AF_INET6, "::1", p6)
try: socket.create_connection(("127.0.0.1", 1), timeout=1)
except OSError: pass`);
  },
  tcplife: async () => {
    await py(`${LISTEN}
p4, p6 = serve(socket.AF_INET, "127.0.0.1"), serve(socket.AF_INET6, "::1")
for _ in range(10): talk(socket.AF_INET, "127.0.0.1", p4); talk(socket.AF_INET6, "::1", p6)
time.sleep(0.2)`);
  },
  sigsnoop: async () => {
    await py(`pid = os.fork()
if pid == 0:
    signal.signal(signal.SIGUSR1, lambda *a: None); signal.signal(signal.SIGRTMIN + 3, lambda *a: None)
    time.sleep(3); os._exit(0)
time.sleep(0.2)
os.kill(pid, signal.SIGUSR1); os.kill(pid, signal.SIGRTMIN + 3); os.kill(pid, signal.SIGKILL); os.wait()`);
  },
  exitsnoop: async () => {
    await py(`for how in ["code", "term", "kill"]:
    pid = os.fork()
    if pid == 0:
        if how == "code": os._exit(42)
        os.kill(os.getpid(), signal.SIGTERM if how == "term" else signal.SIGKILL); time.sleep(5)
    os.waitpid(pid, 0)
t = threading.Thread(target=lambda: None); t.start(); t.join()`);
  },
  oomkill: async () => {
    const cg = memoryCgroup(32 << 20);
    try {
      // The victim allocates inside a 32 MiB cgroup until the OOM killer ends it.
      await py(`open(os.environ["CGROUP_PROCS"], "w").write(str(os.getpid()))
b = []
while True: b.append(bytearray(1 << 20))`, { cgroupProcs: cg.procs });
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
  },
};

/** A memory cgroup with a small limit (cgroup v2 memory controller, else v1); the test fails without one. */
function memoryCgroup(limitBytes: number): { procs: string; remove(): void } {
  const name = `ebpfctl-jl-oom-${process.pid}`;
  const v2 = "/sys/fs/cgroup";
  if (existsSync(`${v2}/cgroup.controllers`) && /\bmemory\b/.test(readFileSync(`${v2}/cgroup.controllers`, "utf8"))) {
    const dir = `${v2}/${name}`;
    mkdirSync(dir);
    writeFileSync(`${dir}/memory.max`, String(limitBytes));
    if (existsSync(`${dir}/memory.swap.max`)) writeFileSync(`${dir}/memory.swap.max`, "0");
    return { procs: `${dir}/cgroup.procs`, remove: () => rmdirSync(dir) };
  }
  const v1 = "/sys/fs/cgroup/memory";
  if (!existsSync(`${v1}/memory.limit_in_bytes`)) throw new Error("no usable memory cgroup (neither cgroup v2 memory nor v1)");
  const dir = `${v1}/${name}`;
  mkdirSync(dir);
  writeFileSync(`${dir}/memory.limit_in_bytes`, String(limitBytes));
  return { procs: `${dir}/cgroup.procs`, remove: () => rmdirSync(dir) };
}

/** Fields whose value is our comm, per recipe: the workload's records must be among those seen. */
const COMM_FIELDS: Record<string, string[]> = { oomkill: ["tcomm", "fcomm"], sigsnoop: ["comm", "tcomm"] };

describe("generated JSON line = generic line on real kernel records", () => {
  const tmp = mkdtempSync("/tmp/ebpfctl-jl-");
  for (const m of streamRecipes) {
    const work = WORKLOADS[m.name];
    if (!work) continue;
    kernelTest(`${m.name}: every record of a real run, byte for byte`, async () => {
      const c = await capture(m, work);
      const { generic, genericReader } = c.check;
      const validate = eventSchema(m.name);
      let ours = 0;
      let mismatches = 0;
      c.records.forEach((bytes, i) => {
        const want = generic.renderGeneric(genericReader.decodeBytes(bytes));
        if (c.lines[i] !== want && mismatches++ < 3) expect({ i, line: c.lines[i] }).toEqual({ i, line: want });
        const o = JSON.parse(want);
        if (!validate(o) && mismatches++ < 3) expect({ i, errors: validate.errors }).toEqual({ i, errors: null });
        if ((COMM_FIELDS[m.name] ?? ["comm"]).some((f) => o[f] === COMM_TEXT)) ours++;
      });
      expect(mismatches).toBe(0);
      expect(ours).toBeGreaterThan(0);
      writeFileSync(join(tmp, `${m.name}.jsonl`), c.lines.join("\n") + "\n"); // for a human to look at on failure
      console.log(`${m.name}: ${c.records.length} real records, ${ours} from the workload, identical`);
    }, 60_000);
  }
  process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
});
