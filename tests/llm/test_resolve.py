import pytest

from selfalign import llm
from selfalign.llm import LLMError, check_model, embedded_model_path, load_llm, resolve_model
from selfalign.llm.base import SamplingParams, backend_class


def test_resolution_by_shape(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model(None) == ("llamacpp", embedded_model_path())
    assert resolve_model(str(gguf)) == ("llamacpp", str(gguf))
    assert resolve_model(str(tmp_path)) == ("transformers", str(tmp_path))
    assert resolve_model("http://127.0.0.1:8000/v1") == ("openai", "http://127.0.0.1:8000/v1")
    servers = "http://10.0.0.1:8000/v1, http://10.0.0.2:8000/v1"     # replicas of one model
    assert resolve_model(servers) == ("openai", servers)
    assert resolve_model("bigcode/starcoder2-15b") == ("transformers", "bigcode/starcoder2-15b")
    assert resolve_model("bigcode/starcoder2-15b", "vllm") == ("vllm", "bigcode/starcoder2-15b")


def test_bad_models_are_explained(tmp_path):
    with pytest.raises(LLMError, match="model path not found"):
        resolve_model("./nowhere/model.gguf")
    text = tmp_path / "notes.txt"
    text.write_text("hi")
    with pytest.raises(LLMError, match="not a .gguf model"):
        resolve_model(str(text))
    with pytest.raises(LLMError, match="'10.0.0.2:8000/v1' in the server list .* is not a URL"):
        resolve_model("http://10.0.0.1:8000/v1,10.0.0.2:8000/v1")
    with pytest.raises(LLMError, match="unknown backend 'tgi'"):
        backend_class("tgi")


def test_unknown_backend_option_is_named():
    with pytest.raises(LLMError, match=r"unknown option\(s\) n_ctxx .*known: .*n_ctx"):
        load_llm(options={"n_ctxx": 10})


def test_sampling_params_validate():
    with pytest.raises(ValueError):
        SamplingParams(n=0)
    assert SamplingParams(stop=["a"]).stop == ("a",)


def test_check_model_finds_what_would_fail_to_load_without_loading(tmp_path, monkeypatch):
    assert check_model(None) == ("llamacpp", embedded_model_path())      # a real GGUF file
    assert check_model("bigcode/starcoder2-15b")[0] == "transformers"     # hub ids: shape only
    fake = tmp_path / "fake.gguf"
    fake.write_text("<html>404</html>")
    with pytest.raises(LLMError, match="not a GGUF model file"):
        check_model(str(fake))
    with pytest.raises(LLMError, match="directory without config.json"):
        check_model(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    assert check_model(str(tmp_path)) == ("transformers", str(tmp_path))
    with pytest.raises(LLMError, match="llamacpp backend loads a GGUF file"):
        check_model(str(tmp_path), "llamacpp")
    with pytest.raises(LLMError, match=r"unknown option\(s\) n_ctxx"):
        check_model(None, options={"n_ctxx": 1})
    monkeypatch.setitem(llm.EXTRAS, "transformers", ("no_such_module_xyz",))
    with pytest.raises(LLMError, match=r"pip install 'selfalign\[transformers\]'"):
        check_model(str(tmp_path))
