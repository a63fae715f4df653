import type { Pointer } from "bun:ffi";
import { lib } from "./ffi";
import { linkInfo, type LinkInfo } from "./info";

/**
 * A bpf_link owned by a file descriptor and never pinned: if the process dies (even by SIGKILL)
 * the kernel closes the fd and detaches the program.
 */
export class BpfLink {
  private handle: Pointer | null;
  readonly info: LinkInfo;

  private constructor(handle: Pointer, readonly program: string, readonly target: string) {
    this.handle = handle;
    this.info = linkInfo(lib().bpf_link__fd(handle), target);
  }

  static adopt(handle: Pointer, program: string, target: string): BpfLink {
    return new BpfLink(handle, program, target);
  }

  get isOpen(): boolean {
    return this.handle !== null;
  }

  close(): void {
    if (!this.handle) return;
    const h = this.handle;
    this.handle = null;
    lib().bpf_link__destroy(h);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
