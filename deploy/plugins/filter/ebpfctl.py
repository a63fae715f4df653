# -*- coding: utf-8 -*-
# Filters of the ebpfctl.fleet collection: they read what ebpfctl prints (JSON lines, receipts)
# and turn a batch's results into gate decisions and reports. They run on the controller only.
#
# ebpfctl's records are read by `kind` with a few tolerated spellings, and fields by name with
# snake_case first and camelCase second, so a change of envelope (a "kind"/"recipe"/"session"
# envelope, snake_case everywhere) keeps working: a record the gate cannot find fails the gate,
# never passes it.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import os

from ansible_collections.ebpfctl.fleet.plugins.module_utils.records import records

DOCUMENTATION = r"""
name: ebpfctl
short_description: Read ebpfctl JSON output; gate, plan and report a fleet rollout
description:
  - C(records), C(end_record), C(receipt), C(plan_stages), C(gate), C(rollout_markdown),
    C(receipts_summary), C(blast_radius), C(blast_radius_markdown), C(merge_capture), C(dig).
"""

END_KINDS = ("end", "session_end", "summary", "trace_end")


def _get(d, *names, **kw):
    default = kw.get("default")
    for n in names:
        if isinstance(d, dict) and n in d and d[n] is not None:
            return d[n]
    return default


def end_record(value):
    """The last end record ({kind: end, exit_code, accounting, ...}) in a trace's output, or None."""
    found = None
    for rec in records(value):
        kind = _get(rec, "kind", "type", "event")
        if kind in END_KINDS and ("exit_code" in rec or "exitCode" in rec or "accounting" in rec):
            found = rec
    return found


def receipt(value):
    """The last kill-switch receipt (ebpfctl kill-switch on|off -o json) in the output, or None."""
    found = None
    for rec in records(value):
        if _get(rec, "kind") == "kill_switch_receipt" or ("kill_switch" in rec and "sessions" in rec) or ("removed" in rec and "audit" in rec):
            found = rec
    return found


def rollback_receipt(item):
    """One host's confirmation from a looped, delegated kill-switch task result."""
    host = item.get("item") if isinstance(item, dict) else None
    if not isinstance(item, dict):
        return {"host": host, "ok": False, "error": "no result"}
    if item.get("unreachable"):
        return {"host": host, "ok": False, "error": "unreachable: %s" % item.get("msg", "")}
    rec = receipt(item.get("stdout_lines") or item.get("stdout") or [])
    if rec is None or item.get("rc") != 0:
        return {"host": host, "ok": False, "error": "rc %s, no receipt" % item.get("rc")}
    audit = rec.get("audit") or {}
    return {"host": host, "ok": True, "seq": audit.get("seq"), "hash": audit.get("hash"),
            "sessions_ended": [x.get("id") for x in rec.get("sessions") or [] if x.get("ended")]}


def rollback_receipts(results, unreachable):
    """Confirmations from the rollback loop, plus the hosts it could not reach (never attempted)."""
    out = [rollback_receipt(r) for r in (results or [])]
    out.extend({"host": h, "ok": False, "error": "unreachable during the stage: kill switch not confirmed"} for h in unreachable or [])
    return out


def dig(obj, path, default=None):
    """obj['a']['b'] for path 'a.b' (hostvars-friendly), or default."""
    cur = obj
    for part in str(path).split("."):
        try:
            cur = cur[part]
        except (KeyError, TypeError, IndexError):
            return default
    return cur


def plan_stages(hosts, groups, stages):
    """
    Batches from stage specs, in inventory order, each host in exactly one batch:
      {name, hosts: N}      the next N hosts
      {name, group: G}      the not-yet-rolled hosts of group G
      {name, percent: P}    the next ceil(P% of all) hosts (at least 1); 100 takes the rest
    Returns [{name, number, hosts: [...]}], empty stages left out.
    """
    hosts = list(hosts)
    left = list(hosts)
    out = []
    for spec in stages:
        name = spec.get("name", "stage")
        if "group" in spec:
            members = set(groups.get(spec["group"], []))
            pick = [h for h in left if h in members]
        elif "percent" in spec:
            pct = float(spec["percent"])
            pick = list(left) if pct >= 100 else left[: max(1, int(math.ceil(len(hosts) * pct / 100.0)))]
        else:
            pick = left[: int(spec.get("hosts", 1))]
        left = [h for h in left if h not in pick]
        if pick:
            out.append({"name": name, "hosts": pick})
    if left:
        out.append({"name": "rest", "hosts": left})
    for i, s in enumerate(out):
        s["number"] = i + 1
    return out


