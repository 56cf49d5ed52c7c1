"""respond() on the embedded model: the prefix is kept, the answer stops before any ``###``."""

from selfalign import respond
from selfalign.cli import main


def test_respond_continues_from_the_prefix(embedded_llm):
    prefix = "```python\ndef add(a, b):\n"
    answer = respond("Write a Python function add(a, b) that returns their sum.", prefix,
                     llm=embedded_llm, max_tokens=48)
    assert answer.startswith(prefix) and len(answer) > len(prefix)
    assert "###" not in answer


def test_cli_respond_prints_the_answer(capsys):
    assert main(["respond", "Say hello.", "--prefix", "Hello", "--max-tokens", "8"]) == 0
    assert capsys.readouterr().out.startswith("Hello")


def test_cli_respond_prints_no_trailing_blank_lines(capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent / "llm"))
    from servers import FakeOpenAIServer

    class TrailingBlankLines(FakeOpenAIServer):
        def answer(self, payload):
            # a model ends its answer with blank lines before the template's next '###'
            text = "def f():\n    return 1\n\n\n### Instruction"
            return {"choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 5}}

    with TrailingBlankLines() as server:
        assert main(["respond", "Write f.", "--model", server.url, "--max-tokens", "16"]) == 0
    assert capsys.readouterr().out == "def f():\n    return 1\n"
