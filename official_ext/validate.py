"""Config checks that fail before anything is built, each with a one-line message and its fix.

Why this module: Model Garden (tf-models-official 2.20) accepts these mistakes silently and fails
much later with a traceback that names neither the config path nor the fix:

- An unknown one-of `type` (`activation.type: tpgux` in YAML or in `--params_override`) is stored
  as any string is: `override` only rejects unknown KEYS. The error comes from
  `OneOfConfig.as_dict()` (`params.validate()`, `train_utils.serialize_config` writing
  params.yaml) or `OneOfConfig.get()` (backbone / optimizer builders): "type: 'tpgux' is not a
  valid key!", 20 frames deep. `validate` reads the tree through `__dict__` only (never
  `as_dict()` / `get()` on an unchecked one-of), so it can run first and say which path is wrong
  and which names are valid.
- A `null` type where the consumer needs one (backbone, activation, optimizer, learning rate)
  fails at build time ("Optimizer type must be specified", an AttributeError in `stage_specs`).
- TPGU `order` / `orders` are not type-checked at all (a YAML 2.5 was built as order 2 by an
  `int()` in `stage_specs`), and a wrong `orders` length surfaced only when the model was built.
- `--params_override` goes through `hyperparams.override_params_dict`, which tries key=value
  pairs, then YAML, then a file name: a typo shows up as a raw yaml ParserError, as TensorFlow's
  NotFoundError (the text was taken for a file name), or as a KeyError without its path.

Intended use in run.py (`parse_params`):

    class _Parser(train_utils.ExperimentParser):
        def parse_params_override(self, params):
            return validate.override(params, self._flags_obj.params_override)

    params = _Parser(flags_obj).parse()
    validate.validate(params)          # before the strategy, the model and params.validate()

and `except validate.ConfigValidationError as e: raise ConfigError(str(e)) from e`.
"""
from __future__ import annotations

import copy
import difflib
import functools
import math
import numbers
import re
import types
import typing
from typing import Any, Dict, List, Mapping, Optional, Tuple

import tensorflow as tf
import yaml

from official.modeling import hyperparams
from official.modeling.hyperparams import params_dict
from official.modeling.optimization.configs import optimization_config
from official.vision.configs import backbones as mg_backbones

from official_ext.configs import activations
from official_ext.configs import backbones

_RESERVED = frozenset(params_dict.ParamsDict.RESERVED_ATTR)

# One-ofs whose consumers cannot handle "nothing selected": the backbone factory, `stage_specs`
# and Model Garden's OptimizerFactory ("Optimizer/Learning rate type must be specified").
# Every other one-of (warmup, aug_type, decoder, ...) treats `type: null` as "none".
_TYPE_REQUIRED = (activations.Activation, mg_backbones.Backbone,
                  optimization_config.OptimizerConfig, optimization_config.LrConfig)

# Each form below was applied to a real experiment config through
# `hyperparams.override_params_dict` (and is again in tests/test_validate.py). Several sections
# on one line need the outer braces: `task: {...}, trainer: {...}` is a YAML ParserError.
PAIRS_EXAMPLE = "--params_override='task.train_data.global_batch_size=64,trainer.train_steps=100'"
YAML_EXAMPLE = ("--params_override='{task: {train_data: {global_batch_size: 64}}, "
                "trainer: {train_steps: 100}}'")
ACCEPTED_FORMS = (f'Accepted forms: {PAIRS_EXAMPLE} (dotted key=value pairs joined by commas), '
                  f'{YAML_EXAMPLE} (YAML or JSON; several sections on one line need the outer '
                  'braces), or the path of a YAML file')

# A space-separated `a=1 b=2` parses as the STRING '1 b=2' for `a` (Model Garden accepts it).
_JOINED_PAIR = re.compile(r'\s[A-Za-z][\w.]*\s*=')
_MAX_SHOWN = 120


class ConfigValidationError(ValueError):
    """A config mistake the user must fix; `str()` is one line naming the config path and fix."""

    def __init__(self, message: str) -> None:
        super().__init__(_one_line(message))


class _OverrideProblem(ValueError):
    """What is wrong with a --params_override, already phrased for the user (no path prefix)."""


def _one_line(text: Any) -> str:
    return ' '.join(str(text).split())


