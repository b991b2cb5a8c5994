from pathlib import Path

import pytest

from vidseg.settings import Settings, SettingsError


def test_defaults_work_out_of_the_box():
    settings = Settings.from_env({})
    assert settings.granularity == "frame"
    assert settings.strategy == "hvsa"
    assert settings.redis_url is None
    assert settings.height % 32 == 0 and settings.width % 32 == 0


def test_variables_and_aliases_are_read():
    settings = Settings.from_env({
        "MODEL_DIR": "/tmp/models", "LABEL_STUDIO_HOST": "http://ls:8080/", "LABEL_STUDIO_ACCESS_TOKEN": "abc",
        "BUDGET": "7", "GRANULARITY": "Rectangle", "ALLOWED_HOSTS": "a.example, B.example", "LEARNING_RATE": "0.01",
    })
    assert settings.model_dir == Path("/tmp/models")
    assert settings.label_studio_url == "http://ls:8080"
    assert settings.label_studio_api_key == "abc"
    assert settings.budget == 7
    assert settings.granularity == "rectangle"
    assert settings.allowed_hosts == ("a.example", "b.example")
    assert settings.learning_rate == 0.01


def test_booleans_accept_the_usual_spellings():
    assert Settings.from_env({"PSEUDO_LABELS": "off"}).pseudo_labels is False
    assert Settings.from_env({"PSEUDO_LABELS": "Yes"}).pseudo_labels is True


def test_primary_name_wins_over_alias():
    settings = Settings.from_env({"LABEL_STUDIO_URL": "http://a:1", "LABEL_STUDIO_HOST": "http://b:2"})
    assert settings.label_studio_url == "http://a:1"


def test_secrets_are_not_in_repr():
    settings = Settings.from_env({"LABEL_STUDIO_API_KEY": "s3cret", "BASIC_AUTH_USER": "u", "BASIC_AUTH_PASS": "pw"})
    assert "s3cret" not in repr(settings) and "pw" not in repr(settings)


@pytest.mark.parametrize("env, fragment", [
    ({"BUDGET": "many"}, "BUDGET='many': expected an integer"),
    ({"BUDGET": "0"}, "BUDGET must be a positive integer"),
    ({"GRANULARITY": "blob"}, "GRANULARITY='blob'"),
    ({"STRATEGY": "best"}, "STRATEGY='best'"),
    ({"WORK_HEIGHT": "100"}, "multiples of 32"),
    ({"LABEL_STUDIO_URL": "ls:8080"}, "http:// or https://"),
    ({"BASIC_AUTH_USER": "u"}, "set both BASIC_AUTH_USER and BASIC_AUTH_PASS"),
    ({"PSEUDO_LABELS": "maybe"}, "PSEUDO_LABELS='maybe': expected true or false"),
    ({"PIXEL_LEARNER": "cnn"}, "PIXEL_LEARNER='cnn': choose one of sparse, off"),
    ({"FLOW_PRESET": "best"}, "FLOW_PRESET='best': choose one of ultrafast, fast, medium, fine"),
])
def test_bad_values_name_the_variable(env, fragment):
    with pytest.raises(SettingsError, match=None) as info:
        Settings.from_env(env)
    assert fragment in str(info.value)


def test_network_defaults_match_the_propagation_core():
    from propagation import NetworkSpec

    settings = Settings.from_env({})
    spec = NetworkSpec(classes=("a",))
    assert (settings.arch, settings.encoder, settings.height, settings.width) == (
        spec.arch, spec.encoder, spec.height, spec.width)


def test_flow_defaults_match_the_propagation_core():
    from propagation import DEFAULT_PRESET

    assert Settings.from_env({}).flow_preset == DEFAULT_PRESET
    assert Settings.from_env({"FLOW_PRESET": "Medium"}).flow_preset == "medium"


def test_fusion_settings_reach_the_round_and_bad_ones_say_what_to_set():
    settings = Settings.from_env({"CARRY_HALF_LIFE": "4", "NETWORK_WEIGHT": "0.3"})
    _, round_config, _ = settings.round_setup(("a", "b"), 1)
    assert round_config.fusion.half_life == 4 and round_config.fusion.network_weight == 0.3
    with pytest.raises(SettingsError, match="CARRY_HALF_LIFE=0.0"):
        Settings.from_env({"CARRY_HALF_LIFE": "0"}).validate()
    with pytest.raises(SettingsError, match="NETWORK_WEIGHT=-1.0"):
        Settings.from_env({"NETWORK_WEIGHT": "-1"}).validate()


def test_the_pixel_learner_reaches_the_round():
    _, round_config, _ = Settings.from_env({}).round_setup(("a", "b"), 1)
    assert round_config.densify.learner == "off"  # densifying did not pay on the video loop (README)
    _, round_config, _ = Settings.from_env({"PIXEL_LEARNER": "Sparse"}).round_setup(("a", "b"), 1)
    assert round_config.densify.learner == "sparse"
