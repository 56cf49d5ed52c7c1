"""``selfalign respond``: one instruction in, one answer out, with the instruct template."""

from __future__ import annotations

import argparse

HELP = """\
Answer one instruction with the instruct template (### Instruction / ### Response). The optional
--prefix is appended after '### Response' so the model continues from it (e.g. a code fence or a
function signature); the answer printed is prefix + generated text, cut at the first '###'."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("respond", help="answer one instruction with the instruct template",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("instruction", help="the instruction text")
    p.add_argument("--prefix", default="", help="response prefix the model continues from")
    p.add_argument("--model", default=None,
                   help="GGUF file, model directory, hub id or server URL (default: embedded SmolLM2-135M)")
    p.add_argument("--backend", default=None, help="force a backend: llamacpp, transformers, openai, vllm")
    p.add_argument("--max-tokens", type=int, default=1024, help="new tokens at most (default 1024)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--seed", type=int, default=None, help="sampling seed (with temperature > 0)")
    p.set_defaults(func=run_respond)


def run_respond(args: argparse.Namespace) -> int:
    from selfalign.llm import load_llm
    from selfalign.respond import respond

    llm = load_llm(args.model, args.backend)
    try:
        answer = respond(args.instruction, args.prefix, llm=llm, max_tokens=args.max_tokens,
                         temperature=args.temperature, seed=args.seed)
        # the blank lines the model writes before the template's next '###' are not the answer
        print(answer.rstrip())
    finally:
        llm.close()
    return 0
