"""Matching a state dict against a built model: what goes where, and every problem found.

Nothing is assigned unless the whole match is clean: a model loaded partly from a file and
partly from its random init would look like the published network and not be it. Variables a
user deliberately keeps at their initial values (`keep_init`: e.g. a new activation's
parameters, or a head for other classes) are listed in the report, as are the file's tensors
they leave unused.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Dict, List, Sequence, Tuple

import numpy as np
import tf_keras

from official_ext import head_init
from tools.porting import checks
from tools.porting import rules as rules_lib

HEAD_NAMES = {'kernel': 'head/kernel', 'bias': 'head/bias'}


class MappingError(ValueError):
    """The state dict does not fit the model; the message lists every problem and the fix."""


@dataclasses.dataclass
class Report:
    """What an import did or would do. `problems()` is empty when the import is clean."""
    assigned: List[Tuple[str, str]] = dataclasses.field(default_factory=list)
    kept_init: List[str] = dataclasses.field(default_factory=list)
    skipped_keys: List[str] = dataclasses.field(default_factory=list)
    ignored_keys: List[str] = dataclasses.field(default_factory=list)
    unmapped: List[str] = dataclasses.field(default_factory=list)
    missing: List[Tuple[str, str]] = dataclasses.field(default_factory=list)
    misshaped: List[Tuple[str, str, tuple, tuple]] = dataclasses.field(default_factory=list)
    unused: List[str] = dataclasses.field(default_factory=list)
    conventions: List[str] = dataclasses.field(default_factory=list)

    def problems(self) -> List[str]:
        """One line per problem, grouped, each group with the fix."""
        out = []
        if self.unmapped:
            out.append(f'{len(self.unmapped)} variable(s) of our model that no rule maps (the '
                       'config has something the weights\' network lacks, e.g. a trainable '
                       'activation; pass --keep_init=REGEX to keep them at their initial '
                       'values):')
            out += [f'  {n}' for n in self.unmapped]
        if self.missing:
            out.append(f'{len(self.missing)} variable(s) whose tensor is not in the weights '
                       'file (another network or family; check --experiment/--config_file):')
            out += [f'  {n} <- {k}' for n, k in self.missing]
        if self.misshaped:
            out.append(f'{len(self.misshaped)} mis-shaped tensor(s) (our shape <- the '
                       'file\'s shape as stored; set dims/depths/num_classes/window sizes as '
                       'in the weights\' network):')
            out += [f'  {n} {list(a)} <- {k} {list(b)}' for n, k, a, b in self.misshaped]
        if self.unused:
            out.append(f'{len(self.unused)} tensor(s) of the weights file that nothing uses '
                       '(the weights\' network is larger or different; check depths and the '
                       'activation settings):')
            out += [f'  {k}' for k in self.unused]
        if self.conventions:
            out.append('buffers with another convention than ours:')
            out += [f'  {c}' for c in self.conventions]
        return out

    def summary(self) -> str:
        lines = [f'assigned {len(self.assigned)} variables from the weights file']
        if self.kept_init:
            lines.append(f'kept at their initial values (--keep_init): {len(self.kept_init)}')
            lines += [f'  {n}' for n in self.kept_init]
        if self.skipped_keys:
            lines.append(f'file tensors not loaded because of --keep_init: '
                         f'{len(self.skipped_keys)}')
            lines += [f'  {k}' for k in self.skipped_keys]
        if self.ignored_keys:
            lines.append(f'index/counter buffers not needed: {len(self.ignored_keys)}')
        return '\n'.join(lines)


def named_variables(model: tf_keras.Model) -> Dict[str, object]:
    """{name: variable} of the backbone, plus the classifier as head/kernel, head/bias."""
    out = {v.name.split(':')[0]: v for v in model.backbone.weights}
    dense = head_init.classifier(model)
    if dense is not None:
        out[HEAD_NAMES['kernel']] = dense.kernel
        out[HEAD_NAMES['bias']] = dense.bias
    return out


def match(model: tf_keras.Model, family: str, state: Dict[str, np.ndarray],
          keep_init: Sequence[str] = ()) -> Tuple[List[Tuple[object, np.ndarray]], Report]:
    """Pairs every variable of `model` with its tensor from `state`.

    Returns:
      (assignments [(variable, array)], report); the assignments are only meaningful when
      `report.problems()` is empty.

    Raises:
      MappingError: for a family without rules.
    """
    rules = rules_lib.rules_for(family, state)
    if rules is None:
        raise MappingError(f'no import rules for backbone type {family!r}; known: '
                           f'{sorted(rules_lib.RULES)} (add them in tools/porting/rules.py).')
    report = Report(conventions=checks.run(state))
    used, assignments = set(), []
    for name, var in named_variables(model).items():
        found = rules_lib.source_key(rules, name)
        kept = any(re.search(p, name) for p in keep_init)
        if kept:
            report.kept_init.append(name)
            if found and found[0] in state:
                used.add(found[0])
                report.skipped_keys.append(found[0])
            continue
        if found is None:
            report.unmapped.append(name)
            continue
        key, rule = found
        if key not in state:
            report.missing.append((name, key))
            continue
        used.add(key)
        value = np.asarray(rule.transform(np.asarray(state[key])), dtype=np.float32)
        if tuple(value.shape) != tuple(var.shape):
            report.misshaped.append((name, key, tuple(var.shape), tuple(state[key].shape)))
            continue
        assignments.append((var, value))
        report.assigned.append((name, key))
    for key in state:
        if key in used:
            continue
        if any(re.fullmatch(p, key) for p in rules_lib.IGNORED):
            report.ignored_keys.append(key)
        else:
            report.unused.append(key)
    return assignments, report


def load(model: tf_keras.Model, family: str, state: Dict[str, np.ndarray],
         keep_init: Sequence[str] = ()) -> Report:
    """Assigns the whole state dict to `model`, or nothing.

    Raises:
      MappingError: listing every unmapped, missing, mis-shaped and unused tensor.
    """
    assignments, report = match(model, family, state, keep_init)
    problems = report.problems()
    if problems:
        raise MappingError('the weights do not fit the configured model; nothing was '
                           'loaded:\n' + '\n'.join(problems))
    for var, value in assignments:
        var.assign(value)
    return report
