"""Bindings the user gave that the run never read.

A binding gin never reads (a misspelt parameter of a configurable that exists, a setting of a
component the run does not use) changes nothing and says nothing. Each command lists, when it ends,
the parameters bound in the user's own gin files and `--gin.X=V` flags that are not in gin's
operative configuration (the parameters actually used). A configurable that a read parameter
refers to (`OptimizerConfig.kernel = @additive_matern52`) counts as read: it is called later, when
the object it makes is needed. The shipped configs are left out: a preset binds settings that only
some commands read.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Sequence

import gin

_BINDING = re.compile(r"^\s*([A-Za-z_][\w./]*\.\w+)\s*=", re.MULTILINE)
_REFERENCE = re.compile(r"@([A-Za-z_][\w./]*)")


def user_parameters(files: Sequence[str], bindings: Sequence[str], config_root: str) -> list[str]:
    """'[scope/]Configurable.parameter' of each binding in `files` outside `config_root` and in `bindings`."""
    root = os.path.abspath(config_root) + os.sep
    names: list[str] = []
    for path in files:
        if not os.path.abspath(path).startswith(root) and os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                names += _BINDING.findall(f.read())
    names += [m.group(1) for m in map(_BINDING.match, bindings) if m]
    return list(dict.fromkeys(names))


def unread(parameters: Sequence[str], forwarded: Sequence[str] = ()) -> list[str]:
    """Those of `parameters` that gin's operative configuration does not hold (never read so far),
    less those whose configurable it refers to and those in `forwarded` (parameters the command
    passes on to processes that read them, e.g. an experiment's trials)."""
    text = gin.operative_config_str()
    operative = set(_BINDING.findall(text))
    referenced = {_short(name) for name in _REFERENCE.findall(text)}
    return [
        p
        for p in parameters
        if p not in operative and p not in forwarded and _short(p.rpartition(".")[0]) not in referenced
    ]


def _short(configurable: str) -> str:
    """'scope/module.Name' -> 'Name'."""
    return configurable.rpartition("/")[2].rpartition(".")[2]


def warn_unread(prog: str, parameters: Sequence[str]) -> list[str]:
    """Prints one line naming the user's bindings the run never read; returns them."""
    never = unread(parameters)
    if never:
        print(f"{prog}: warning: these gin bindings were never read by this run: {', '.join(never)}", file=sys.stderr)
    return never