def _clip(text: str, limit: int = _MAX_SHOWN) -> str:
    text = _one_line(text)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _join(path: str, key: Any) -> str:
    return f'{path}.{key}' if path else str(key)


def _fields(node: params_dict.ParamsDict) -> List[Tuple[str, Any]]:
    """The config's own keys and values (Model Garden's bookkeeping attributes left out)."""
    return [(k, v) for k, v in node.__dict__.items() if k not in _RESERVED]


def _choices(one_of: hyperparams.OneOfConfig) -> List[str]:
    """The names a one-of's `type` may take: exactly the keys `OneOfConfig.get()` looks up."""
    return sorted(k for k, _ in _fields(one_of) if k != 'type')


def _did_you_mean(value: Any, names: List[str]) -> str:
    if _is_none_string(value):
        return f' ({value!r} is a string here; YAML writes "none" as null)'
    close = difflib.get_close_matches(str(value), names, n=1, cutoff=0.6)
    return f' (did you mean {close[0]!r}?)' if close else ''


def _is_none_string(value: Any) -> bool:
    """Python's None written in a YAML or key=value override arrives as the string 'None'."""
    return isinstance(value, str) and value.strip() in ('None', 'none', 'NONE')


def _kind(path: str) -> str:
    """`task.model.backbone` -> 'backbone': the word the messages use for a one-of."""
    return re.sub(r'\[\d+\]$', '', path.rsplit('.', 1)[-1]) or 'config'


# ------------------------------------------------------------------------------ validate
def validate(params: params_dict.ParamsDict) -> None:
    """Checks a parsed experiment config before anything reads or builds it.

    Walks every config reachable from `params` through the SELECTED branch of each one-of (the
    unselected branches are neither exported nor built, as in Model Garden). Checks, first
    failure raised:

    - every `hyperparams.OneOfConfig` (activation, backbone, learning_rate, optimizer, warmup,
      aug_type, decoder, ...): `type` is one of its fields, or null where the one-of allows
      "none" (not for activation, backbone, optimizer and learning_rate, whose consumers fail on
      null); the selected settings are not null; a one-of slot was not replaced by a plain value
      (`activation: tpgu` instead of `activation: {type: tpgu}`).
    - wherever an activation one-of selects `tpgu`: `order` and each entry of `orders` follow
      `activations.tpgu_order` (integers >= 0; bool, "3", 2.5 and -1 are refused; 3.0 is
      accepted because its conversion is exact, so the built order equals the recorded one),
      and a non-empty `orders` has one entry per stage of its backbone (`depths`, else the
      model_id's depths).

    Args:
      params: the parsed config (an ExperimentConfig or any `params_dict.ParamsDict`); it is only
        read.

    Raises:
      ConfigValidationError: one line naming the dotted config path, the bad value and the fix.
    """
    if not isinstance(params, params_dict.ParamsDict):
        raise TypeError(f'validate() needs a Model Garden config; got {type(params).__name__}.')
    _check_node(params, '', None)


def _check_node(node: params_dict.ParamsDict, path: str,
                parent: Optional[params_dict.ParamsDict]) -> None:
    if isinstance(node, hyperparams.OneOfConfig):
        chosen = _check_one_of(node, path)
        if chosen is None:
            return
        if isinstance(node, activations.Activation) and chosen == 'tpgu':
            _check_tpgu(node.__dict__['tpgu'], _join(path, 'tpgu'), parent)
        items = [(chosen, node.__dict__[chosen])]
    else:
        _check_one_of_slots(node, path)
        items = _fields(node)
    for key, value in items:
        _check_value(value, _join(path, key), node)


def _check_value(value: Any, path: str, parent: params_dict.ParamsDict) -> None:
    if isinstance(value, params_dict.ParamsDict):
        _check_node(value, path, parent)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if isinstance(item, params_dict.ParamsDict):
                _check_node(item, f'{path}[{i}]', parent)


