import { Command, Option } from "clipanion";
import Table from "cli-table3";
import { EbpfctlCommand, outputOption } from "./base";
import { Tracefs, parseTracepointName } from "../tracepoint/tracefs";
import { checkAgainstBtf, loadKernelBtf } from "../tracepoint/btf-check";
import { usageError } from "../errors";

export class ProbesCommand extends EbpfctlCommand {
  static paths = [["probes"]];
  static usage = Command.Usage({
    description: "List tracepoints, or with -v one tracepoint's fields (type, size, offset, signedness)",
    details: `
      Reads tracefs (/sys/kernel/tracing, else /sys/kernel/debug/tracing). With -v each field is
      cross-checked against the kernel's BTF trace_event_raw_<event> struct where there is one.
      Exit codes: 0 listed, 2 a bad name or no such tracepoint, 9 no tracefs, 5 tracefs and BTF disagree.
    `,
    examples: [
      ["Scheduler tracepoints", "ebpfctl probes 'sched:*'"],
      ["Fields of one tracepoint", "ebpfctl probes -v syscalls:sys_exit_read"],
    ],
  });
  pattern = Option.String({ required: false, name: "pattern" });
  verbose = Option.Boolean("-v,--verbose", false, { description: "Show each tracepoint's fields" });
  output = outputOption();

  async run(): Promise<number> {
    const tracefs = Tracefs.open();
    const pattern = this.pattern ?? "*:*";
    const list = tracefs.list(pattern.startsWith("tracepoint:") ? pattern.slice(11) : pattern);
    if (!list.length) {
      if (!pattern.includes("*")) {
        const id = parseTracepointName(pattern);
        tracefs.format(id); // says "no tracepoint …"
      }
      throw usageError(`no tracepoint matches "${pattern}"`, "ebpfctl probes lists every tracepoint");
    }
    if (list.length > 1 && this.verbose && list.length > 64) throw usageError(`-v with ${list.length} tracepoints: narrow the pattern`);
    const json = this.output === "json";
    const btf = this.verbose ? loadKernelBtf() : null;
    for (const id of list) {
      const name = `tracepoint:${id.category}:${id.event}`;
      if (!this.verbose) {
        this.context.stdout.write(json ? JSON.stringify({ probe: name }) + "\n" : name + "\n");
        continue;
      }
      const fmt = tracefs.format(id);
      const check = checkAgainstBtf(`${id.category}:${id.event}`, fmt, btf);
      const fields = fmt.fields.filter((f) => !f.common);
      if (json) {
        this.context.stdout.write(JSON.stringify({ probe: name, id: fmt.id, btf: check.status, fields: fields.map((f) => ({ name: f.name, type: f.type, offset: f.offset, size: f.size, signed: f.signed, kind: f.kind })) }) + "\n");
        continue;
      }
      const t = new Table({ head: ["FIELD", "TYPE", "OFFSET", "SIZE", "SIGNED", "READ AS"], style: { head: [], border: [] } });
      for (const f of fields) t.push([f.name, f.type, f.offset, f.size, f.signed ? "yes" : "no", f.kind]);
      this.context.stdout.write(`${name} (id ${fmt.id}; ${check.status === "btf" ? `BTF trace_event_raw_${fmt.name} agrees on ${check.checked} fields` : "no BTF struct to cross-check"})\n${t.toString()}\n`);
    }
    return 0;
  }
}
