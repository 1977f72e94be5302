"""Every config value is checked when the config is built: the test walks the schema and tries an
out-of-range value for every numeric field and an unknown one for every enumerated field; each
error is one line naming the dotted key and the value. Cross-field and cross-section rules too."""

from __future__ import annotations

import dataclasses
import math
import typing

import pytest

from locomt.config import ConfigError, ExperimentConfig, load_config
from locomt.constraints import CHECK, expectation
from locomt.experiment import load_experiment
from locomt.models import ModelConfig
from tests.conftest import small_config

# fields that accept any value of their type: where things live, free text, switches, arguments
# checked by the module they are passed to (data.synthetic: locomt.synth's own schema)
UNCHECKED = {"data.media_root", "data.skip_silent", "data.synthetic", "model.init_from", "data.require_modalities"}


def _walk(cls: type, prefix: str = ""):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            yield from _walk(tp, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", f, tp


FIELDS = list(_walk(ExperimentConfig))


def _yaml(value) -> str:
    if isinstance(value, float) and math.isnan(value):
        return ".nan"
    if isinstance(value, float) and math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value) if value else "''"
    return repr(value)


def test_every_field_declares_what_it_accepts():
    missing = [key for key, f, _ in FIELDS if CHECK not in f.metadata and key not in UNCHECKED]
    assert not missing, f"fields without a declared constraint: {missing}"


CASES = [(key, bad) for key, f, _ in FIELDS if CHECK in f.metadata for bad in f.metadata[CHECK].bad]


@pytest.mark.parametrize("key, bad", CASES, ids=[f"{k}={_yaml(b)}" for k, b in CASES])
def test_a_bad_value_is_one_line_naming_the_key(key, bad):
    with pytest.raises(ConfigError) as err:
        load_config(None, [f"{key}={_yaml(bad)}"])
    msg = str(err.value)
    assert msg.startswith(f"{key}=") or msg.startswith(f"{key}:"), msg
    assert "expected" in msg and "\n" not in msg, msg


ENUMS = [(key, f.metadata[CHECK], typing.get_origin(tp) is tuple) for key, f, tp in FIELDS
         if CHECK in f.metadata and f.metadata[CHECK].choices]


@pytest.mark.parametrize("key, check, is_list", ENUMS, ids=[k for k, _, _ in ENUMS])
def test_an_unknown_choice_lists_the_accepted_ones(key, check, is_list):
    with pytest.raises(ConfigError) as err:
        load_config(None, [f"{key}=[no-such-value]" if is_list else f"{key}=no-such-value"])
    assert str(err.value).startswith(f"{key}=") and expectation(check) in str(err.value)
    # and every accepted choice of a plain enumeration is accepted
    if key in ("data.video.backend", "data.audio.backend", "optim.name", "optim.schedule", "model.init_video"):
        for choice in check.choices():
            load_config(None, [f"{key}={choice}"])


