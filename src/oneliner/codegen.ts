// Codegen: the analysed one-liner written as the table bpf/generic_tp.bpf.c reads from .rodata
// (gtp_cfg[GTP_MAX_PROBES], one entry per tracepoint, indexed by the attach cookie), and by
// bpf/generic_pe.bpf.c (profile:hz:N, entry 0 only). Data only:
// the program that interprets it is fixed and signed.
import type { Analysed, BoolOp, Operand } from "./analyse";
import { ACTION, BOOL, CMP, GTP, OPERAND, PRED, PROBE } from "./layout";

function writeOperand(dv: DataView, at: number, o: Operand | undefined, cookie: number): void {
  if (!o) return;
  dv.setUint8(at + OPERAND.src, o.src);
  dv.setUint16(at + OPERAND.is_str, o.str ? 1 : 0, true);
  const r = o.reads?.[cookie];
  if (r) {
    dv.setUint8(at + OPERAND.read, r.read);
    dv.setUint8(at + OPERAND.fsize, Math.min(r.size, 255));
    dv.setUint8(at + OPERAND.is_signed, r.signed ? 1 : 0);
    dv.setUint16(at + OPERAND.offset, r.offset, true);
  }
}

/** The predicate tree in postfix: 1..N push predicate N-1; AND, OR, NOT combine. */
export function postfix(b: BoolOp | undefined): number[] {
  if (!b) return [];
  switch (b.kind) {
    case "pred":
      return [b.index + 1];
    case "not":
      return [...postfix(b.arg), BOOL.NOT];
    default:
      return [...postfix(b.left), ...postfix(b.right), b.kind === "and" ? BOOL.AND : BOOL.OR];
  }
}

/** gtp_cfg as bytes: GTP_MAX_PROBES entries (unused ones disabled, all zero), or the single entry of generic_up/usdt/pe. */
export function generateTable(a: Analysed): Uint8Array {
  const bytes = new Uint8Array((a.target || a.profile ? 1 : GTP.MAX_PROBES) * PROBE.size);
  const dv = new DataView(bytes.buffer);
  const ops = postfix(a.bool);
  probeNames(a).forEach((_, cookie) => {
    const base = cookie * PROBE.size;
    dv.setUint32(base + PROBE.enabled, 1, true);
    dv.setUint32(base + PROBE.npreds, a.predicates.length, true);
    ops.forEach((op, i) => dv.setUint8(base + PROBE.ops + i, op));
    a.predicates.forEach((p, i) => {
      const at = base + PROBE.preds + i * PRED.size;
      writeOperand(dv, at + PRED.lhs, p.lhs, cookie);
      dv.setUint32(at + PRED.op, CMP[p.op], true);
      dv.setBigInt64(at + PRED.value, p.value, true);
      if (p.str !== undefined) bytes.set(new TextEncoder().encode(p.str), at + PRED.str);
    });
    const act = a.action;
    if (act.kind === "printf") {
      dv.setUint32(base + PROBE.action, ACTION.event, true);
      dv.setUint32(base + PROBE.nargs, act.args.length, true);
      act.args.forEach((o, i) => writeOperand(dv, base + PROBE.args + i * OPERAND.size, o, cookie));
    } else {
      dv.setUint32(base + PROBE.action, ACTION[act.fn], true);
      dv.setUint32(base + PROBE.nkeys, act.keys.length, true);
      act.keys.forEach((o, i) => writeOperand(dv, base + PROBE.keys + i * OPERAND.size, o, cookie));
      writeOperand(dv, base + PROBE.value, act.value, cookie);
      if (act.lhist) {
        dv.setBigInt64(base + PROBE.lhist_min, act.lhist.min, true);
        dv.setBigInt64(base + PROBE.lhist_max, act.lhist.max, true);
        dv.setBigInt64(base + PROBE.lhist_step, act.lhist.step, true);
      }
    }
  });
  return bytes;
}

/** What each table entry serves, by index: the tracepoints (by cookie), or the one user or profile probe. */
export function probeNames(a: Analysed): string[] {
  if (a.target) return [a.target.text];
  return a.profile ? [`profile:hz:${a.profile.hz}`] : a.tracepoints.map((tp) => `tracepoint:${tp.category}:${tp.event}`);
}

/** The table in words, for the audit log: what was asked of the kernel, per tracepoint. */
export function describeTables(a: Analysed): Record<string, unknown> {
  const op = (o: Operand | undefined, cookie: number) => (o ? { what: o.label, ...(o.reads ? { read: o.reads[cookie] } : {}) } : undefined);
  return {
    postfix: postfix(a.bool),
    ...(a.exitAfterSeconds !== undefined ? { exit_after_s: a.exitAfterSeconds } : {}),
    probes: probeNames(a).map((probe, cookie) => ({
      ...(a.target ? { cookie, [a.target.kind]: a.target.text.slice(a.target.kind.length + 1) } : a.profile ? { index: cookie, probe } : { cookie, tracepoint: probe.replace(/^tracepoint:/, "") }),
      predicates: a.predicates.map((p) => ({ lhs: op(p.lhs, cookie), op: p.op, ...(p.str !== undefined ? { str: p.str } : { value: p.value.toString() }) })),
      ...(a.action.kind === "printf"
        ? { action: "event", format: a.action.format, args: a.action.args.map((o) => op(o, cookie)) }
        : { action: a.action.fn, map: a.action.name, keys: a.action.keys.map((o) => op(o, cookie)), value: op(a.action.value, cookie), ...(a.action.lhist ? { lhist: Object.fromEntries(Object.entries(a.action.lhist).map(([k, v]) => [k, v.toString()])) } : {}) }),
    })),
  };
}
