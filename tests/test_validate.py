"""official_ext.validate: one-line config errors before anything is built (no model is built here).

Expectations come from outside the module under test: the activation registry
(`layers.names()`), the one-of dataclasses' declared fields, hand-written stage counts and
values, and Model Garden's own parser for what it accepts.
"""
import copy
import dataclasses
import os
import re

import numpy as np
import pytest

import layers
from layers import tpgu as tpgu_layer
from official.core import exp_factory
from official.modeling import hyperparams
from official.modeling.optimization.configs import optimization_config
from official.vision.configs import backbones as mg_backbones
from official_ext import registry_imports  # noqa: F401  (experiments, backbones)
from official_ext import validate as v
from official_ext.configs import activations as act_cfg
from tests import train_testlib as lib

ACT = 'task.model.backbone.convnext.activation'
TPGU = ACT + '.tpgu'
OUR_BACKBONES = {'convnext', 'hornet', 'swin', 'act_resnet', 'posmlp', 'act_vit', 'tiny_vit',
                 'cifar_resnet', 'cifar_wide_resnet', 'densenet', 'act_efficientnet',
                 'shufflenet_v2', 'tfnet'}
# Written out here (not imported) so that a change to the advertised forms is noticed.
PAIRS_FORM = "--params_override='task.train_data.global_batch_size=64,trainer.train_steps=100'"
YAML_FORM = ("--params_override='{task: {train_data: {global_batch_size: 64}}, "
             "trainer: {train_steps: 100}}'")


def convnext():
    return exp_factory.get_exp_config('convnext_imagenet')


def listed(message):
    """The comma-separated names after the last 'one of: ' up to the final period."""
    tail = message.rsplit('one of: ', 1)[1]
    return tail.rstrip('.').split(', ')


def error_of(cfg, text=None):
    """The ConfigValidationError raised by override(text) (if given) then validate()."""
    with pytest.raises(v.ConfigValidationError) as info:
        if text is not None:
            v.override(cfg, text)
        v.validate(cfg)
    message = str(info.value)
    assert '\n' not in message
    return message


def write_yaml(tmp_path, text, name='cfg.yaml'):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# ------------------------------------------------------------------------------ one-of types
def test_unknown_activation_via_override_names_path_and_every_activation():
    cfg = convnext()
    v.override(cfg, f'{ACT}.type=tpgux')  # Model Garden stores any string as the type.
    message = error_of(cfg)
    assert message.startswith(f"{ACT}.type = 'tpgux' is not a valid activation")
    assert "did you mean 'tpgu'" in message
    assert listed(message) == sorted(layers.names())


def test_model_garden_raised_later_with_neither_path_nor_names():
    """Where Model Garden fails without the check: at as_dict() (params.validate, params.yaml)."""
    cfg = convnext()
    v.override(cfg, f'{ACT}.type=tpgux')
    with pytest.raises(ValueError) as info:
        cfg.validate()
    assert str(info.value) == "type: 'tpgux' is not a valid key!"
    with pytest.raises(ValueError, match='not a valid key'):
        cfg.task.model.backbone.convnext.activation.get()


@pytest.mark.parametrize('family,experiment', [
    ('convnext', 'convnext_imagenet'), ('hornet', 'hornet_imagenet'), ('swin', 'swin_imagenet'),
    ('act_resnet', 'act_resnet_imagenet'), ('posmlp', 'posmlp_imagenet')])
def test_unknown_activation_via_yaml(tmp_path, family, experiment):
    path = write_yaml(tmp_path, (
        'task:\n  model:\n    backbone:\n'
        f'      type: {family}\n      {family}:\n        activation:\n          type: tpgux\n'))
    cfg = hyperparams.override_params_dict(exp_factory.get_exp_config(experiment), path,
                                           is_strict=True)
    message = error_of(cfg)
    assert message.startswith(f"task.model.backbone.{family}.activation.type = 'tpgux'")
    assert listed(message) == sorted(layers.names())


def test_unknown_backbone_lists_ours_and_model_gardens():
    message = error_of(convnext(), 'task.model.backbone.type=convnxt')
    assert message.startswith("task.model.backbone.type = 'convnxt' is not a valid backbone")
    names = listed(message)
    stock = {f.name for f in dataclasses.fields(mg_backbones.Backbone)} - {'type'}
    assert {'resnet', 'efficientnet', 'mobilenet', 'spinenet', 'vit'} <= stock
    assert names == sorted(stock | OUR_BACKBONES)


