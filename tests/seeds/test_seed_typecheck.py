"""The batched type check runs the real basedpyright on literal snippets."""

from __future__ import annotations

from selfalign.seeds.typecheck import _run_checker, type_errors, undefined_names

OK = 'def double(x: int) -> int:\n    """Twice x."""\n    return 2 * x\n'
UNTYPED_OK = 'import json\n\n\ndef load(s):\n    """Parse."""\n    return json.loads(s)["a"]\n'
UNDEFINED = 'def f(x):\n    """Uses a module helper it does not carry."""\n    return _helper(x)\n'
WRONG = 'def f(x: int) -> str:\n    """Declares str, returns int."""\n    return x + 1\n'
THIRD_PARTY = 'import numpy_not_installed_here as np\n\n\ndef f(x):\n    """Doc."""\n    return np.sum(x)\n'


def test_errors_are_reported_per_snippet_in_one_batch():
    errors = type_errors([OK, UNDEFINED, UNTYPED_OK, WRONG, THIRD_PARTY] * 20)
    assert len(errors) == 100
    for i in range(0, 100, 5):
        assert errors[i] == [] and errors[i + 2] == [] and errors[i + 4] == []
        assert any("_helper" in e for e in errors[i + 1])
        assert any("line 3" in e for e in errors[i + 3])


def test_empty_batch_runs_nothing():
    assert type_errors([]) == []


BINDINGS = '''
import json as j
from collections import Counter


def f(xs, *args, key=None, **kw):
    """Every way a name gets bound."""
    global CACHE
    total = 0
    for i, (a, b) in enumerate(xs):
        total += i
    squares = [y * y for y in xs if (z := y)]
    g = lambda q: q + z
    try:
        pass
    except ValueError as err:
        print(err)
    match xs:
        case {"k": v, **others}:
            print(v, others)
        case [first, *more]:
            print(first, more)
    class Local:
        pass
    def inner():
        nonlocal total
        return total
    with open(key) as handle:
        print(handle, __name__, len(args), kw, CACHE, Local, inner, g, squares, a, b)
    return j.dumps(Counter(xs))
'''


def test_undefined_names_precheck_agrees_with_pyright():
    assert undefined_names(BINDINGS) == []
    assert undefined_names(UNDEFINED) == ["_helper"]
    assert undefined_names("from m import *\n\ndef f():\n    return g()\n") == []
    assert undefined_names("def f(:\n") == []
    assert undefined_names("def f(x):\n    return helper(x)  # type: ignore\n") == []
    # pyright agrees on both: no undefined-name error for BINDINGS, one for UNDEFINED
    ignored = "def f(x):\n    return helper(x)  # type: ignore\n"
    only_pyright = _run_checker([BINDINGS, UNDEFINED, ignored], 300)
    assert not any("is not defined" in e for e in only_pyright[0])
    assert any('"_helper" is not defined' in e for e in only_pyright[1])
    assert only_pyright[2] == []
