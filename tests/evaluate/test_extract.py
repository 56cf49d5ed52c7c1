"""Code extraction and base-completion truncation on literal model outputs."""

from __future__ import annotations

from selfalign.evaluate.extract import extract_code, truncate_completion


def test_first_python_block_up_to_its_closing_fence():
    answer = "Here:\n```python\ndef f():\n    return 1\n```\nTest:\n```python\nassert f() == 1\n```\n"
    assert extract_code(answer) == "def f():\n    return 1\n"


def test_skips_blocks_in_other_languages_and_pairs_fences():
    answer = "```bash\npip install x\n```\nthen\n```python\nx = 2\n```"
    assert extract_code(answer) == "x = 2\n"


def test_unclosed_fence_takes_the_rest_and_unfenced_text_is_kept():
    assert extract_code("```python\ndef g():\n    pass") == "def g():\n    pass\n"
    assert extract_code("def h():\n    return 3\n") == "def h():\n    return 3\n"


def test_base_completion_stops_at_the_next_top_level_statement():
    body = "    return a + b\n\n\ndef main():\n    pass\n"
    assert truncate_completion(body) == "    return a + b\n\n"
    assert truncate_completion("    return 1\nprint(f())") == "    return 1"
    assert truncate_completion("    x = 1\n    # keep indented comments\n    return x") == \
        "    x = 1\n    # keep indented comments\n    return x"