def _host_gate(host, result, present, thresholds):
    """One host's gate decision from its registered trace result."""
    reasons = []
    summary = {"host": host}
    if not present:
        reasons.append("not in the play any more (unreachable or failed before its record)")
    if result is None or not isinstance(result, dict):
        reasons.append("no result: the trace never ran here")
        return {"host": host, "passed": False, "reasons": reasons, "record": None}
    if result.get("unreachable"):
        reasons.append("unreachable: %s" % (result.get("msg") or "ssh failed").strip())
    rec = end_record(result.get("stderr_lines") or result.get("stderr") or []) or end_record(result.get("stdout_lines") or [])
    rc = result.get("rc")
    summary["rc"] = rc
    if rec is None:
        reasons.append("no end record (crashed, killed or never started; rc %s)" % rc)
        return {"host": host, "passed": False, "reasons": reasons, "record": None, "rc": rc}
    acct = _get(rec, "accounting", default={}) or {}
    exit_code = _get(rec, "exit_code", "exitCode", default=rc)
    produced = float(_get(acct, "produced", default=0) or 0)
    drops = float(_get(acct, "dropped_rate", "droppedRate", default=0) or 0) + float(_get(acct, "dropped_ringbuf", "droppedRingbuf", default=0) or 0)
    ratio = drops / produced if produced > 0 else 0.0
    cpu = float(_get(acct, "cpu_percent", "cpuPercent", default=0) or 0)
    memory = int(_get(acct, "peak_map_memory", "peakMapMemory", default=0) or 0)
    rss = int(_get(acct, "peak_rss", "peakRss", default=0) or 0)
    verdict = _get(acct, "verdict", default=_get(rec, "verdict", default="unknown"))
    breach = _get(rec, "breach")
    summary = {
        "host": host,
        "session": _get(rec, "session", "session_id"),
        "recipe": _get(rec, "recipe"),
        "rc": rc,
        "exit_code": exit_code,
        "reason": _get(rec, "reason"),
        "verdict": verdict,
        "events": _get(acct, "delivered", default=0),
        "produced": int(produced),
        "drop_ratio": round(ratio, 6),
        "cpu_percent": cpu,
        "map_memory": memory,
        "rss": rss,
        "duration_ms": _get(acct, "duration_ms", "durationMs"),
    }
    if breach:
        summary["breach"] = breach
    allowed = [int(x) for x in thresholds.get("exit_codes", [0])]
    if rc is not None and int(rc) not in allowed:
        reasons.append("exit code %s (allowed: %s)%s" % (rc, allowed, ("; breach: %s" % json.dumps(breach, sort_keys=True)) if breach else ""))
    elif exit_code is not None and int(exit_code) not in allowed:
        reasons.append("end record exit_code %s (allowed: %s)" % (exit_code, allowed))
    verdicts = thresholds.get("verdicts", ["complete", "sampled"])
    if verdict not in verdicts:
        reasons.append("verdict %s (allowed: %s)" % (verdict, ", ".join(verdicts)))
    if ratio > float(thresholds.get("max_drop_ratio", 0.01)):
        reasons.append("drop ratio %.4f over %s" % (ratio, thresholds.get("max_drop_ratio")))
    if cpu > float(thresholds.get("max_cpu_percent", 5)):
        reasons.append("cpu %.3f%% over %s%%" % (cpu, thresholds.get("max_cpu_percent")))
    if memory > float(thresholds.get("max_map_memory", 256 * 1024 * 1024)):
        reasons.append("map memory %d over %s" % (memory, thresholds.get("max_map_memory")))
    if rss > float(thresholds.get("max_rss", 1024 * 1024 * 1024)):
        reasons.append("rss %d over %s" % (rss, thresholds.get("max_rss")))
    return {"host": host, "passed": not reasons, "reasons": reasons, "record": summary}


def gate(hostvars, batch, present, register, thresholds, stage=None):
    """
    The batch gate: every host of `batch` (ansible_play_hosts_all) must still be in the play
    (`present`: ansible_play_hosts) and have an end record within thresholds.
    """
    present = set(present or [])
    hosts = []
    for h in batch:
        try:
            result = hostvars[h].get(register) if hasattr(hostvars[h], "get") else hostvars[h][register]
        except (KeyError, TypeError):
            result = None
        hosts.append(_host_gate(h, result, h in present, thresholds or {}))
    for x, h in zip(hosts, batch):
        x["unreachable"] = any(r.startswith("unreachable") or r.startswith("not in the play") for r in x["reasons"])
    out = {"passed": all(x["passed"] for x in hosts) and len(hosts) == len(list(batch)), "hosts": hosts}
    if stage is not None:
        out["stage"] = stage
    return out


def workload_line(report):
    """What the rollout ran: the recipe, or the one-liner (and the recipe it runs as)."""
    if report.get("oneliner"):
        return "one-liner `%s` (%s)" % (report["oneliner"], report.get("recipe", "?"))
    return str(report.get("recipe", "?"))


