import pytest

from selfalign.settings import Config, ConfigError, describe, load_config, to_toml


def test_defaults_run_the_demo():
    cfg = load_config()
    assert isinstance(cfg, Config)
    assert cfg.model.model == "" and cfg.run.dir == "runs/demo"


def test_file_then_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[run]\ndir = "runs/x"\nlimit = 5\n[responses]\nn = 3\ntemperature = 1\n')
    cfg = load_config(path, ["responses.n=7", "run.dir=runs/y", 'model.options={n_ctx = 2048}'])
    assert cfg.run.dir == "runs/y" and cfg.run.limit == 5
    assert cfg.responses.n == 7 and cfg.responses.temperature == 1.0
    assert cfg.model.options == {"n_ctx": 2048}


def test_unknown_key_is_named(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[responses]\nnn = 3\n")
    with pytest.raises(ConfigError, match=r"c\.toml: unknown key responses\.nn"):
        load_config(path)
    with pytest.raises(ConfigError, match="unknown key nosuch"):
        load_config(None, ["nosuch.key=1"])


def test_wrong_type_is_named(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[responses]\nn = "many"\n')
    with pytest.raises(ConfigError, match=r"responses\.n should be int, got 'many'"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"run\.limit should be int"):
        load_config(None, ["run.limit=true"])
    with pytest.raises(ConfigError, match=r"instructions\.categories\[1\] should be str"):
        load_config(None, ['instructions.categories=["a", 2]'])


def test_bad_toml_and_missing_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[run\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(None, ["justaword"])


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(None, ["responses.n=5"])
    path = tmp_path / "resolved.toml"
    path.write_text(to_toml(cfg))
    assert load_config(path) == cfg


def test_every_setting_has_help():
    rows = describe(Config)
    assert rows and all(help_text for _, _, help_text in rows)


@pytest.mark.parametrize("overrides, size", [
    ([], 4),                                                   # llamacpp, one sequence at a time
    (["model.options={parallel = 8}"], 8),                     # as many items as slots
    (["model.model=http://127.0.0.1:9/v1"], 256),              # a server: a deep queue
    (['model.model="http://a:8000/v1,http://b:8000/v1,http://c:8000/v1"'], 768),   # as deep for each
    (["model.backend=vllm", "model.model=org/model"], 512),
    (["model.backend=transformers", "model.model=org/model", "model.options={batch_size = 32}"], 32),
    (["run.chunk_size=7", "model.model=http://127.0.0.1:9/v1"], 7),   # set by hand: as given
])
def test_chunk_size_zero_is_chosen_by_backend_without_loading_it(tmp_path, overrides, size):
    from selfalign.stages.context import RunContext
    config = load_config(None, overrides)
    assert config.run.chunk_size == (7 if "run.chunk_size=7" in overrides else 0)
    assert RunContext(config, tmp_path).chunk_size() == size


def test_negative_chunk_size_and_limit_are_refused():
    with pytest.raises(ConfigError, match="chunk_size"):
        load_config(None, ["run.chunk_size=-1"])
    with pytest.raises(ConfigError, match="run.limit must be 0"):     # -1 used to run every seed
        load_config(None, ["run.limit=-1"])
