// A BPF ring buffer consumer that reads the ring in place, without libbpf's ring_buffer.
//
// libbpf's consumer calls a C callback per record, which from Bun is a C→JS transition per event,
// and it publishes consumer_pos after every record, so the producing CPU's next reserve misses on
// that cache line. This reader maps the ring like libbpf does (the consumer page read-write; the
// producer page and the data area, mapped twice back to back, read-only), walks records in a JS
// loop and publishes consumer_pos every PUBLISH_BYTES and at the end of each round
// (docs/benchmarks.md). Waiting is epoll on the map fd, which reports readable while data is
// pending. x86-64 only, like the rest of ebpfctl: its loads are not reordered with other loads and
// its stores not with earlier loads, which is the acquire/release order the ring's protocol needs.
import { read, toArrayBuffer, type Pointer } from "bun:ffi";
import { errno, libc } from "./ffi";
import { EINTR, LibbpfError } from "./error";
import type { BpfMap } from "./object";

/** Receives a pointer to one sample, valid only during the call: copy what you need out of it. */
export type SampleHandler = (data: Pointer, size: number) => void;

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const EPOLL_CLOEXEC = 0o2000000;
const EPOLL_CTL_ADD = 1;
const EPOLLIN = 1;
const RINGBUF_BUSY_BIT = 0x80000000;
const RINGBUF_DISCARD_BIT = 0x40000000;
const RINGBUF_HDR_SZ = 8;
/** Free consumed space for the producers at least this often within one round. */
const PUBLISH_BYTES = 64 * 1024;

export class RingBufferReader {
  private readonly mask: number;
  private readonly pageSize: number;
  private consumerPage = 0;
  private producerArea = 0;
  private data = 0;
  private epfd = -1;
  /** consumer_pos, the one word we write */
  private consumerPos: BigUint64Array | undefined;
  /** producer_pos, written by the kernel */
  private producerPos: BigUint64Array | undefined;
  private readonly event = new Uint8Array(16);
  private closed = false;

  constructor(
    private readonly map: BpfMap,
    private readonly handler: SampleHandler,
  ) {
    const size = map.maxEntries;
    if (size <= 0 || (size & (size - 1)) !== 0) throw new LibbpfError("ring buffer size", 22, map.name);
    this.mask = size - 1;
    this.pageSize = libc.getpagesize();
    try {
      this.consumerPage = this.mmap(this.pageSize, PROT_READ | PROT_WRITE, 0);
      // The producer page, then the data area twice: a record that wraps reads contiguously.
      this.producerArea = this.mmap(this.pageSize + 2 * size, PROT_READ, this.pageSize);
      this.data = this.producerArea + this.pageSize;
      this.consumerPos = new BigUint64Array(toArrayBuffer(this.consumerPage as Pointer, 0, 8));
      this.producerPos = new BigUint64Array(toArrayBuffer(this.producerArea as Pointer, 0, 8));
      this.epfd = libc.epoll_create1(EPOLL_CLOEXEC);
      if (this.epfd < 0) throw new LibbpfError("epoll_create1", errno(), map.name);
      new DataView(this.event.buffer).setUint32(0, EPOLLIN, true);
      if (libc.epoll_ctl(this.epfd, EPOLL_CTL_ADD, map.fd, this.event) < 0) throw new LibbpfError("epoll_ctl", errno(), map.name);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private mmap(len: number, prot: number, offset: number): number {
    const p = libc.mmap(null, BigInt(len), prot, MAP_SHARED, this.map.fd, BigInt(offset));
    if (p === -1n) throw new LibbpfError("mmap", errno(), this.map.name);
    return Number(p);
  }

  /**
   * Wait up to timeoutMs for data and consume every pending sample. Returns the number consumed;
   * a signal interrupting the wait returns 0 so the caller can act on it.
   */
  poll(timeoutMs: number, maxRecords = Infinity): number {
    if (this.closed) return 0;
    const n = libc.epoll_wait(this.epfd, this.event, 1, timeoutMs);
    if (n < 0) {
      const err = errno();
      if (err === EINTR) return 0;
      throw new LibbpfError("epoll_wait", err, this.map.name);
    }
    // Producers skip the wakeup until enough is pending (BPF_RB_NO_WAKEUP): the timer path
    // consumes what is there as well.
    return this.consume(maxRecords);
  }

  /**
   * Consume what is pending without waiting (also the final drain before detaching), at most
   * maxRecords: a consumer that hands each record on (the session's output) bounds what it holds
   * by stopping here, and the backlog waits in the ring, not in its heap.
   */
  consume(maxRecords = Infinity): number {
    if (this.closed) return 0;
    const cpos = this.consumerPos!;
    const ppos = this.producerPos!;
    const data = this.data;
    const mask = this.mask;
    let cons = Number(cpos[0]);
    let published = cons;
    let count = 0;
    try {
      for (;;) {
        const prod = Number(ppos[0]);
        if (cons >= prod) break;
        while (cons < prod) {
          const off = cons & mask;
          const len = read.u32(data as Pointer, off);
          if (len & RINGBUF_BUSY_BIT) {
            // Reserved but not yet submitted: everything after it waits for the next round.
            cpos[0] = BigInt(cons);
            return count;
          }
          const size = len & ~(RINGBUF_BUSY_BIT | RINGBUF_DISCARD_BIT);
          // Advanced before the handler runs: a sample whose handler throws is consumed, as in libbpf.
          cons += (size + RINGBUF_HDR_SZ + 7) & ~7;
          if ((len & RINGBUF_DISCARD_BIT) === 0) {
            this.handler((data + off + RINGBUF_HDR_SZ) as Pointer, size);
            if (++count >= maxRecords) return count;
          }
          if (cons - published >= PUBLISH_BYTES) {
            cpos[0] = BigInt(cons);
            published = cons;
          }
        }
      }
    } finally {
      cpos[0] = BigInt(cons);
    }
    return count;
  }

  /** Unmap and close; safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.consumerPos = this.producerPos = undefined;
    if (this.epfd >= 0) libc.close(this.epfd);
    this.epfd = -1;
    if (this.producerArea) libc.munmap(this.producerArea as Pointer, BigInt(this.pageSize + 2 * (this.mask + 1)));
    if (this.consumerPage) libc.munmap(this.consumerPage as Pointer, BigInt(this.pageSize));
    this.producerArea = this.consumerPage = this.data = 0;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