def rollout_markdown(report):
    """The rollout report as Markdown: one section per stage, one row per host."""
    lines = ["# ebpfctl rollout: %s" % workload_line(report), ""]
    lines.append("Result: **%s**%s" % ("passed" if report.get("passed") else "FAILED", (" at stage %s" % report.get("failed_stage")) if report.get("failed_stage") else ""))
    lines.append("")
    for st in report.get("stages", []):
        g = st.get("gate", {})
        lines.append("## Stage %s: %s (%s, %s s)" % (st.get("number"), st.get("name"), "passed" if g.get("passed") else "FAILED", st.get("wall_s", "?")))
        lines.append("")
        lines.append("| host | exit | verdict | events | drop ratio | cpu % | map memory | gate |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for h in g.get("hosts", []):
            r = h.get("record") or {}
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                h["host"], r.get("exit_code", r.get("rc", "-")), r.get("verdict", "-"), r.get("events", "-"), r.get("drop_ratio", "-"),
                r.get("cpu_percent", "-"), r.get("map_memory", "-"), "ok" if h["passed"] else "; ".join(h["reasons"])))
        lines.append("")
    if report.get("kill_switch"):
        lines.append("## Kill switch engaged after the failed gate")
        lines.append("")
        for r in report["kill_switch"]:
            lines.append("- %s: %s" % (r.get("host"), "engaged (audit seq %s)" % r.get("seq") if r.get("ok") else "NOT CONFIRMED: %s" % r.get("error")))
        lines.append("")
    return "\n".join(lines) + "\n"


def receipts_summary(hostvars, hosts, register, selected_register=None):
    """Receipts from every host, and the hosts that gave none (unreachable or failed)."""
    out = {"receipts": [], "missing": [], "skipped": []}
    for h in hosts:
        try:
            res = hostvars[h].get(register)
        except (KeyError, TypeError, AttributeError):
            res = None
        if isinstance(res, dict) and res.get("skipped"):
            out["skipped"].append(h)
            continue
        rec = receipt(res.get("stdout_lines") or res.get("stdout") or []) if isinstance(res, dict) else None
        if rec is None or not isinstance(res, dict) or res.get("unreachable") or res.get("rc") not in (0, None):
            why = "no result" if not isinstance(res, dict) else ("unreachable: %s" % res.get("msg", "")) if res.get("unreachable") else "rc %s, no receipt" % res.get("rc")
            out["missing"].append({"host": h, "why": why.strip()})
            continue
        audit = rec.get("audit") or {}
        sessions = rec.get("sessions") or []
        ks = rec.get("kill_switch") or {}
        out["receipts"].append({
            "host": h,
            "reported_host": rec.get("host"),
            "on": rec.get("on"),
            "recipe": ks.get("recipe") if rec.get("on") else None,
            "persistent": ks.get("persistent"),
            "at": ks.get("at"),
            "sessions_ended": [s.get("id") for s in sessions if s.get("ended")],
            "sessions_running": [s.get("id") for s in sessions if not s.get("ended")],
            "removed": [r.get("file") for r in rec.get("removed") or []],
            "audit_seq": audit.get("seq"),
            "audit_head": audit.get("hash"),
            "audit_record_seq": audit.get("record_seq"),
        })
    out["ok"] = not out["missing"]
    return out


def _local(hv):
    return dig(hv, "ansible_local.ebpfctl") or {}


def blast_radius(hostvars, hosts, rollout=None):
    """
    Per host class (kernel release + masked features + class label): which recipes run full,
    reduced or disabled, on which variant, what each loses, and the rollout's results there.
    """
    classes = {}
    by_host = {}
    for st in (rollout or {}).get("stages", []):
        for h in st.get("gate", {}).get("hosts", []):
            by_host[h["host"]] = h
    missing = []
    for h in hosts:
        f = _local(hostvars[h])
        if not f or f.get("error"):
            missing.append(h)
            continue
        kernel = f.get("kernel") or {}
        masked = sorted(f.get("masked_features") or [])
        label = f.get("host_class") or dig(hostvars[h], "ebpfctl_host_class") or "default"
        key = "%s %s%s" % (kernel.get("release", "unknown"), label, (" (masked: %s)" % ",".join(masked)) if masked else "")
        c = classes.setdefault(key, {"class": key, "kernel": kernel.get("release", "unknown"), "host_class": label, "masked": masked,
                                     "btf": f.get("btf"), "lockdown": f.get("lockdown"), "hosts": [], "recipes": {}, "rollout": {"passed": 0, "failed": 0, "not_run": 0}})
        c["hosts"].append(h)
        for r in f.get("recipes") or []:
            c["recipes"].setdefault(r.get("recipe"), {"profile": r.get("profile"), "variants": r.get("variants"), "loses": r.get("loses"), "reasons": r.get("reasons")})
        g = by_host.get(h)
        c["rollout"]["not_run" if g is None else ("passed" if g["passed"] else "failed")] += 1
    return {"classes": sorted(classes.values(), key=lambda c: c["class"]), "rollout_recipe": (rollout or {}).get("recipe"), "missing": missing}


