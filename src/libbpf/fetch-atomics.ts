// Programs for kernels without fetching atomics (BPF_ATOMIC | BPF_FETCH, xchg, cmpxchg, and the
// and/or/xor forms: all 5.12+). Such a kernel refuses the encoding wherever it appears, reachable or
// not ("BPF_STX uses reserved fields": 5.10's resolve_pseudo_ldimm64 checks every instruction). The
// shared BPF header keeps every such instruction behind `if (fetch_atomics)`, a const volatile in
// .rodata; set to false, the verifier never reaches them, and each is replaced by the call libbpf
// itself writes over a failed CO-RE relocation (`call 0xbad2310`): refused if it is ever reached,
// so a fetching instruction outside that guard fails the load loudly instead of running wrong.
import type { BpfObject } from "./object";
import { Rodata } from "./rodata";

const BPF_STX = 0x03;
const BPF_ATOMIC = 0xc0;
const BPF_CALL_CODE = 0x85; // BPF_JMP | BPF_CALL
const POISON_IMM = 0xbad2310;

/** Whether an 8-byte instruction is an atomic other than the plain add (BPF_XADD) old kernels know. */
export function isFetchingAtomic(insn: Uint8Array, at: number): boolean {
  const code = insn[at]!;
  if ((code & 0x07) !== BPF_STX || (code & 0xe0) !== BPF_ATOMIC) return false;
  const imm = new DataView(insn.buffer, insn.byteOffset + at + 4, 4).getInt32(0, true);
  return imm !== 0;
}

/** Poison every fetching atomic in `insns` (a copy is returned) and count them. */
export function poisonFetchingAtomics(insns: Uint8Array): { insns: Uint8Array; poisoned: number } {
  const out = insns.slice();
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let poisoned = 0;
  for (let at = 0; at + 8 <= out.length; at += 8) {
    if (!isFetchingAtomic(out, at)) continue;
    out[at] = BPF_CALL_CODE;
    out[at + 1] = 0; // dst and src registers
    dv.setInt16(at + 2, 0, true);
    dv.setInt32(at + 4, POISON_IMM, true);
    poisoned++;
  }
  return { insns: out, poisoned };
}

/**
 * Before load: steer the object's programs off fetching atomics. Sets `fetch_atomics` to false
 * and poisons those instructions in every program that will load. Returns how many were poisoned;
 * an object without the switch is left as it is (its programs load or are refused as they are).
 */
export function withoutFetchAtomics(obj: BpfObject): number {
  const rodata = new Rodata(obj);
  if (!rodata.has("fetch_atomics")) return 0;
  rodata.set("fetch_atomics", false);
  let total = 0;
  for (const p of obj.programs()) {
    if (!p.autoload) continue;
    const { insns, poisoned } = poisonFetchingAtomics(p.instructions());
    if (poisoned) p.replaceInstructions(insns);
    total += poisoned;
  }
  return total;
}
