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
