# -*- coding: utf-8 -*-
# Reading what ebpfctl prints: the JSON objects among its output lines. Shared by the collection's
# filter plugins (plugins/filter/ebpfctl.py, plugins/filter/kill_state.py).
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json


def lines(value):
    """A text, a list of lines, or nested lists of either, as one flat list of lines."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            out.extend(lines(v))
        return out
    return str(value).splitlines()


def records(value):
    """Every JSON object found in the text or list of lines (anything else is skipped)."""
    out = []
    for line in lines(value):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out
