"""Plain data across a process boundary: what a candidate's answer may be, how it travels, and
how a big one is fingerprinted. Used on both sides: in the sandbox (copied into programs, like
runtime.py, so standard library only) and in the host.

Plain data is exact builtin types (``type(x) is int``: a subclass, whose ``__eq__`` could be
anything, is not) plus three stdlib dict types converted to dict, as typed JSON (tuples, sets,
dict keys, inf/nan survive); decoding builds new builtin objects, so nothing of the sender's
objects reaches a comparison. An output too big to send goes as a digest that is equal exactly
when the values are ``==``. Trade-off: a value of any other type (a numpy scalar, a namedtuple)
is refused rather than compared by its own ``==``, which is the point.
"""

import math

BIG_INT_BITS = 1 << 13  # ~2,500 digits, under int-to-str's default limit (4,300)


class NotPlain(Exception):
    """A value that is not plain data (the message names its type)."""


def _dict_likes():
    """Standard-library dict types converted to dict (two MBPP references return a Counter)."""
    import collections
    return (collections.Counter, collections.OrderedDict, collections.defaultdict)


def encode(value, strict=True):
    """Typed JSON of ``value``. Strict: only exact builtin types (``type(x) is int``, never a
    subclass) and the stdlib dict types, else NotPlain. Not strict (reference solutions, trusted):
    subclasses encode as their base, anything else as its repr."""
    kind = type(value)
    if value is None or kind is bool or kind is str or kind is int:
        return value
    if kind is float:   # finite (inf - inf and nan - nan are nan): no math import where we run
        return value if value - value == 0.0 else {"~f": repr(value)}
    if kind is list:
        return [encode(v, strict) for v in value]
    if kind is tuple:
        return {"~t": [encode(v, strict) for v in value]}
    if kind is set or kind is frozenset:   # in a fixed order (repr: no json import needed)
        return {"~s" if kind is set else "~fs": sorted((encode(v, strict) for v in value), key=repr)}
    if kind is dict or kind in _dict_likes():
        return {"~d": [[encode(k, strict), encode(v, strict)] for k, v in dict.items(value)]}
    if kind is bytes:
        return {"~b": value.decode("latin-1")}
    if kind is complex:
        return {"~c": [repr(value.real), repr(value.imag)]}
    if strict:
        raise NotPlain(kind.__name__)
    for base in (bool, int, float, str, bytes, list, tuple, set, frozenset, dict, complex):
        if isinstance(value, base):
            return encode(base(value), False)
    return {"~r": repr(value)}


def decode(data, allow=(), refs=None):
    """The value of typed JSON, built from builtin types only. Extra tags only where ``allow``
    names them: ``~r`` (a reference's value of another type: Opaque), ``~o`` (FOUND, "some
    object", which equals nothing) and ``~ref`` (a name in ``refs``, the candidate's namespace)."""
    if type(data) is list:
        return [decode(v, allow, refs) for v in data]
    if type(data) is not dict:
        return data
    (tag, body), = data.items()
    if tag == "~f":
        return float(body)
    if tag == "~t":
        return tuple(decode(v, allow, refs) for v in body)
    if tag == "~s":
        return set(decode(v, allow, refs) for v in body)
    if tag == "~fs":
        return frozenset(decode(v, allow, refs) for v in body)
    if tag == "~d":
        return {decode(k, allow, refs): decode(v, allow, refs) for k, v in body}
    if tag == "~b":
        return body.encode("latin-1")
    if tag == "~c":
        return complex(float(body[0]), float(body[1]))
    if tag not in allow:
        raise ValueError(f"not plain data: {tag}")
    return Opaque(body) if tag == "~r" else FOUND if tag == "~o" else refs[body]


class Opaque:
    """A reference's value of a type JSON cannot carry; it equals values with the same repr."""

    def __init__(self, text):
        self.text = text

    def __eq__(self, other):
        return repr(other) == self.text


FOUND = object()   # "some object that is not None": all that EvalPlus's regex oracle looks at