def _check_one_of(node: hyperparams.OneOfConfig, path: str) -> Optional[str]:
    """Returns the selected name (None: nothing selected, allowed here) or raises."""
    names = _choices(node)
    chosen = node.__dict__.get('type')
    where, kind = _join(path, 'type'), _kind(path)
    if chosen is None:
        if isinstance(node, _TYPE_REQUIRED):
            raise ConfigValidationError(
                f'{where} is null, but the {kind} must be chosen: set {where} to one of: '
                f'{", ".join(names)}.')
        return None
    if not isinstance(chosen, str) or chosen not in names:
        raise ConfigValidationError(
            f'{where} = {chosen!r} is not a valid {kind}{_did_you_mean(chosen, names)}: set '
            f'{where} to one of: {", ".join(names)}.')
    if node.__dict__[chosen] is None:
        raise ConfigValidationError(
            f'{_join(path, chosen)} is null although {where} selects it: give its settings, or '
            f'{{}} for the defaults (e.g. {_join(path, chosen)}: {{}}).')
    return chosen


@functools.lru_cache(maxsize=None)
def _one_of_slots(cls: type) -> Tuple[Tuple[str, type, bool], ...]:
    """(field, one-of class, declared Optional) for each field of `cls` annotated as a one-of."""
    try:
        annotations = cls._get_annotations()  # pylint: disable=protected-access
    except Exception:  # pylint: disable=broad-except  (unresolvable hints: nothing to check)
        return ()
    slots = []
    for name, annotation in annotations.items():
        optional = False
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            optional = len(args) < len(typing.get_args(annotation))
            annotation = args[0] if len(args) == 1 else None
        if isinstance(annotation, type) and issubclass(annotation, hyperparams.OneOfConfig):
            slots.append((name, annotation, optional))
    return tuple(slots)


def _check_one_of_slots(node: params_dict.ParamsDict, path: str) -> None:
    """A one-of field holding a plain value, or null where its type is required, is refused.

    Model Garden stores `activation: tpgu` as the string 'tpgu' in place of the one-of, and the
    builder then fails with an AttributeError far from the YAML line. Null is refused only for
    fields not declared Optional whose consumers need a choice (`_TYPE_REQUIRED`).
    """
    if not isinstance(node, hyperparams.Config):
        return
    for name, cls, optional in _one_of_slots(type(node)):
        value = node.__dict__.get(name)
        here = _join(path, name)
        if value is None and not optional and issubclass(cls, _TYPE_REQUIRED):
            example = _choices(cls())[0]
            raise ConfigValidationError(
                f'{here} is null, but the {name} must be configured: give a mapping with a type, '
                f'e.g. {here}: {{type: {example}}}.')
        if value is not None and not isinstance(value, params_dict.ParamsDict):
            shown = value if isinstance(value, str) else 'NAME'
            raise ConfigValidationError(
                f'{here} = {value!r} must be a mapping with a type, e.g. {here}: '
                f'{{type: {shown}}} (in key=value form: {here}.type={shown}).')


# ------------------------------------------------------------------------------ TPGU
def _order_hint(value: Any) -> str:
    """The concrete fix for a rejected TPGU order."""
    if isinstance(value, bool):
        return f'{value!r} is a boolean, write a whole number such as 3'
    if isinstance(value, str):
        digits = value.strip()
        if re.fullmatch(r'\+?\d+', digits):
            return f'write {int(digits)} without quotes (a string is not an order)'
        return 'write a whole number such as 3'
    if isinstance(value, numbers.Real) and value < 0:
        return 'use 0 or more'
    if isinstance(value, float) and math.isfinite(value):
        return (f'use {math.floor(value)} or {math.ceil(value)} (a fraction would be truncated '
                'to the order below)')
    return 'write a whole number such as 3'


def _stage_depths(family_cfg: Any) -> Tuple[Optional[str], Optional[List[int]], str]:
    """(family, depths per stage, where the depths come from) of a backbone family config.

    Uses the models' own model_id tables, so the stage count is the one the builder will use.
    Unknown families or model_ids give (.., None, ..): the builder reports those itself.
    """
    from models import convnext, hornet, posmlp, resnet, swin  # pylint: disable=g-import-not-at-top
    from models import tiny_vit  # pylint: disable=g-import-not-at-top
    tables = ((backbones.ConvNeXt, 'convnext', convnext.MODEL_TABLE),
              (backbones.HorNet, 'hornet', hornet.MODEL_TABLE),
              (backbones.Swin, 'swin', swin.MODEL_TABLE),
              (backbones.ActResNet, 'act_resnet', resnet.MODEL_TABLE),
              (backbones.PosMLP, 'posmlp', posmlp.MODEL_TABLE),
              (backbones.TinyViT, 'tiny_vit', tiny_vit.MODEL_TABLE))
    for cls, family, table in tables:
        if not isinstance(family_cfg, cls):
            continue
        depths = family_cfg.__dict__.get('depths')
        if isinstance(depths, (list, tuple)) and depths:
            return family, list(depths), f'depths {list(depths)}'
        model_id = family_cfg.__dict__.get('model_id')
        entry = table.get(str(model_id))
        if entry is None:
            return family, None, ''
        found = list(entry[1] if isinstance(entry, tuple) else entry['depths'])
        return family, found, f'model_id {model_id!r}: depths {found}'
    return None, None, ''


