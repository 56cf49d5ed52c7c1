"""Batched decoding for the llamacpp backend: many sequences in one llama.cpp batch.

``Llama.create_completion`` decodes one sequence at a time, so on a CPU each step multiplies a
matrix by one vector and the weights' memory traffic sets the pace. This decoder keeps up to
``n_seq`` sequences in flight on its own llama.cpp context (same model, same threads) and
decodes one token of each per ``llama_decode`` call: the weights are read once per step for all
of them. A request's prompt is evaluated once and its KV cache cells are shared by its ``n``
samples (``llama_memory_seq_cp`` adds sequence ids to the cells, it copies nothing); samples of
several requests are in flight together, each with its own sampler chain seeded ``seed + i``.
Every token goes through the same stop-sequence, UTF-8, ``max_tokens`` and finish-reason logic
as ``create_completion`` (copied from llama-cpp-python 0.3.36), per sequence.

The KV cache is unified (one pool of ``n_ctx`` cells for all sequences): a request is admitted
only when its prompt plus ``max_tokens`` for each admitted sample fit beside what is in flight,
so a sequence can never run out of cells; one alone always fits. Samples of a request that did
not fit in the first wave start later in a finished sibling's slot, or from a copy of a live
sibling's prompt cells; either way only the prompt's last token is evaluated again.

What is reproducible (measured, table in docs/backends.md): the same call (same requests in
the same order, same ``parallel``, ``n_ctx`` and threads) gives the same text, sample by sample:
the schedule is a pure function of the call and llama.cpp's CPU kernels are deterministic. A
sample's text is NOT independent of the batch it is decoded in: the matrix products compute each
row on its own (bit-identical logits in a probe), but attention over the shared cache changes in
the last bits with the cells in use and where other sequences sit, and a sampled (even a greedy)
token can flip from there: 16 of 24 samples kept their text alone vs batched, 6 of 24 matched the
loop path. This context uses flash attention, which skips other sequences' cells (the non-flash
kernel's logits moved by up to 0.5 once sequences interleave, and it costs attention over every
cell for every row). With one sequence and the loop's kernel (``flash_attn=False``) the decoder
gives ``create_completion``'s tokens exactly, which is how its token logic is tested. The backend
keeps the paths apart in its identity (``LlamaCppOptions.output_options``).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Sequence

from selfalign.llm.base import Completion, LLMError, Request, Result, SamplingParams

UTF8_SLACK = 3      # create_completion may decode up to 3 tokens past max_tokens to end a character


@dataclass
class _Group:
    """One request: its prompt tokens and which of its samples have started."""

    index: int
    params: SamplingParams
    tokens: list[int]
    seeds: list[int | None]
    started: int = 0
    live: set[int] = field(default_factory=set)     # slots of samples still decoding

    @property
    def waiting(self) -> int:
        return self.params.n - self.started


@dataclass
class _Sequence:
    """One sample in flight: its slot (= llama.cpp sequence id), sampler and text so far."""

    group: _Group
    sample: int
    slot: int
    sampler: Any
    max_tokens: int
    pos: int = 0                 # position of the next token to decode
    next_token: int = -1         # token to decode in the next step
    tokens: list[int] = field(default_factory=list)
    text: bytes = b""
    multibyte_fix: int = 0


class BatchDecoder:
    """Decodes requests with up to ``n_seq`` sequences in flight on its own context."""

    def __init__(self, llama: Any, n_seq: int, flash_attn: bool = True) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self._llama = llama
        self.n_seq = n_seq
        params = type(llama.context_params).from_buffer_copy(llama.context_params)
        params.n_seq_max = n_seq
        params.kv_unified = True        # one cell pool: a shared prompt is stored once
        params.flash_attn_type = (llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn
                                  else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        params.no_perf = False
        self.n_batch = max(int(params.n_batch), n_seq)
        params.n_batch = self.n_batch
        self._ctx = llama_cpp.llama_init_from_model(llama._model.model, params)
        if self._ctx is None:
            raise LLMError("llama.cpp could not create a context for batched decoding")
        self._mem = llama_cpp.llama_get_memory(self._ctx)
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self.n_ctx = llama_cpp.llama_n_ctx(self._ctx)
        self.prompt_evaluated = 0       # prompt tokens decoded, re-evaluated last tokens included
        self._vocab = llama._model.vocab
        self._bos = llama.token_bos()
        self._piece = (llama_cpp.ctypes.c_char * 32)()

    # -- public ------------------------------------------------------------------------------

    def generate(self, requests: Sequence[Request]) -> list[Result]:
        groups = [self._group(i, r) for i, r in enumerate(requests)]
        done: list[list[Completion | None]] = [[None] * r.params.n for r in requests]
        self._lib.llama_memory_clear(self._mem, True)
        waiting, running = deque(groups), {}
        free = list(range(self.n_seq - 1, -1, -1))
        try:
            while waiting or running:
                self._admit(waiting, running, free, done)
                if running:
                    self._step(running, free, done)
        finally:
            for seq in running.values():
                seq.sampler.close()
            self._lib.llama_memory_clear(self._mem, True)
        return [Result(list(c)) for c in done]      # type: ignore[arg-type]

    def tokens_decoded(self) -> int:
        """Tokens llama.cpp has evaluated on this context since it was made (its perf counters)."""
        perf = self._lib.llama_perf_context(self._ctx)
        return perf.n_p_eval + perf.n_eval

    def close(self) -> None:
        if self._ctx is not None:
            self._lib.llama_batch_free(self._batch)
            self._lib.llama_free(self._ctx)
            self._ctx = None

    # -- scheduling --------------------------------------------------------------------------

    def _group(self, index: int, request: Request) -> _Group:
        p = request.params
        tokens = self._llama.tokenize(request.prompt.encode("utf-8"), add_bos=True, special=True)
        if len(tokens) >= self.n_ctx:
            raise LLMError(f"prompt of {len(tokens)} tokens does not fit the context window "
                           f"of {self.n_ctx} (set [model.options] n_ctx)")
        if p.seed is not None:
            seeds: list[int | None] = [p.seed + i for i in range(p.n)]
        else:
            seeds = [None] * p.n
        return _Group(index, p, tokens, seeds)

    def _reserve(self, group: _Group) -> int:
        """KV cells one sample of ``group`` may need beyond its prompt."""
        return min(group.params.max_tokens + UTF8_SLACK, self.n_ctx - len(group.tokens))

    def _cells(self, running: dict[int, _Sequence]) -> int:
        groups = {id(s.group): s.group for s in running.values()}
        return (sum(len(g.tokens) for g in groups.values())
                + sum(self._reserve(s.group) for s in running.values()))

    def _admit(self, waiting: deque, running: dict, free: list, done: list) -> None:
        """Start samples in request order while slots and KV cells allow."""
        while waiting and free:
            group = waiting[0]
            if group.waiting == 0:      # its last samples started in finished siblings' slots
                waiting.popleft()
                continue
            prompt = 0 if group.live else len(group.tokens)
            room = self.n_ctx - self._cells(running) - prompt
            fit = min(group.waiting, len(free), max(room, 0) // self._reserve(group))
            if fit == 0:
                if running:
                    return
                fit = 1                 # alone it always fits: prompt + budget <= n_ctx
            if group.live:
                self._fork(group, fit, running, free)
            else:
                self._start(group, fit, running, free, done)
            if group.waiting == 0:
                waiting.popleft()

    def _new_sequence(self, group: _Group, slot: int) -> _Sequence:
        i = group.started
        group.started += 1
        group.live.add(slot)
        budget = self.n_ctx - len(group.tokens)
        return _Sequence(group, i, slot, self._sampler(group.params, group.seeds[i]),
                         max_tokens=min(group.params.max_tokens, budget))

    def _start(self, group: _Group, k: int, running: dict, free: list, done: list) -> None:
        """Evaluate the prompt once into one slot, share its cells with k - 1 more, and sample
        each one's first token from the prompt's last logits."""
        slots = [free.pop() for _ in range(k)]
        row = self._eval_prompt(group.tokens, slots[0])
        for slot in slots[1:]:
            self._lib.llama_memory_seq_cp(self._mem, slots[0], slot, -1, -1)
        seqs = [self._new_sequence(group, slot) for slot in slots]
        for seq in seqs:
            seq.pos = len(group.tokens)
            running[seq.slot] = seq
            self._take(seq, self._sample(seq, row), running, free, done)

    def _fork(self, group: _Group, k: int, running: dict, free: list) -> None:
        """Start k more samples from a live sibling's prompt cells; their first step evaluates
        the prompt's last token again (as the one-at-a-time path does for samples after the
        first), so no logits need to be kept."""
        source = min(group.live)
        last = len(group.tokens) - 1
        for _ in range(k):
            slot = free.pop()
            self._lib.llama_memory_seq_cp(self._mem, source, slot, 0, last)
            seq = self._new_sequence(group, slot)
            seq.pos, seq.next_token = last, group.tokens[last]
            running[slot] = seq
            self.prompt_evaluated += 1

    def _eval_prompt(self, tokens: list[int], slot: int) -> int:
        """Decode a prompt into ``slot`` in chunks of n_batch; the batch row of its last logits."""
        self.prompt_evaluated += len(tokens)
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start:start + self.n_batch]
            self._fill([(t, start + j, slot, start + j == len(tokens) - 1)
                        for j, t in enumerate(chunk)])
            self._decode()
        return (len(tokens) - 1) % self.n_batch

    def _step(self, running: dict, free: list, done: list) -> None:
        """Decode one token of every running sequence, then sample each one's next token."""
        seqs = list(running.values())
        self._fill([(s.next_token, s.pos, s.slot, True) for s in seqs])
        self._decode()
        for row, seq in enumerate(seqs):
            seq.pos += 1
            self._take(seq, self._sample(seq, row), running, free, done)

    # -- llama.cpp calls ---------------------------------------------------------------------

    def _fill(self, rows: list[tuple[int, int, int, bool]]) -> None:
        b = self._batch
        b.n_tokens = len(rows)
        for i, (token, pos, slot, logits) in enumerate(rows):
            b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = token, pos, 1, logits
            b.seq_id[i][0] = slot

    def _decode(self) -> None:
        rc = self._lib.llama_decode(self._ctx, self._batch)
        if rc != 0:
            raise LLMError(f"llama_decode failed with code {rc} ({self._batch.n_tokens} tokens; "
                           f"1 means no room in the KV cache of {self.n_ctx} cells)")

    def _sampler(self, p: SamplingParams, seed: int | None) -> Any:
        """The chain create_completion builds (Llama._init_sampler with our defaults)."""
        from llama_cpp import _internals

        chain = _internals.LlamaSampler()
        chain.add_penalties(n_vocab=self._llama.n_vocab(),
                            penalty_last_n=self._llama.last_n_tokens_size,
                            penalty_repeat=1.0, penalty_freq=0.0, penalty_present=0.0)
        if p.temperature == 0.0:
            chain.add_greedy()
        else:
            chain.add_top_k(p.top_k)
            chain.add_typical(1.0, 1)
            chain.add_top_p(p.top_p, 1)
            chain.add_min_p(p.min_p, 1)
            chain.add_temp(p.temperature)
            chain.add_dist(seed if seed is not None else random.randint(0, 2**32))
        return chain

    def _sample(self, seq: _Sequence, row: int) -> int:
        return self._lib.llama_sampler_sample(seq.sampler.sampler, self._ctx, row)

    def _piece_of(self, token: int) -> bytes:
        n = self._lib.llama_token_to_piece(self._vocab, token, self._piece, 32, 0, False)
        return bytes(self._piece[:n])

    # -- one token, as create_completion treats it -------------------------------------------

    def _take(self, seq: _Sequence, token: int, running: dict, free: list, done: list) -> None:
        finish = self._advance(seq, token)
        if finish is None:
            seq.next_token = token
            return
        text, reason = finish
        group = seq.group
        done[group.index][seq.sample] = Completion(
            text=text.decode("utf-8", errors="ignore"), finish_reason=reason,
            prompt_tokens=len(group.tokens), completion_tokens=len(seq.tokens))
        seq.sampler.close()
        last = len(group.tokens) - 1
        if group.waiting:       # the group's next sample takes over the slot and its prompt cells
            self._lib.llama_memory_seq_rm(self._mem, seq.slot, last, -1)
            group.live.discard(seq.slot)
            nxt = running[seq.slot] = self._new_sequence(group, seq.slot)
            nxt.pos, nxt.next_token = last, group.tokens[last]
            self.prompt_evaluated += 1
            return
        self._lib.llama_memory_seq_rm(self._mem, seq.slot, -1, -1)
        group.live.discard(seq.slot)
        del running[seq.slot]
        free.append(seq.slot)

    def _advance(self, seq: _Sequence, token: int) -> tuple[bytes, str] | None:
        """Add a sampled token; (text, finish reason) when the sequence ends, else None.
        Mirrors the non-streaming loop of Llama._create_completion line by line."""
        if self._lib.llama_vocab_is_eog(self._vocab, token):
            return self._text(seq), "stop"
        seq.tokens.append(token)
        seq.text += self._piece_of(token)
        all_text = self._text(seq)
        for k, char in enumerate(all_text[-3:]):
            k = 3 - k
            for num, pattern in ((2, 192), (3, 224), (4, 240)):
                if num > k and pattern & char == pattern:
                    seq.multibyte_fix = num - k
        if seq.multibyte_fix > 0:        # an incomplete character: no stop or length check
            seq.multibyte_fix -= 1
            if seq.pos < self.n_ctx:
                return None
            return all_text, "length"    # out of cells (create_completion would fail here)
        stops = [s.encode("utf-8") for s in seq.group.params.stop]
        hits = [s for s in stops if s in all_text]
        if hits:
            return all_text[:all_text.index(hits[0])], "stop"
        if len(seq.tokens) >= seq.max_tokens:
            return all_text, "length"
        return None

    def _text(self, seq: _Sequence) -> bytes:
        # detokenize() drops a leading space after BOS; a completion starting with BOS is rare.
        if seq.tokens and seq.tokens[0] == self._bos and seq.text[:1] == b" ":
            return seq.text[1:]
        return seq.text