def test_unknown_learning_rate_type():
    message = error_of(convnext(), 'trainer.optimizer_config.learning_rate.type=cosin')
    assert message.startswith(
        "trainer.optimizer_config.learning_rate.type = 'cosin' is not a valid learning_rate")
    declared = {f.name for f in dataclasses.fields(optimization_config.LrConfig)} - {'type'}
    assert {'cosine', 'stepwise', 'constant'} <= declared
    assert listed(message) == sorted(declared)


def test_unknown_aug_type_in_yaml(tmp_path):
    path = write_yaml(tmp_path, 'task:\n  train_data:\n    aug_type:\n      type: randaugment\n')
    cfg = hyperparams.override_params_dict(convnext(), path, is_strict=True)
    message = error_of(cfg)
    assert message.startswith("task.train_data.aug_type.type = 'randaugment'")
    assert 'randaug' in listed(message) and 'autoaug' in listed(message)


@pytest.mark.parametrize('text,path', [
    ('task.model.backbone.type=null', 'task.model.backbone.type'),
    (f'{ACT}.type=null', f'{ACT}.type'),
    ('trainer.optimizer_config.optimizer.type=null', 'trainer.optimizer_config.optimizer.type'),
    ('task.model.backbone=null', 'task.model.backbone'),
    (f'{ACT}=null', ACT),
])
def test_null_type_refused_where_a_choice_is_needed(text, path):
    message = error_of(convnext(), text)
    assert message.startswith(f'{path} is null')


def test_null_type_allowed_where_it_means_none():
    cfg = convnext()
    v.override(cfg, 'trainer.optimizer_config.warmup.type=null,task.train_data.aug_type=null')
    v.validate(cfg)


def test_none_written_python_style_is_explained():
    message = error_of(convnext(), 'task.model.backbone.type=None')
    assert "'None' is a string here" in message and 'null' in message


def test_plain_value_in_place_of_the_activation_one_of(tmp_path):
    path = write_yaml(tmp_path, 'task: {model: {backbone: {convnext: {activation: tpgu}}}}\n')
    cfg = hyperparams.override_params_dict(convnext(), path, is_strict=True)  # MG accepts it.
    assert cfg.task.model.backbone.convnext.activation == 'tpgu'
    message = error_of(cfg)
    assert message.startswith(f"{ACT} = 'tpgu' must be a mapping with a type")
    assert f'{ACT}.type=tpgu' in message


def test_selected_settings_null():
    message = error_of(convnext(), '{task: {model: {backbone: {convnext: {activation: '
                                   '{type: tpgu, tpgu: null}}}}}}')
    assert message.startswith(f'{TPGU} is null although {ACT}.type selects it')


# ------------------------------------------------------------------------------ TPGU orders
BAD_ORDERS = [  # (YAML literal, Python value, fix the message suggests)
    ('2.5', 2.5, 'use 2 or 3'),
    ("'3'", '3', 'write 3 without quotes'),
    ('-1', -1, 'use 0 or more'),
    ('true', True, 'True is a boolean'),
]


@pytest.mark.parametrize('index', [0, 2])
@pytest.mark.parametrize('literal,value,fix', BAD_ORDERS)
def test_bad_entry_in_orders_names_stage(tmp_path, literal, value, fix, index):
    orders = ['3', '3', '3', '3']
    orders[index] = literal
    path = write_yaml(tmp_path, (
        'task:\n  model:\n    backbone:\n      type: convnext\n      convnext:\n'
        f'        activation: {{type: tpgu, tpgu: {{orders: [{", ".join(orders)}]}}}}\n'))
    cfg = hyperparams.override_params_dict(convnext(), path, is_strict=True)
    message = error_of(cfg)
    assert message.startswith(
        f'{TPGU}.orders[{index}] = {value!r} (stage {index + 1}): TPGU orders must be integers '
        '>= 0')
    assert fix in message


@pytest.mark.parametrize('literal,value,fix', BAD_ORDERS + [('2.7', 2.7, 'use 2 or 3')])
def test_bad_single_order_via_override(literal, value, fix):
    message = error_of(convnext(), f'{ACT}.type=tpgu,{TPGU}.order={literal}')
    assert message.startswith(f'{TPGU}.order = {value!r} (every stage): TPGU order must be '
                              'an integer >= 0')
    assert fix in message


def test_bad_order_reported_even_while_orders_is_set():
    message = error_of(convnext(), f'{ACT}.type=tpgu,{TPGU}.order=2.5,{TPGU}.orders=[3,3,3,3]')
    assert message.startswith(f'{TPGU}.order = 2.5 (ignored while orders is set')


