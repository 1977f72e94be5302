"""Experiment configs: YAML plus dotted overrides, strict keys and types, round trip."""

import pytest
import yaml

from locomt.config import ConfigError, ExperimentConfig, dump_config, from_dict, load_config, model_config
from locomt.models import build_model, example_inputs


def test_overrides_are_typed():
    cfg = load_config(None, ["model.pattern=all-cross", "trainer.max_epochs=3", "data.video.num_frames=4",
                             "data.modalities=[video,audio]", "optim.lr=1e-3", "trainer.devices=2"])
    assert cfg.model.pattern == "all-cross" and cfg.trainer.max_epochs == 3
    assert cfg.data.video.num_frames == 4 and cfg.data.modalities == ("video", "audio")
    assert cfg.optim.lr == 0.001 and cfg.trainer.devices == 2


def test_file_then_overrides_and_round_trip(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: demo\nmodel:\n  backbone: joint\n  n_layers: 3\n  fusion_layer: 2\noptim:\n  lr: 0.01\n")
    cfg = load_config(path, ["model.n_layers=5"])
    assert (cfg.name, cfg.model.backbone, cfg.model.n_layers, cfg.optim.lr) == ("demo", "joint", 5, 0.01)
    assert from_dict(ExperimentConfig, yaml.safe_load(dump_config(cfg))) == cfg


@pytest.mark.parametrize("override, needle", [
    ("model.patern=half", "unknown config key 'model.patern'; keys there are backbone, pattern"),
    ("colour=red", "unknown config key 'colour'"),
    ("trainer.max_epochs=abc", "trainer.max_epochs='abc': expected an integer"),
    ("data.video.backend=foo", "data.video.backend='foo': expected one of decord, pyav"),
    ("model.pattern", "expected KEY=VALUE"),
    ("model=3", "expected a mapping of ModelSection fields"),
    ("optim.lr=[1", "not valid YAML"),
])
def test_bad_overrides_name_the_key(override, needle):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(bad)


def test_model_config_builds_a_model():
    cfg = load_config(None, ["data.video.num_frames=4", "data.video.size=32", "data.audio.n_mels=32",
                             "data.audio.clip_seconds=1.024", "data.audio.hop_length=128", "model.n_layers=2",
                             "model.fusion_layer=1", "model.d_model=32", "model.n_heads=4"])
    mcfg = model_config(cfg, n_classes=3, vocab_size=100)
    assert [m.code for m in mcfg.modalities] == ["v", "a", "t"]
    assert mcfg.modalities[1].n_frames == 128
    logits = build_model(mcfg)(example_inputs(mcfg, batch=2))
    assert logits.shape == (2, 3)
    # the config is refused when it is built, before any model_config
    with pytest.raises(ConfigError, match="gives 125 log-mel frames; expected a multiple of model.audio_patch=16"):
        load_config(None, ["data.audio.clip_seconds=2", "data.audio.hop_length=256"])