@pytest.mark.parametrize("overrides, needle", [
    (["model.n_heads=5"], "model.d_model=768 must be a multiple of model.n_heads=5"),
    (["model.fusion_layer=13"], "model.fusion_layer=13: expected an integer in 0..model.n_layers=12"),
    (["model.d_model=4", "model.n_heads=4", "model.mlp_ratio=0.1"], "model.mlp_ratio=0.1"),
    (["model.backbone=bottleneck", "model.n_bottlenecks=0"], "model.n_bottlenecks=0: the bottleneck backbone"),
    (["data.video.size=70"], "data.video.size=70 must be a multiple of model.video_patch=16"),
    (["data.video.num_frames=7", "model.video_tubelet=2"], "data.video.num_frames=7 must be a multiple of "
                                                          "model.video_tubelet=2"),
    (["data.audio.clip_seconds=2.1"], "gives 210 log-mel frames; expected a multiple of model.audio_patch=16"),
    (["model.pattern=zz"], "model.pattern='zz': unknown preset 'zz'"),
    (["model.pattern=8s"], "model.pattern='8s'"),
    (["data.audio.win_length=600"], "data.audio.win_length=600: expected at most data.audio.n_fft=512"),
    (["data.audio.fmax=9000"], "data.audio.fmax=9000.0: expected at most half of data.audio.sample_rate=16000"),
    (["data.dataset=audioset"], "data.modalities holds 'text' but AudioSet has no text"),
    (["data.synthetic={n: 1}"], "data.synthetic.n=1; expected at least 3 clips"),
    (["data.modalities=[video, video]"], "without repeats"),
    (["data.dataset=kinetics"], "data.dataset='kinetics': expected one of audioset, medvidcl, manifest"),
    (["data.dataset=manifest", "data.synthetic={n: 30}"], "data.synthetic={'n': 30}: layout 'manifest'"),
    (["trainer.devices=[0, 0]"], "trainer.devices=[0, 0]"),
    (["data.modality_dropout={sound: 0.5}"], "data.modality_dropout.sound: expected one of data.modalities"),
    (["data.modality_dropout={audio: 1.0}"], "data.modality_dropout={'audio': 1.0}: expected a mapping"),
    (["data.modalities=[video]", "data.modality_dropout={video: 0.5}"], "expected no dropout with a single"),
])
def test_cross_field_rules_name_the_dotted_keys(overrides, needle):
    with pytest.raises(ConfigError) as err:
        load_experiment(None, overrides)  # the schema, then the data section by its dataset
    assert needle in str(err.value) and "\n" not in str(err.value), str(err.value)


@pytest.mark.parametrize("value", [1, -1, 2, "auto", "0,1", [0, 1], "-1"])
def test_valid_device_counts_pass(value):
    load_config(None, [f"trainer.devices={_yaml(value)}"])


def test_a_model_config_built_directly_is_checked_too():
    for kw, needle in [({"d_model": -4}, "d_model=-4: expected an integer >= 1"),
                       ({"mlp_ratio": -1.0}, "mlp_ratio=-1.0: expected a finite number > 0"),
                       ({"dropout": 2.0}, "dropout=2.0: expected a number in [0.0, 1.0)"),
                       ({"backbone": "nope"}, "backbone='nope': expected one of early, joint")]:
        with pytest.raises(ValueError, match=__import__("re").escape(needle)):
            small_config(**kw)
    assert isinstance(small_config(), ModelConfig)


def test_defaults_and_the_bundled_experiments_are_valid():
    ExperimentConfig()
    for name in ("synthetic-medvidcl", "synthetic-audioset", "medvidcl", "audioset"):
        load_config(f"experiments/{name}.yaml")


def test_the_config_package_leaves_the_data_section_to_its_dataset():
    """load_config checks the schema alone (config imports no data module); the dataset's own check
    (locomt.data.datasets.Dataset.check) is what load_experiment adds."""
    cfg = load_config(None, ["data.dataset=audioset"])  # AudioSet has no text: not the schema's business
    assert cfg.data.modalities == ("video", "audio", "text")
    with pytest.raises(ConfigError, match="AudioSet has no text"):
        load_experiment(None, ["data.dataset=audioset"])


def test_cpu_devices_above_the_cores_this_process_may_use_are_refused(monkeypatch):
    """trainer.devices on CPU is a process count: checked against the affinity mask's cores
    (a container's or taskset's share), the same count the sweep's workers use, not os.cpu_count."""
    from locomt.runs import preflight

    monkeypatch.setattr(preflight, "cpu_cores", lambda: 3)
    preflight.check_device(load_config(None, ["trainer.accelerator=cpu", "trainer.devices=3"]).trainer)
    with pytest.raises(ConfigError, match=r"^trainer.devices=4: .* this machine has 3 CPU cores; expected at most 3$"):
        preflight.check_device(load_config(None, ["trainer.accelerator=cpu", "trainer.devices=4"]).trainer)
