// USDT probes of an ELF file: the SystemTap SDT notes in .note.stapsdt (owner "stapsdt", type 3),
// each naming a provider, a probe and its argument specs. ebpfctl reads them to refuse a one-liner
// on a probe the binary lacks before anything loads; libbpf reads them again to attach.
import { ElfError, ElfFile } from "./elf-symbols";
import { closeSync, constants, openSync, readSync } from "node:fs";

const NT_STAPSDT = 3;

export interface UsdtNote {
  provider: string;
  name: string;
  /** the argument specs as written by <sys/sdt.h>, e.g. "-4@%eax 8@%rdx" */
  args: string;
}

export function usdtNotes(elf: ElfFile): UsdtNote[] {
  const out: UsdtNote[] = [];
  const data = elf.data;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const decoder = new TextDecoder();
  const align4 = (n: number) => (n + 3) & ~3;
  for (const s of elf.sections.filter((x) => x.name === ".note.stapsdt")) {
    const end = Math.min(data.length, s.offset + s.size);
    for (let at = s.offset; at + 12 <= end; ) {
      const namesz = dv.getUint32(at, true);
      const descsz = dv.getUint32(at + 4, true);
      const type = dv.getUint32(at + 8, true);
      const owner = decoder.decode(data.subarray(at + 12, at + 12 + Math.max(0, namesz - 1)));
      const desc = at + 12 + align4(namesz);
      if (desc + descsz > end) throw new ElfError(`${elf.path}: .note.stapsdt note at ${at} out of bounds`);
      // desc: pc, base, semaphore (3 × u64), then provider\0 name\0 args\0
      if (type === NT_STAPSDT && owner === "stapsdt" && descsz > 24) {
        const [provider = "", name = "", args = ""] = decoder.decode(data.subarray(desc + 24, desc + descsz)).split("\0");
        out.push({ provider, name, args });
      }
      at = desc + align4(descsz);
    }
  }
  return out;
}

/**
 * The provider of the USDT probe `name` in the file (the given one, or the only provider with a
 * probe of that name). Throws ElfError naming the probes the file has when it has no such probe.
 */
export function usdtProvider(path: string, provider: string | undefined, name: string): string {
  const notes = usdtNotes(ElfFile.read(path));
  const hits = notes.filter((n) => n.name === name && (provider === undefined || n.provider === provider));
  const providers = [...new Set(hits.map((n) => n.provider))];
  if (providers.length === 1) return providers[0]!;
  if (providers.length > 1) throw new ElfError(`${path}: USDT probe "${name}" is in providers ${providers.join(", ")}: name one (usdt:${path}:PROVIDER:${name})`);
  const have = [...new Set(notes.map((n) => `${n.provider}:${n.name}`))];
  throw new ElfError(`${path}: no USDT probe ${provider !== undefined ? `${provider}:` : ""}${name} in .note.stapsdt (${have.length ? `it has ${have.slice(0, 8).join(", ")}${have.length > 8 ? ", …" : ""}` : "it has none"})`);
}

/** ELF type ET_DYN (a PIE executable or a shared library): libbpf then attaches USDT probes per file offset, which needs the attach cookie without a pid. */
export function isPositionIndependent(path: string): boolean {
  const head = Buffer.alloc(18);
  let fd = -1;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    if (readSync(fd, head, 0, 18, 0) !== 18 || head.readUInt32BE(0) !== 0x7f454c46) return false;
    return head.readUInt16LE(16) === 3; // e_type: ET_DYN
  } catch {
    return false;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}