def _check_tpgu(settings: Any, path: str, family_cfg: Any) -> None:
    """TPGU orders are whole numbers >= 0, one per stage when given per stage."""
    orders = settings.__dict__.get('orders')
    order = settings.__dict__.get('order')
    if orders is None:
        orders = []
    if not isinstance(orders, (list, tuple)):
        raise ConfigValidationError(
            f'{path}.orders = {orders!r} must be a list with one order per stage, e.g. '
            f'{path}.orders: [3, 3, 3, 3], or empty with {path}.order set.')
    for i, value in enumerate(orders):
        try:
            activations.tpgu_order(value)
        except ValueError:
            raise ConfigValidationError(
                f'{path}.orders[{i}] = {value!r} (stage {i + 1}): TPGU orders must be integers '
                f'>= 0; {_order_hint(value)}.') from None
    try:
        activations.tpgu_order(order)
    except ValueError:
        scope = 'every stage' if not orders else 'ignored while orders is set, still invalid'
        raise ConfigValidationError(
            f'{path}.order = {order!r} ({scope}): TPGU order must be an integer >= 0; '
            f'{_order_hint(order)}.') from None
    family, depths, source = _stage_depths(family_cfg)
    if orders and depths is not None and len(orders) != len(depths):
        example = [orders[0]] * len(depths)
        raise ConfigValidationError(
            f'{path}.orders has {len(orders)} entries {list(orders)} but the {family} backbone '
            f'has {len(depths)} stages ({source}): give one order per stage, e.g. orders: '
            f'{example}, or leave orders empty and set order.')


# ------------------------------------------------------------------------------ overrides
def override(params: params_dict.ParamsDict, text: Optional[str]) -> params_dict.ParamsDict:
    """Applies a `--params_override` string as Model Garden's ExperimentParser does (strict).

    The text goes through `hyperparams.override_params_dict(params, text, is_strict=True)`, so
    key=value pairs, YAML/JSON and YAML file paths behave exactly as in Model Garden. Before
    that, the parsed keys are checked against the config so that mistakes Model Garden accepts
    silently are refused: a mapping given for a plain value (`global_batch_size.x=1` turns the
    batch size into a Config), a plain value given for a section (`activation=tpgu` replaces the
    one-of by a string), unknown keys inside a section that is null at the moment (Model Garden
    adds those without complaint) and space-separated pairs (`a=1 b=2` sets `a` to '1 b=2').
    The override is tried on a copy first, so a failure leaves `params` unchanged.

    Args:
      params: the config to override in place (not locked).
      text: the flag's value; empty or None changes nothing.

    Returns:
      `params`, overridden.

    Raises:
      ConfigValidationError: with `parse_override_error`'s one-line message.
    """
    if not text:
        return params
    trial = copy.deepcopy(params)
    try:
        data, from_pairs = _parse_override(text)
        _check_override(trial, data, '', from_pairs)
        hyperparams.override_params_dict(trial, text, is_strict=True)
    except Exception as e:  # pylint: disable=broad-except  (each kind is described below)
        raise ConfigValidationError(parse_override_error(text, e)) from e
    hyperparams.override_params_dict(params, text, is_strict=True)
    return params


def parse_override_error(text: str, error: Exception, *,
                         params: Optional[params_dict.ParamsDict] = None) -> str:
    """One line saying why a `--params_override` could not be parsed or applied, and the forms.

    Args:
      text: the flag's value.
      error: what parsing or applying it raised: a yaml error, TensorFlow's NotFoundError (Model
        Garden's last resort reads the text as a file name), a KeyError for an unknown key, or
        any other exception (its first line is shown).
      params: optional config the override was applied to; with it, an unknown key is reported
        with its full dotted path and the closest valid key.

    Returns:
      `--params_override='TEXT': REASON. Accepted forms: ...` on one line.
    """
    reason = _override_reason(text, error, params)
    return _one_line(f"--params_override='{_clip(text)}': {reason}. {ACCEPTED_FORMS}.")


