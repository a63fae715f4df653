// libbpf's ring_buffer consumer. The sample callback is a JSCallback that must outlive the C
// ring buffer, so it is closed after ring_buffer__free. It never throws into C.
import { JSCallback, FFIType, type Pointer } from "bun:ffi";
import { lib } from "./ffi";
import { checkPtr, EINTR, LibbpfError } from "./error";

/** Receives a pointer to one sample, valid only during the call: copy what you need out of it. */
export type SampleHandler = (data: Pointer, size: number) => void;

export class RingBufferReader {
  private rb: Pointer | null;
  private callback: JSCallback | null;
  private handlerError: unknown;

  constructor(mapFd: number, mapName: string, handler: SampleHandler) {
    this.callback = new JSCallback(
      (_ctx: Pointer, data: Pointer, size: number) => {
        try {
          handler(data, size);
          return 0;
        } catch (e) {
          this.handlerError ??= e;
          return -1; // stops this consume round; the error is rethrown from poll()
        }
      },
      { args: [FFIType.ptr, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    );
    const rb = lib().ring_buffer__new(mapFd, this.callback.ptr!, null, null);
    if (!rb) {
      this.callback.close();
      this.callback = null;
    }
    this.rb = checkPtr(rb, "ring_buffer__new", mapName) as Pointer;
  }

  /**
   * Wait up to timeoutMs for data and consume every pending sample. Returns the number consumed;
   * a signal interrupting the wait returns 0 so the caller can act on it.
   */
  poll(timeoutMs: number): number {
    if (!this.rb) return 0;
    const n = lib().ring_buffer__poll(this.rb, timeoutMs);
    this.rethrow();
    if (n === -EINTR) return 0;
    if (n < 0 && n !== -1) throw new LibbpfError("ring_buffer__poll", -n, "ring buffer");
    // Producers skip the wakeup until enough is pending (BPF_RB_NO_WAKEUP), and libbpf's poll
    // only consumes rings that epoll reported: the timer path must consume what is there.
    return Math.max(n, 0) + this.consume();
  }

  /** Consume what is pending without waiting (used for the final drain before detaching). */
  consume(): number {
    if (!this.rb) return 0;
    const n = lib().ring_buffer__consume(this.rb);
    this.rethrow();
    return Math.max(n, 0);
  }

  private rethrow(): void {
    if (this.handlerError !== undefined) {
      const e = this.handlerError;
      this.handlerError = undefined;
      throw e;
    }
  }

  close(): void {
    if (this.rb) {
      lib().ring_buffer__free(this.rb);
      this.rb = null;
    }
    if (this.callback) {
      this.callback.close();
      this.callback = null;
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