def test_orders_that_is_not_a_list():
    message = error_of(convnext(), f'{ACT}.type=tpgu,{TPGU}.orders=3')
    assert message.startswith(f'{TPGU}.orders = 3 must be a list with one order per stage')


def test_unselected_tpgu_settings_are_not_checked():
    """Only the selected activation is built; Model Garden ignores the others as well."""
    cfg = convnext()
    v.override(cfg, f'{ACT}.type=gelu,{TPGU}.order=2.5')
    v.validate(cfg)


def test_integral_float_order_is_accepted_and_built_exactly():
    cfg = convnext()
    v.override(cfg, f'{ACT}.type=tpgu,{TPGU}.orders=[3.0,1,2.0,4]')
    v.validate(cfg)
    specs = act_cfg.stage_specs(cfg.task.model.backbone.convnext.activation, 4)
    got = [s['tpgu']['order'] for s in specs]
    assert got == [3, 1, 2, 4] and all(type(o) is int for o in got)  # pylint: disable=unidiomatic-typecheck


@pytest.mark.parametrize('overrides,entries,stages,source', [
    ('', 3, 4, "model_id 'tiny': depths [3, 3, 9, 3]"),
    (',task.model.backbone.convnext.depths=[1,1,1]', 4, 3, 'depths [1, 1, 1]'),
])
def test_orders_length_must_match_stages(overrides, entries, stages, source):
    orders = ','.join(['3'] * entries)
    message = error_of(convnext(), f'{ACT}.type=tpgu,{TPGU}.orders=[{orders}]{overrides}')
    assert message.startswith(f'{TPGU}.orders has {entries} entries')
    assert f'the convnext backbone has {stages} stages ({source})' in message
    assert f'orders: {[3] * stages}' in message


def test_orders_length_for_resnet_model_id():
    cfg = exp_factory.get_exp_config('act_resnet_imagenet')
    act = 'task.model.backbone.act_resnet.activation'
    message = error_of(cfg, f'{act}.type=tpgu,{act}.tpgu.orders=[1,2],'
                            'task.model.backbone.act_resnet.model_id=18')
    assert 'the act_resnet backbone has 4 stages (model_id 18: depths [2, 2, 2, 2])' in message


@pytest.mark.parametrize('where,spec', [
    ('orders[1] = 2.5 (stage 2)', {'orders': [3, 2.5, 3, 3]}),
    ("order = '3' (every stage)", {'order': '3'}),
])
def test_stage_specs_never_truncates(where, spec):
    activation = act_cfg.Activation({'type': 'tpgu', 'tpgu': spec})
    with pytest.raises(ValueError) as info:
        act_cfg.stage_specs(activation, 4)
    assert str(info.value).startswith(f'activation.tpgu.{where}: TPGU order must be an integer')


@pytest.mark.parametrize('bad', [2.5, 3.0, '3', True, -1, None])
def test_layer_rejects_non_integer_orders(bad):
    with pytest.raises(ValueError) as info:
        tpgu_layer.TPGU(order=bad)
    assert repr(bad) in str(info.value)


def test_layer_accepts_numpy_integer_as_int():
    layer = tpgu_layer.TPGU(order=np.int64(4))
    assert layer.order == 4 and type(layer.order) is int  # pylint: disable=unidiomatic-typecheck


# ------------------------------------------------------------------------------ valid configs
@pytest.mark.parametrize('path', lib.yaml_files(),
                         ids=[os.path.relpath(p, lib.CONFIG_DIR) for p in lib.yaml_files()])
def test_model_zoo_yaml_passes(path):
    v.validate(lib.load(path))


@pytest.mark.parametrize('experiment', ['convnext_imagenet', 'hornet_imagenet', 'swin_imagenet',
                                        'posmlp_imagenet', 'act_resnet_imagenet',
                                        'tf_vision_example_experiment',
                                        'shufflenet_v2_imagenet', 'tfnet_imagenet'])
def test_recipe_defaults_pass(experiment):
    v.validate(exp_factory.get_exp_config(experiment))


# ------------------------------------------------------------------------------ overrides
def assert_forms(message):
    assert '\n' not in message
    assert PAIRS_FORM in message and YAML_FORM in message


def override_error(text, cfg=None):
    cfg = cfg or convnext()
    before = cfg.as_dict()
    with pytest.raises(v.ConfigValidationError) as info:
        v.override(cfg, text)
    assert cfg.as_dict() == before  # a failed override leaves the config unchanged
    message = str(info.value)
    assert message.startswith(f"--params_override='{text}': ")
    assert_forms(message)
    return message


