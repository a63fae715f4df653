# -*- coding: utf-8 -*-
# Filters of the ebpfctl.fleet collection for the kill switch's recorded desired state: the state
# file on the controller (written by kill_switch.yml), which recorded switches apply to a host,
# the one shell command that enforces them (raw module: no Python on the host), and how a run's
# receipts change the record (a pending host that confirms is no longer pending).
#
# The state file: {"version": 1, "switches": [entry, ...]}, one entry per switch key ("" for the
# host-wide switch, else the recipe's name):
#   {key, recipe, persistent, reason, by, at, target, select, hosts: [...], pending: [...],
#    confirmed: {host: {how, at, audit_seq, audit_head, sessions_ended}}, history: [...]}
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import getpass
import json
import os
import shlex

from ansible_collections.ebpfctl.fleet.plugins.module_utils.records import records

DOCUMENTATION = r"""
name: kill_state
short_description: The ebpfctl fleet kill switch's recorded desired state
description:
  - C(kill_state_entries), C(kill_state_skip), C(kill_state_script), C(kill_state_confirms),
    C(kill_state_reconcile), C(kill_state_apply), C(kill_state_pending), C(kill_state_line).
"""

ALL = "*"


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def _who():
    try:
        return os.environ.get("SUDO_USER") or getpass.getuser()
    except Exception:  # noqa: BLE001 (no passwd entry: still record something)
        return "unknown"


def _state(state):
    """A normalised copy of the recorded state ({} or garbage: nothing recorded)."""
    if not isinstance(state, dict):
        state = {}
    out = {"version": 1, "switches": []}
    for e in state.get("switches") or []:
        if not isinstance(e, dict):
            continue
        e = copy.deepcopy(e)
        e["key"] = e.get("key") or e.get("recipe") or ""
        e["recipe"] = e.get("recipe") or None
        e.setdefault("hosts", [])
        e.setdefault("pending", [])
        e.setdefault("confirmed", {})
        e.setdefault("history", [])
        out["switches"].append(e)
    return out


def _key(recipe):
    return recipe or ""


def kill_state_skip(state_on, recipe):
    """
    The recorded switches a kill_switch.yml run replaces on the hosts it targets (so they are not
    enforced first): on → the same key; off --recipe R → R; off → every switch.
    """
    on = str(state_on) in ("on", "True", "true", "yes")
    if on:
        return [_key(recipe)]
    return [recipe] if recipe else [ALL]


def kill_state_entries(state, host, skip=None):
    """The recorded switches that apply to `host`, minus the keys in `skip` ('*': all)."""
    skip = list(skip or [])
    if ALL in skip:
        return []
    return [{"key": e["key"], "recipe": e["recipe"], "persistent": bool(e.get("persistent", True)),
             "reason": e.get("reason") or "fleet kill switch", "by": e.get("by"), "at": e.get("at")}
            for e in _state(state)["switches"] if host in e["hosts"] and e["key"] not in skip]


def kill_state_script(entries, install_path, config_dir="/etc/ebpfctl", run_dir="/run/ebpfctl", wait=5, then=None):
    """
    One shell command that brings the host to the recorded state: for each switch, when its file
    is already there (a host-wide persistent switch covers every recipe) print an in-force line,
    else engage it with ebpfctl (which prints its receipt). Exit non-zero if ebpfctl failed.
    With `then` (kill_switch.yml's own command): that runs after, in the same ssh round trip, and
    alone when nothing recorded applies (no shell wrapper at all).
    """
    q = shlex.quote
    if not entries and then:
        return then
    parts = ["rc=0"]
    for e in entries or []:
        files = [config_dir + "/kill-switch"]
        if e.get("recipe"):
            files.append(config_dir + "/kill-switch@" + e["recipe"])
        if not e.get("persistent", True):
            files.append(run_dir + "/kill-switch")
            if e.get("recipe"):
                files.append(run_dir + "/kill-switch@" + e["recipe"])
        test = " || ".join("[ -e %s ]" % q(f) for f in files)
        marker = json.dumps({"kind": "kill_switch_in_force", "key": e["key"], "recipe": e.get("recipe")}, sort_keys=True)
        reason = "%s (recorded by %s at %s; enforced at first contact)" % (e.get("reason") or "fleet kill switch", e.get("by") or "?", e.get("at") or "?")
        cmd = [q(install_path), "kill-switch", "on", "-o", "json", "--wait", str(int(wait))]
        if e.get("persistent", True):
            cmd.append("--persistent")
        if e.get("recipe"):
            cmd += ["--recipe", q(e["recipe"])]
        cmd += ["--reason", q(reason)]
        parts.append("if %s; then printf '%%s\\n' %s; else %s || rc=1; fi" % (test, q(marker), " ".join(cmd)))
    if then:
        parts.append("%s || rc=1" % then)
    parts.append("exit $rc")
    return "; ".join(parts)


