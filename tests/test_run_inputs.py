"""run.py refuses input globs that match no file before building the model or training."""
import pytest

from official.core import exp_factory

import run


def _params(train, val, tfds_name=''):
    params = exp_factory.get_exp_config('convnext_imagenet')
    params.override({'task': {'train_data': {'input_path': train, 'tfds_name': tfds_name},
                              'validation_data': {'input_path': val}}}, is_strict=False)
    return params


def test_glob_matching_no_file_names_split_pattern_and_fix(tmp_path):
    (tmp_path / 'train-00000-of-00001').write_bytes(b'')
    good, bad = str(tmp_path / 'train-*'), str(tmp_path / 'validaton-*')
    with pytest.raises(run.ConfigError) as err:
        run.check_input_paths(_params(good, bad), 'train_and_eval')
    msg = str(err.value)
    assert 'validation_data' in msg and 'validaton-*' in msg and 'imagenet_to_gcs.py' in msg
    # The validation glob is not read in train mode, so it is not checked there.
    run.check_input_paths(_params(good, bad), 'train')


def test_comma_separated_patterns_are_each_checked(tmp_path):
    (tmp_path / 'a-0').write_bytes(b'')
    pattern = f"{tmp_path / 'a-*'},{tmp_path / 'b-*'}"
    with pytest.raises(run.ConfigError, match='b-\\*'):
        run.check_input_paths(_params(pattern, pattern), 'eval')


def test_empty_path_and_tfds(tmp_path):
    with pytest.raises(run.ConfigError, match='input_path is empty'):
        run.check_input_paths(_params('', ''), 'train')
    run.check_input_paths(_params('', '', tfds_name='cifar10'), 'train')
