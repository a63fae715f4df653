// One datagram to a local AF_UNIX socket (syslog's /dev/log), without spawning anything: Bun's
// node:dgram knows only udp4/udp6 and Bun.connect only stream sockets, and after attach the
// seccomp filter denies exec, so logger(1) cannot be used then. The socket is opened once (before
// the privilege drop, if the caller wants) and reused; sendto(2) needs no privilege.
import { dlopen, FFIType, ptr } from "bun:ffi";
import { errno } from "./ffi";
import { errnoName } from "./flock";

const { i32, u32, u64, ptr: p } = FFIType;
const sock = dlopen("libc.so.6", {
  socket: { args: [i32, i32, i32], returns: i32 },
  sendto: { args: [i32, p, u64, i32, p, u32], returns: FFIType.i64 },
  close: { args: [i32], returns: i32 },
}).symbols;

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
const SUN_PATH_MAX = 108;

export class UnixDatagramError extends Error {
  constructor(readonly op: string, readonly errno: number) {
    super(`${op}: ${errnoName(errno)}`);
    this.name = "UnixDatagramError";
  }
}

/** A datagram socket that sends to one AF_UNIX path; close() is idempotent. */
export class UnixDatagramSender {
  private fd: number;
  private readonly addr: Uint8Array;

  constructor(readonly path: string) {
    const bytes = Buffer.from(path, "utf8");
    if (bytes.length >= SUN_PATH_MAX) throw new UnixDatagramError(`socket path ${path} is too long`, 36 /* ENAMETOOLONG */);
    // struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }
    this.addr = new Uint8Array(2 + SUN_PATH_MAX);
    new DataView(this.addr.buffer).setUint16(0, AF_UNIX, true);
    this.addr.set(bytes, 2);
    this.fd = sock.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (this.fd < 0) throw new UnixDatagramError("socket(AF_UNIX, SOCK_DGRAM)", errno());
  }

  /** Send one datagram; throws UnixDatagramError (ECONNREFUSED, ENOENT, EMSGSIZE…) on failure. */
  send(message: string | Uint8Array): void {
    if (this.fd < 0) throw new UnixDatagramError("send on a closed socket", 9 /* EBADF */);
    const data = typeof message === "string" ? Buffer.from(message, "utf8") : message;
    const buf = data.length ? data : new Uint8Array(1);
    const r = Number(sock.sendto(this.fd, ptr(buf), BigInt(data.length), MSG_NOSIGNAL, ptr(this.addr), 2 + Buffer.byteLength(this.path) + 1));
    if (r < 0) throw new UnixDatagramError(`sendto ${this.path}`, errno());
  }

  close(): void {
    if (this.fd >= 0) sock.close(this.fd);
    this.fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