def _confirmations(lines):
    """key → {how, receipt} from the enforcement's output (receipts and in-force lines)."""
    out = {}
    for rec in records(lines):
        if rec.get("kind") == "kill_switch_in_force":
            out[rec.get("key") or ""] = {"how": "in_force", "receipt": None}
        elif rec.get("kind") == "kill_switch_receipt" and rec.get("on"):
            ks = rec.get("kill_switch") or {}
            out[_key(ks.get("recipe"))] = {"how": "engaged", "receipt": rec}
    return out


def kill_state_confirms(lines, entries):
    """Every entry has its confirmation in the output."""
    got = _confirmations(lines)
    return all(e["key"] in got for e in entries or [])


def _brief(how, rec, host):
    if rec is None:
        return {"host": host, "how": how, "at": _now()}
    audit = rec.get("audit") or {}
    ks = rec.get("kill_switch") or {}
    return {"host": host, "how": how, "at": ks.get("at"), "persistent": ks.get("persistent"), "recipe": ks.get("recipe"),
            "sessions_ended": [s.get("id") for s in rec.get("sessions") or [] if s.get("ended")],
            "audit_seq": audit.get("seq"), "audit_head": audit.get("hash"), "audit_record_seq": audit.get("record_seq")}


def kill_state_reconcile(state, hostvars, hosts, register, skip=None):
    """
    Fold the enforcement results of `hosts` (registered as `register`) into the record:
    returns {state, changed, engaged: [receipt], in_force: [receipt], missing: [{host, key, why}]}.
    A confirmed host leaves its switch's pending list; an unreachable or failed one stays.
    """
    st = _state(state)
    out = {"engaged": [], "in_force": [], "missing": [], "changed": False}
    for h in hosts or []:
        wanted = kill_state_entries(st, h, skip)
        if not wanted:
            continue
        try:
            res = hostvars[h].get(register)
        except (KeyError, TypeError, AttributeError):
            res = None
        if not isinstance(res, dict) or res.get("skipped"):
            # Not reached by this run (not in the play, or it ended before): still as recorded.
            continue
        if res.get("unreachable") or res.get("rc") not in (0, None):
            why = ("unreachable: %s" % res.get("msg", "")).strip() if res.get("unreachable") else "rc %s" % res.get("rc")
            out["missing"].extend({"host": h, "key": w["key"], "why": why} for w in wanted)
            continue
        got = _confirmations(res.get("stdout_lines") or res.get("stdout") or [])
        for w in wanted:
            c = got.get(w["key"])
            if c is None:
                out["missing"].append({"host": h, "key": w["key"], "why": "no confirmation in the output"})
                continue
            brief = dict(_brief(c["how"], c["receipt"], h), key=w["key"])
            out["engaged" if c["how"] == "engaged" else "in_force"].append(brief)
            for e in st["switches"]:
                if e["key"] != w["key"]:
                    continue
                if h in e["pending"]:
                    e["pending"] = [x for x in e["pending"] if x != h]
                    out["changed"] = True
                if c["how"] == "engaged" or h not in e["confirmed"]:
                    e["confirmed"][h] = {k: v for k, v in brief.items() if k not in ("host", "key")}
                    out["changed"] = True
    out["state"] = st
    return out


