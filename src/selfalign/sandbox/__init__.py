"""Isolated, fast, never-hanging execution of untrusted generated code (see docs/sandbox.md)."""

from __future__ import annotations

from selfalign.sandbox.pool import Sandbox, SandboxError
from selfalign.sandbox.verdict import STATUSES, ExecResult, Limits, Program

__all__ = ["STATUSES", "ExecResult", "Limits", "Program", "Sandbox", "SandboxError"]