def blast_radius_markdown(br):
    lines = ["# ebpfctl blast radius per kernel and host class", ""]
    if br.get("rollout_recipe"):
        lines.append("Rollout results are for recipe `%s`." % br["rollout_recipe"])
        lines.append("")
    for c in br.get("classes", []):
        ro = c["rollout"]
        lines.append("## %s" % c["class"])
        lines.append("")
        lines.append("Hosts: %s. BTF: %s, lockdown: %s. Rollout: %d passed, %d failed, %d not run." % (
            ", ".join(c["hosts"]), c.get("btf"), c.get("lockdown"), ro["passed"], ro["failed"], ro["not_run"]))
        lines.append("")
        lines.append("| recipe | profile | variants | loses |")
        lines.append("|---|---|---|---|")
        for name in sorted(c["recipes"]):
            r = c["recipes"][name]
            variants = ", ".join("%s=%s" % (k, v) for k, v in sorted((r.get("variants") or {}).items()))
            loses = "; ".join(x for x in (r.get("loses") or []) if x) or "-"
            lines.append("| %s | %s | %s | %s |" % (name, r.get("profile"), variants, loses.replace("|", "/")))
        lines.append("")
    return "\n".join(lines) + "\n"


def merge_capture(capture_dir, hosts):
    """Every host's events (capture_dir/HOST/events.jsonl), each labelled with its host, sorted by time."""
    merged = []
    for h in hosts:
        path = os.path.join(capture_dir, h, "events.jsonl")
        try:
            with open(path) as fh:
                recs = records(fh.read())
        except (IOError, OSError):
            continue
        for i, r in enumerate(recs):
            merged.append(dict(r, fleet_host=h, fleet_seq=i))
    merged.sort(key=lambda r: (str(r.get("ts", r.get("time", ""))), r["fleet_host"], r["fleet_seq"]))
    return merged


def capture_summary(hv):
    """One host's capture: its end record and audit excerpt (from capture.yml's registered results)."""
    run = dig(hv, "ebpfctl_capture_run") or {}
    audit = dig(hv, "ebpfctl_capture_audit") or {}
    return {"host": dig(hv, "inventory_hostname"), "rc": run.get("rc"), "unreachable": bool(run.get("unreachable")),
            "end": end_record(run.get("stderr_lines") or []), "audit": records(audit.get("stdout_lines") or [])}


def receipts_line(summary):
    """One line for the operator: who confirmed (sessions ended, audit head) and who did not."""
    parts = ["%s (ended %d, audit %s:%s)" % (r["host"], len(r["sessions_ended"]), r["audit_seq"], (r["audit_head"] or "")[:12]) for r in summary["receipts"]]
    line = "%d receipt(s): %s" % (len(summary["receipts"]), ", ".join(parts))
    if summary["missing"]:
        line += "; NO RECEIPT: " + ", ".join("%s (%s)" % (m["host"], m["why"]) for m in summary["missing"])
    return line


def plan_line(plan):
    return "; ".join("stage %s %s: %s" % (s["number"], s["name"], ",".join(s["hosts"])) for s in plan)


def stages_line(report):
    return "; ".join("stage %s %s (%d hosts) %s s" % (s["number"], s["name"], len(s["hosts"]), s.get("wall_s")) for s in report.get("stages", []))


def captures_missing(summaries):
    """Hosts of a capture without an end record."""
    return [s.get("host") for s in summaries if not s.get("end")]


def to_json_lines(items):
    return "".join(json.dumps(i, sort_keys=True) + "\n" for i in items)


class FilterModule(object):
    def filters(self):
        return {
            "records": records,
            "end_record": end_record,
            "receipt": receipt,
            "rollback_receipt": rollback_receipt,
            "rollback_receipts": rollback_receipts,
            "dig": dig,
            "plan_stages": plan_stages,
            "gate": gate,
            "rollout_markdown": rollout_markdown,
            "receipts_summary": receipts_summary,
            "blast_radius": blast_radius,
            "blast_radius_markdown": blast_radius_markdown,
            "merge_capture": merge_capture,
            "to_json_lines": to_json_lines,
            "capture_summary": capture_summary,
            "captures_missing": captures_missing,
            "receipts_line": receipts_line,
            "plan_line": plan_line,
            "stages_line": stages_line,
            "workload_line": workload_line,
        }