def _yaml_loader() -> type:
    # Model Garden's loader (yaml.FullLoader plus its float resolver): parse as it parses.
    return getattr(params_dict, '_LOADER', yaml.FullLoader)


def _pairs_to_yaml(text: str) -> Tuple[str, bool]:
    """Model Garden's first step: key=value pairs to a YAML flow mapping, when they parse."""
    try:
        return params_dict.nested_csv_str_to_json_str(text), True
    except ValueError:
        return text, False


def _parse_override(text: str) -> Tuple[Dict[str, Any], bool]:
    """The override as the nested dict Model Garden will apply, and whether it was pairs."""
    converted, from_pairs = _pairs_to_yaml(text)
    data = yaml.load(converted, Loader=_yaml_loader())
    if isinstance(data, dict):
        return data, from_pairs
    with tf.io.gfile.GFile(converted) as f:  # Model Garden's fallback: a YAML file path.
        data = yaml.load(f, Loader=_yaml_loader())
    if not isinstance(data, dict):
        raise _OverrideProblem(f'the file {text!r} holds no YAML mapping')
    return data, False


def _subconfig_template(node: params_dict.ParamsDict, key: str) -> Optional[Any]:
    """A default instance of the annotated config type of `node.key`, if it has a specific one."""
    if not isinstance(node, hyperparams.Config):
        return None
    try:
        cls = node._get_subconfig_type(key)  # pylint: disable=protected-access
        return cls() if cls is not hyperparams.Config else None
    except Exception:  # pylint: disable=broad-except  (no usable annotation: nothing to check)
        return None


def _check_override(node: params_dict.ParamsDict, data: Mapping[Any, Any], path: str,
                    from_pairs: bool) -> None:
    """Raises _OverrideProblem for the first key Model Garden would refuse or silently misuse.

    Keys are visited in Model Garden's order (sorted for `Config`), so the key reported is the
    one its strict override stops at.
    """
    keys = sorted(data, key=str) if isinstance(node, hyperparams.Config) else list(data)
    for key in keys:
        value, here = data[key], _join(path, key)
        if key in _RESERVED or key not in node.__dict__:
            raise _OverrideProblem(_unknown_key_reason(node, key, path, value))
        current = node.__dict__[key]
        if isinstance(value, dict):
            if isinstance(current, params_dict.ParamsDict):
                _check_override(current, value, here, from_pairs)
            elif current is None:
                template = _subconfig_template(node, key)
                if template is not None:
                    _check_override(template, value, here, from_pairs)
            else:
                raise _OverrideProblem(
                    f'{here} is a value ({current!r}), not a section with keys; set it with '
                    f'{here}=VALUE')
        elif isinstance(current, params_dict.ParamsDict) and value is not None:
            if _is_none_string(value):
                hint = f'; to switch it off write {here}=null (YAML null, not None)'
            elif isinstance(current, hyperparams.OneOfConfig) and isinstance(value, str):
                hint = f'; to choose one, set {here}.type={value}'
            else:
                hint = f'; set its keys, e.g. {here}.KEY=VALUE'

            raise _OverrideProblem(f'{here} is a section, not a value (got {value!r}){hint}')
        elif from_pairs and isinstance(value, str) and _JOINED_PAIR.search(value):
            raise _OverrideProblem(
                f'{here} would become the string {value!r}: separate key=value pairs with '
                'commas, not spaces')


def _unknown_key_reason(node: params_dict.ParamsDict, key: Any, path: str, value: Any) -> str:
    here = _join(path, key)
    valid = sorted(k for k, _ in _fields(node))
    if isinstance(node, hyperparams.OneOfConfig):
        names = [k for k in valid if k != 'type']
        return (f'unknown key {here}{_did_you_mean(key, names)}: {path or "this"} takes `type` '
                f'and the settings of one of: {", ".join(names)}')
    if isinstance(key, str) and '.' in key:
        return (f'unknown key {here!r}: in YAML form a dotted key is not split, so write '
                f'{here}={_flow(value)} (key=value form) or {_nested_example(here, value)}')
    close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
    if close:
        return f'unknown key {here} (did you mean {_join(path, close[0])}?)'
    return f'unknown key {here}; valid keys in {path or "the experiment"}: {", ".join(valid)}'