def test_bad_yaml():
    message = override_error('{task: {train_data: {global_batch_size: 64}}')
    assert "not valid YAML: expected ',' or '}', but got '<stream end>'" in message
    assert 'column 45' in message


def test_multi_section_yaml_without_braces():
    message = override_error('task: {train_data: {global_batch_size: 64}}, '
                             'trainer: {train_steps: 100}')
    assert 'not valid YAML' in message and 'need outer braces' in message


@pytest.mark.parametrize('text', ['task.train_data.global_batchsize=64',
                                  '{task: {train_data: {global_batchsize: 64}}}'])
def test_unknown_key_has_dotted_path_and_suggestion(text):
    message = override_error(text)
    assert ('unknown key task.train_data.global_batchsize (did you mean '
            'task.train_data.global_batch_size?)') in message


def test_unknown_key_in_activation_lists_activations():
    message = override_error(f'{ACT}.tpgux.order=3')
    assert f'unknown key {ACT}.tpgux' in message
    assert message.split('one of: ')[1].split('. Accepted')[0].split(', ') == sorted(
        layers.names())


def test_dotted_key_written_as_yaml():
    message = override_error('task.train_data.global_batch_size: 64')
    assert 'task.train_data.global_batch_size=64' in message
    assert '{task: {train_data: {global_batch_size: 64}}}' in message


def test_text_that_is_neither_pairs_nor_yaml_nor_file():
    message = override_error('task.model.input_size=[32,32')
    assert 'not a YAML mapping and not an existing file' in message and 'unbalanced' in message


@pytest.mark.parametrize('text,fragment', [
    ('trainer.train_steps=100 task.train_data.global_batch_size=64',
     'separate key=value pairs with commas'),
    ('task.train_data.global_batch_size.x=1',
     'task.train_data.global_batch_size is a value (512), not a section'),
    (f'{ACT}=tpgu', f'to choose one, set {ACT}.type=tpgu'),
    ('trainer.optimizer_config.ema=None', 'write trainer.optimizer_config.ema=null'),
])
def test_mistakes_model_garden_accepts_silently(text, fragment):
    stock = hyperparams.override_params_dict(convnext(), text, is_strict=True)  # no error there
    assert stock is not None
    assert fragment in override_error(text)


@pytest.mark.parametrize('text,error_type', [
    ('{task: {train_data: {global_batch_size: 64}}', 'yaml'),
    ('task.train_data.global_batchsize=64', 'KeyError'),
    ('foo', 'NotFoundError'),
])
def test_parse_override_error_on_model_gardens_own_exceptions(text, error_type):
    """What run.py gets from ExperimentParser.parse() turned into one line (no params given)."""
    with pytest.raises(Exception) as info:
        hyperparams.override_params_dict(convnext(), text, is_strict=True)
    assert error_type in type(info.value).__module__ + type(info.value).__name__
    message = v.parse_override_error(text, info.value)
    assert message.startswith(f"--params_override='{text}': ")
    assert_forms(message)
    if error_type == 'KeyError':
        assert 'unknown key task.train_data.global_batchsize' in message


def test_advertised_forms_really_work(tmp_path):
    message = override_error('task.train_data.global_batchsize=64')
    advertised = message.split('Accepted forms: ', 1)[1]
    forms = re.findall(r"--params_override='(.*?)' \(", advertised)
    assert len(forms) == 2
    multiline = 'task:\n  train_data:\n    global_batch_size: 64\ntrainer:\n  train_steps: 100\n'
    for text in forms + [multiline, write_yaml(tmp_path, multiline, 'override.yaml')]:
        cfg = v.override(convnext(), text)
        assert (cfg.task.train_data.global_batch_size, cfg.trainer.train_steps) == (64, 100), text


def test_override_matches_model_garden_on_valid_text():
    text = (f'{ACT}.type=tpgu,{TPGU}.orders=[1,2,3,4],task.train_data.input_path=/data/train-*,'
            'runtime.distribution_strategy=mirrored')
    ours = v.override(convnext(), text)
    stock = hyperparams.override_params_dict(convnext(), text, is_strict=True)
    assert ours.as_dict() == stock.as_dict()
    assert ours.task.model.backbone.convnext.activation.tpgu.orders == [1, 2, 3, 4]


def test_empty_override_changes_nothing():
    cfg = convnext()
    before = copy.deepcopy(cfg.as_dict())
    assert v.override(cfg, '') is cfg and v.override(cfg, None) is cfg
    assert cfg.as_dict() == before