def digest(value):
    """A fingerprint equal for two plain values exactly when they are ==. Where Python's own hash
    is deterministic and agrees with == (numbers, str, bytes, tuples of them, a top-level list;
    str and bytes only under PYTHONHASHSEED=0, which is why a problem with big outputs runs its
    candidates seeded) it is that hash: the biggest MBPP+ output, 1.7 million tuples of 77
    strings, takes ~3 s instead of ~30 s. Otherwise the SHA-256 of canonical(value). The type
    walk also refuses what is not plain data (NotPlain)."""
    import hashlib
    top, inside = type(value), _types_inside(value)
    numbers = (int, float, bool, complex)
    if inside <= {*numbers, str, bytes, tuple} and top in (*numbers, str, bytes, list, tuple):
        return f"hash:{hash(('number' if top in numbers else top.__name__, tuple(value) if top is list else value))}"
    sha, chunk = hashlib.sha256(), 4096
    if top in (list, tuple) and len(value) > chunk:   # a slice at a time: the text may be huge
        sha.update(b"[" if top is list else b"(")
        for start in range(0, len(value), chunk):
            text = canonical(list(value[start:start + chunk]))[1:-1]
            sha.update(((", " if start else "") + text).encode("utf-8", "surrogatepass"))
        sha.update(b"]" if top is list else b")")
    else:
        sha.update(canonical(value).encode("utf-8", "surrogatepass"))
    return "sha256:" + sha.hexdigest()


def _types_inside(value):
    """The types of everything inside a list or tuple, level by level at C speed; a level of
    leaves is never built as a list. A level that is not plain data raises NotPlain."""
    import itertools
    seen, level, seqs = set(), [value] if type(value) in (list, tuple) else [], (list, tuple)
    plain = {list, tuple, set, frozenset, dict, str, bytes, int, float, bool, complex, type(None),
             *_dict_likes()}
    while level:
        here = set(map(type, itertools.chain.from_iterable(level)))
        if not here <= plain:
            raise NotPlain(next(iter(here - plain)).__name__)
        seen |= here
        if not here & set(seqs):
            break
        items = itertools.chain.from_iterable(level)
        level = list(items) if here <= set(seqs) else [v for v in items if type(v) in seqs]
    return seen


def canonical(value):
    """Text that is equal for two plain values exactly when they are == (except that nan equals
    nan): integral floats and bools read as ints, sets and dicts are sorted, and an int over
    BIG_INT_BITS is hex (its decimal text takes quadratic time). For lists and tuples of str,
    bytes, None and ints below that size it is ``repr``, checked level by level at C speed."""
    import itertools
    level, seqs = [value], (list, tuple)
    while level:
        kinds = set(map(type, level))
        if not kinds <= {list, tuple, str, int, bytes, type(None)}:
            return _canonical(value)
        if int in kinds:
            ints = level if len(kinds) == 1 else [v for v in level if type(v) is int]
            if max(map(int.bit_length, ints)) > BIG_INT_BITS:
                return _canonical(value)
        if kinds <= set(seqs):
            level = list(itertools.chain.from_iterable(level))
        else:
            level = list(itertools.chain.from_iterable(v for v in level if type(v) in seqs))
    return repr(value)


def _canonical(value):
    kind = type(value)
    if value is None or kind is str or kind is bytes:
        return repr(value)
    if kind is int:
        return repr(value) if value.bit_length() <= BIG_INT_BITS else "int:" + hex(value)
    if kind is bool:
        return "1" if value else "0"
    if kind is float:
        if value != value:
            return "nan"
        return _canonical(int(value)) if value.is_integer() else repr(value)
    if kind is complex:
        return _canonical(value.real) if value.imag == 0 else f"complex({_canonical(value.real)}, {_canonical(value.imag)})"
    if kind is list:
        return "[" + ", ".join(map(_canonical, value)) + "]"
    if kind is tuple:
        return "(" + ", ".join(map(_canonical, value)) + ("," if len(value) == 1 else "") + ")"
    if kind is set or kind is frozenset:
        return "set{" + ", ".join(sorted(map(_canonical, value))) + "}"
    if kind is dict or kind in _dict_likes():
        return "dict{" + ", ".join(sorted(_canonical(k) + ": " + _canonical(v) for k, v in dict.items(value))) + "}"
    raise NotPlain(kind.__name__)


def small(value, budget=4096):
    """Whether value's JSON form stays under about ``budget`` characters, without building it.
    Values that are == get the same answer (a number costs the digits of its integer value, or 24),
    so the reference and a right candidate send an output the same way."""
    stack, used = [value], 0
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
            used += 2 + len(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
            used += 2 + 2 * len(item)
        elif isinstance(item, (str, bytes)):
            used += len(item)
        else:
            used += _size(item)
        if used > budget:
            return False
    return True


def _size(number):
    if type(number) is complex and number.imag == 0:
        number = number.real
    if type(number) is float and math.isfinite(number) and number.is_integer():
        number = int(number)
    return number.bit_length() // 3 + 1 if type(number) in (int, bool) else 24


def is_floats(value):
    if isinstance(value, float):
        return True
    if isinstance(value, (list, tuple)) and value:
        return all(isinstance(v, float) for v in value)
    return False
