"""Each seed filter on literal functions, kept and dropped, through the real extractor."""

from __future__ import annotations

import pytest

from selfalign.records import Dropped
from selfalign.seeds.config import SeedsConfig
from selfalign.seeds.extract import Candidate, extract
from selfalign.quality.filters import run_filters
from selfalign.seeds.filters import cheap_filters
from selfalign.seeds.sources import SourceFile


def candidates(code: str, **cfg) -> list[Candidate | Dropped]:
    return list(extract(SourceFile("test", "m.py", code.encode()), SeedsConfig(**cfg).include_methods))


def verdict(code: str, **cfg) -> str | None:
    """The drop reason of the single function in ``code``, or None when kept."""
    (item,) = candidates(code, **cfg)
    if isinstance(item, Dropped):
        return item.reason
    ((_, drop),) = run_filters([item], cheap_filters(SeedsConfig(**cfg)))
    return drop.reason if drop else None


GOOD = 'def double(x):\n    """Return twice x."""\n    return 2 * x\n'


def test_a_plain_documented_function_is_kept():
    assert verdict(GOOD) is None


def test_no_docstring_is_dropped_at_extraction():
    assert verdict("def f(x):\n    return x\n") == "extract:no_docstring"


@pytest.mark.parametrize("code", [
    'def f():\n    """Doc."""\n    return 1\n',
    'class C:\n    def f(self):\n        """Doc."""\n        return 1\n',
])
def test_no_args(code):
    assert verdict(code, include_methods=True) == "filter:no_args"


def test_method_args_do_not_count_self():
    code = 'class C:\n    def f(self, y):\n        """Doc."""\n        return y\n'
    assert verdict(code, include_methods=True) is None
    assert candidates(code) == []          # methods are skipped unless asked for


@pytest.mark.parametrize("body,reason", [
    ("print(x)", "filter:no_return"),
    ("return", "filter:no_return"),
    ("return None", "filter:no_return"),
    ("def inner():\n        return 1\n    print(inner)", "filter:no_return"),
    ("g = lambda: x\n    print(g)", "filter:no_return"),
    ("if x:\n        return x + 1\n    return 0", None),
])
def test_valued_return(body, reason):
    assert verdict(f'def f(x):\n    """Doc."""\n    {body}\n') == reason


def test_too_long_counts_lines_including_decorators():
    body = "\n".join(f"    y{i} = x" for i in range(147))
    code_150 = f'def f(x):\n    """Doc."""\n{body}\n    return x\n'      # 1 + 1 + 147 + 1 lines
    assert verdict(code_150) is None
    assert verdict("@staticmethod\n" + code_150) == "filter:too_long"  # 151 with the decorator
    assert verdict(code_150, max_lines=100) == "filter:too_long"


@pytest.mark.parametrize("text", ["# TODO: speed up", "# fixme", "# Bug 123", "debug = True"])
def test_banned_words_case_insensitive_substrings(text):
    assert verdict(f'def f(x):\n    """Doc."""\n    {text}\n    return x\n') == "filter:banned_word"


def test_banned_words_are_configurable():
    assert verdict('def f(x):\n    """Doc."""\n    debug = x\n    return debug\n', banned_words=["todo"]) is None


@pytest.mark.parametrize("code,reason", [
    ('import os\n\ndef f(p):\n    """Doc."""\n    return os.path.join(p, "x")\n', "filter:banned_import"),
    ('from sys import argv\n\ndef f(i):\n    """Doc."""\n    return argv[i]\n', "filter:banned_import"),
    ('import os.path\n\ndef f(p):\n    """Doc."""\n    return os.path.basename(p)\n', "filter:banned_import"),
    ('def f(c):\n    """Doc."""\n    import subprocess\n    return subprocess.run(c)\n', "filter:banned_import"),
    ('def f(c):\n    """Doc."""\n    return __import__("matplotlib").use(c)\n', "filter:banned_import"),
    # An unused module import does not count: the seed does not carry it.
    ('import os\nimport json\n\ndef f(s):\n    """Doc."""\n    return json.loads(s)\n', None),
])
def test_banned_imports(code, reason):
    assert verdict(code) == reason


def test_used_imports_are_prepended_and_provenance_recorded():
    code = 'import json\nimport re as regex\n\n\ndef f(s):\n    """Doc."""\n    return json.loads(regex.sub("a", "b", s))\n'
    (c,) = candidates(code)
    assert isinstance(c, Candidate)
    assert c.content.startswith("import json\nimport re as regex\n\n\ndef f(s):")
    assert (c.start_line, c.end_line, c.path, c.name) == (5, 7, "m.py", "f")


def test_every_filter_can_be_switched_off():
    code = 'import os\n\ndef f():\n    """TODO."""\n    os.getcwd()\n'
    cfg = dict(require_return=False, min_args=0, banned_words=[], banned_imports=[])
    assert verdict(code, **cfg) is None


def test_line_numbers_survive_form_feeds_and_crlf():
    code = 'x = 1\r\n\x0c\r\ndef f(x):\r\n    """Doc\x0c."""\r\n    return x\r\n'
    (c,) = candidates(code)
    assert (c.start_line, c.end_line) == (3, 5)
    assert c.content == 'def f(x):\n    """Doc\x0c."""\n    return x\n'