def kill_state_apply(state, summary, params):
    """
    The record after a kill_switch.yml run. params: {state, recipe, persistent, reason, target,
    select_fact, select_value}. `summary` is receipts_summary's: receipts, missing, skipped.
    on: the switch's hosts gain the targeted ones, the confirmed leave pending, the missing join
    it. off: the targeted hosts leave the switch (every switch without a recipe); a switch with
    no host left is dropped. An empty record is an empty switch list (the playbook removes the file).
    """
    st = _state(state)
    on = str(params.get("state")) in ("on", "True", "true", "yes")
    recipe = params.get("recipe") or None
    receipted = [r["host"] for r in summary.get("receipts") or []]
    missing = [m["host"] for m in summary.get("missing") or []]
    targeted = receipted + [h for h in missing if h not in receipted]
    when = _now()
    if on:
        key = _key(recipe)
        entry = next((e for e in st["switches"] if e["key"] == key), None)
        if entry is None:
            entry = {"key": key, "recipe": recipe, "hosts": [], "pending": [], "confirmed": {}, "history": []}
            st["switches"].append(entry)
        entry.update({"persistent": bool(params.get("persistent", True)), "reason": params.get("reason"), "by": _who(), "at": when,
                      "target": params.get("target"),
                      "select": {"fact": params.get("select_fact"), "value": params.get("select_value")} if params.get("select_fact") else None})
        entry["hosts"] = entry["hosts"] + [h for h in targeted if h not in entry["hosts"]]
        entry["pending"] = [h for h in entry["pending"] if h not in receipted] + [h for h in missing if h not in entry["pending"]]
        for r in summary.get("receipts") or []:
            entry["confirmed"][r["host"]] = {"how": "engaged", "at": r.get("at"), "persistent": r.get("persistent"), "recipe": r.get("recipe"),
                                             "sessions_ended": r.get("sessions_ended"), "audit_seq": r.get("audit_seq"), "audit_head": r.get("audit_head"),
                                             "audit_record_seq": r.get("audit_record_seq")}
        entry["history"] = (entry["history"] + [{"state": "on", "by": entry["by"], "at": when, "target": entry["target"], "hosts": targeted, "pending": missing}])[-20:]
    else:
        for e in st["switches"]:
            if recipe and e["key"] != recipe:
                continue
            e["hosts"] = [h for h in e["hosts"] if h not in targeted]
            e["pending"] = [h for h in e["pending"] if h not in targeted]
            for h in targeted:
                e["confirmed"].pop(h, None)
            e["history"] = (e["history"] + [{"state": "off", "by": _who(), "at": when, "target": params.get("target"), "hosts": targeted, "unconfirmed": missing}])[-20:]
        st["switches"] = [e for e in st["switches"] if e["hosts"]]
    return st


def kill_state_from_rollback(kill_switch):
    """A failed rollout's kill-switch confirmations (rollback_receipts) as kill_state_apply's summary."""
    out = {"receipts": [], "missing": []}
    for r in kill_switch or []:
        if r.get("ok"):
            out["receipts"].append({"host": r.get("host"), "at": None, "audit_seq": r.get("seq"), "audit_head": r.get("hash"),
                                    "sessions_ended": r.get("sessions_ended")})
        else:
            out["missing"].append({"host": r.get("host"), "why": r.get("error")})
    return out


def kill_state_pending(state):
    """Every host some recorded switch is still waiting for (sorted, once each)."""
    hosts = []
    for e in _state(state)["switches"]:
        hosts.extend(h for h in e["pending"] if h not in hosts)
    return hosts


def kill_state_line(result):
    """One line for the operator from kill_state_reconcile's result."""
    parts = []
    if result.get("engaged"):
        parts.append("engaged on %s" % ", ".join("%s (%s, audit %s:%s)" % (r["host"], r["key"] or "host-wide", r.get("audit_seq"), (r.get("audit_head") or "")[:12]) for r in result["engaged"]))
    if result.get("in_force"):
        parts.append("already in force on %s" % ", ".join(sorted(set(r["host"] for r in result["in_force"]))))
    if result.get("missing"):
        parts.append("STILL PENDING: %s" % ", ".join("%s (%s)" % (m["host"], m["why"]) for m in result["missing"]))
    st = _state(result.get("state") or {})
    if not st["switches"]:
        parts.append("no switch recorded (the record is removed)")
    else:
        pending = kill_state_pending(st)
        parts.append("%s recorded; pending now: %s" % (", ".join(e["key"] or "host-wide" for e in st["switches"]), ", ".join(pending) if pending else "none"))
    return "recorded kill switch: " + "; ".join(parts)


class FilterModule(object):
    def filters(self):
        return {
            "kill_state_skip": kill_state_skip,
            "kill_state_entries": kill_state_entries,
            "kill_state_script": kill_state_script,
            "kill_state_confirms": kill_state_confirms,
            "kill_state_reconcile": kill_state_reconcile,
            "kill_state_apply": kill_state_apply,
            "kill_state_pending": kill_state_pending,
            "kill_state_from_rollback": kill_state_from_rollback,
            "kill_state_line": kill_state_line,
        }
