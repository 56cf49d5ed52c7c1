"""MBPP+ inputs as the functions receive them: JSON cannot hold tuples, sets or complex numbers.

The MBPP+ release stores every argument as JSON, and EvalPlus converts some problems' arguments
back (lists to tuples, sets, complex) before calling the function. Which problems need which
conversion is a fact about the dataset; this table records it in shapes of our own. Without it
the canonical solutions of e.g. Mbpp/106, 124 and 252 raise TypeError.
"""

from __future__ import annotations

from typing import Any, Callable

Args = list[Any]


def _deep_tuple(value: Any) -> Any:
    return tuple(_deep_tuple(v) for v in value) if isinstance(value, list) else value


def _each_arg_tuple(args: Args) -> Args:
    return [tuple(a) for a in args]


def _each_arg_rows_tuples(args: Args) -> Args:
    return [[tuple(row) for row in a] for a in args]


def _first_rows_tuples(args: Args) -> Args:
    return [[tuple(row) for row in args[0]], *args[1:]]


def _first_tuple(args: Args) -> Args:
    return [tuple(args[0]), *args[1:]]


def _second_tuple(args: Args) -> Args:
    return [args[0], tuple(args[1]), *args[2:]]


def _first_items_sets(args: Args) -> Args:
    # Upstream turns an empty list into {} (an empty dict), not set(); we keep that quirk so
    # expected outputs match the ones EvalPlus computes.
    return [[set(item) if isinstance(item, list) and item else {} for item in args[0]]]


def _first_items_tuples_then_tuple(args: Args) -> Args:
    return [tuple(tuple(i) if isinstance(i, list) else i for i in args[0])]


SHAPES: dict[str, tuple[tuple[int, ...], Callable[[Args], Any]]] = {
    "each argument a tuple": ((2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560,
                               579, 596, 616, 630, 726, 740, 744, 809), _each_arg_tuple),
    "rows of each argument tuples": ((63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473,
                                      614, 780), _each_arg_rows_tuples),
    "rows of the first argument tuples": ((75, 413, 444, 753), _first_rows_tuples),
    "second argument a tuple": ((106, 750), _second_tuple),
    "items of the first argument sets": ((115,), _first_items_sets),
    "float and complex": ((124,), lambda a: [float(a[0]), complex(a[1])]),
    "first argument a tuple": ((250, 307, 405, 446, 617, 720, 763, 808), _first_tuple),
    "each argument a tuple of tuples": ((259, 401, 445),
                                        lambda a: [tuple(tuple(r) for r in x) for x in a]),
    "first argument a tuple of tuples": ((278,), _first_items_tuples_then_tuple),
    "dict values tuples": ((722,), lambda a: [{k: tuple(v) for k, v in a[0].items()}, *a[1:]]),
    "complex": ((252,), lambda a: [complex(a[0])]),
    "every list a tuple": ((580, 615, 791), _deep_tuple),
}
_BY_TASK = {task: convert for tasks, convert in SHAPES.values() for task in tasks}


def mbpp_plus_arguments(task_id: str, inputs: list[Args]) -> list[Any]:
    """The argument lists of an MBPP+ problem with its upstream conversions applied."""
    convert = _BY_TASK.get(int(task_id.rsplit("/", 1)[-1]))
    return [convert(args) for args in inputs] if convert else inputs
