"""selfalign: a code LLM aligns itself (seeds -> concepts -> instructions -> tested responses ->
curated SFT data -> fine-tune -> evaluate). ``respond`` is the one-call inference entry point."""

from __future__ import annotations

__version__ = "0.1.0"


def respond(instruction: str, response_prefix: str = "", **kwargs):
    """Answer one instruction with the instruct template; see ``selfalign.respond.respond``."""
    from selfalign.respond import respond as _respond

    return _respond(instruction, response_prefix, **kwargs)
