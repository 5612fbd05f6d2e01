"""official_ext.configs.activations: one-of config in sync with the registry, YAML round trip,
per-stage specs."""
import dataclasses
import inspect

import pytest
import yaml

import layers
from official_ext.configs import activations as act_cfg


def test_one_field_per_registered_name():
    fields = {f.name for f in dataclasses.fields(act_cfg.Activation)} - {'type'}
    assert fields == set(layers.names())
    assert act_cfg.Activation().type == 'gelu'


@pytest.mark.parametrize('name', layers.names())
def test_settings_match_layer_arguments_and_defaults(name):
    """Every YAML setting is a layer argument with the same default (TPGU's `orders` excepted)."""
    settings = getattr(act_cfg.Activation(), name).as_dict()
    params = inspect.signature(type(layers.get(name)).__init__).parameters
    for key, value in settings.items():
        if (name, key) == ('tpgu', 'orders'):
            continue
        assert key in params, (name, key)
        assert params[key].default == value, (name, key)
        assert isinstance(value, (bool, int, float, str, list)), (name, key)


@pytest.mark.parametrize('name', layers.names())
def test_default_activation_builds_through_get(name):
    cfg = act_cfg.default_activation(name)
    assert cfg.type == name
    layer = layers.get(cfg)  # the whole one-of config, as a backbone would pass it
    assert layer is not layers.get(cfg)
    assert type(layer) is type(layers.get(name))


def test_default_activation_unknown():
    with pytest.raises(ValueError, match='tpgu'):
        act_cfg.default_activation('tpug')


def test_round_trip_as_dict_override_yaml(tmp_path):
    cfg = act_cfg.Activation()
    cfg.override({'type': 'tpgu', 'tpgu': {'orders': [7, 8, 9, 10], 'a_stddev': 0.01}})
    text = yaml.dump(cfg.as_dict())
    path = tmp_path / 'a.yaml'
    path.write_text(text)
    back = act_cfg.Activation()
    back.override(yaml.safe_load(path.read_text()))
    assert back.as_dict() == cfg.as_dict()
    assert back.tpgu.orders == [7, 8, 9, 10] and back.tpgu.a_stddev == 0.01
    assert back.get().orders == [7, 8, 9, 10]
    with pytest.raises(KeyError):
        back.override({'tpgu': {'ordrs': [1]}})


def test_stage_specs_tpgu_orders():
    cfg = act_cfg.Activation(type='tpgu', tpgu=act_cfg.TPGU(orders=[1, 2, 3, 4], a_stddev=0.05))
    specs = act_cfg.stage_specs(cfg, 4)
    assert [s['tpgu']['order'] for s in specs] == [1, 2, 3, 4]
    assert all('orders' not in s['tpgu'] and s['tpgu']['a_stddev'] == 0.05 for s in specs)
    built = [layers.get(s) for s in specs]
    assert [l.order for l in built] == [1, 2, 3, 4]
    specs[0]['tpgu']['order'] = 99  # specs are independent dicts
    assert specs[1]['tpgu']['order'] == 2


def test_stage_specs_single_order_and_other_types():
    cfg = act_cfg.Activation(type='tpgu', tpgu=act_cfg.TPGU(order=5))
    assert [s['tpgu']['order'] for s in act_cfg.stage_specs(cfg, 3)] == [5, 5, 5]
    gelu = act_cfg.stage_specs(act_cfg.default_activation('gelu'), 4)
    assert gelu == [{'type': 'gelu', 'gelu': {'approximate': False}}] * 4
    meta = act_cfg.stage_specs(act_cfg.default_activation('meta_acon'), 2)
    assert [layers.get(s).r for s in meta] == [16, 16]


def test_stage_specs_wrong_length():
    cfg = act_cfg.Activation(type='tpgu', tpgu=act_cfg.TPGU(orders=[7, 7, 7]))
    with pytest.raises(ValueError, match=r'3 entries.*4 stages'):
        act_cfg.stage_specs(cfg, 4)


def test_get_rejects_per_stage_orders():
    cfg = act_cfg.Activation(type='tpgu', tpgu=act_cfg.TPGU(orders=[7, 7, 7, 7]))
    with pytest.raises(ValueError, match='stage_specs'):
        layers.get(cfg)