def _flow(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()


def _nested_example(dotted: str, value: Any) -> str:
    nested: Any = value
    for part in reversed(dotted.split('.')):
        nested = {part: nested}
    return _flow(nested)


def _override_reason(text: str, error: Exception,
                     params: Optional[params_dict.ParamsDict]) -> str:
    if isinstance(error, _OverrideProblem):
        return str(error)
    if isinstance(error, yaml.YAMLError):
        return _yaml_reason(text, error)
    if isinstance(error, KeyError):
        return _key_error_reason(text, error, params)
    if isinstance(error, (OSError, tf.errors.NotFoundError)):
        return _unreadable_reason(text)
    first = (str(error).strip().splitlines() or [''])[0]
    return f'{type(error).__name__}: {_clip(first, 200)}'


def _yaml_reason(text: str, error: yaml.YAMLError) -> str:
    """The parser's own short reason and where it stopped (not its multi-line report)."""
    problem = getattr(error, 'problem', None) or _clip(str(error), 150)
    context = getattr(error, 'context', None)
    mark = getattr(error, 'problem_mark', None)
    converted, from_pairs = _pairs_to_yaml(text)
    reason = f'not valid YAML: {problem}' + (f' ({context})' if context else '')
    if mark is not None:
        if from_pairs:
            reason += f' in {_clip(converted, 80)!r}, the YAML its key=value pairs make'
        elif getattr(mark, 'name', '') != '<unicode string>':
            reason += f' in {mark.name}, line {mark.line + 1}, column {mark.column + 1}'
        else:
            lines = text.splitlines() or ['']
            line = lines[min(mark.line, len(lines) - 1)]
            near = line[max(0, mark.column - 20):mark.column + 10]
            where = (f'line {mark.line + 1}, column {mark.column + 1}' if len(lines) > 1
                     else f'column {mark.column + 1}')
            reason += f' at {where} (near {near!r})'
    if (not from_pairs and '\n' not in text.strip() and not text.lstrip().startswith('{')
            and "','" in str(problem)):
        reason += ('; several sections on one line need outer braces: '
                   '{task: {...}, trainer: {...}}')
    return reason


def _key_error_reason(text: str, error: KeyError,
                      params: Optional[params_dict.ParamsDict]) -> str:
    """An unknown key with its dotted path (exact with `params`, else found in the text)."""
    try:
        data, from_pairs = _parse_override(text)
    except Exception:  # pylint: disable=broad-except  (fall back to the KeyError's own words)
        data, from_pairs = None, False
    if params is not None and data is not None:
        try:
            _check_override(copy.deepcopy(params), data, '', from_pairs)
        except _OverrideProblem as problem:
            return str(problem)
    message = error.args[0] if error.args else str(error)
    found = re.search(r"key [`'\"]%?(.+?)[`'\"] does not exist", str(message))
    if not found:
        return f'unknown key: {_clip(message, 200)}'
    key = found.group(1)
    paths = _paths_of_key(data, key, '') if isinstance(data, dict) else []
    if '.' in key:
        return (f'unknown key {key!r}: in YAML form a dotted key is not split; write '
                f'{key}=VALUE or nest it as {_nested_example(key, "VALUE")}')
    return f'unknown key {paths[0] if paths else key}'


def _paths_of_key(data: Mapping[Any, Any], key: str, path: str) -> List[str]:
    found = []
    for k, v in data.items():
        here = _join(path, k)
        if str(k) == key:
            found.append(here)
        if isinstance(v, dict):
            found.extend(_paths_of_key(v, key, here))
    return found


def _unreadable_reason(text: str) -> str:
    """Model Garden read the text as a file name because nothing else parsed."""
    try:
        params_dict.nested_csv_str_to_json_str(text)
        pairs = 'not key=value pairs'
    except ValueError as e:
        rest = str(e).split(': ', 1)[-1]
        pairs = f'not key=value pairs (they stop parsing at {_clip(rest, 60)!r})'
    brackets = ''
    if text.count('[') != text.count(']') or text.count('{') != text.count('}'):
        brackets = '; its brackets or braces are unbalanced'
    return f'it is {pairs}, not a YAML mapping and not an existing file{brackets}'
