"""How rows share a micro-batch, and the check that they do not see each other.

Two layouts come out of TRL's collator. Padded: rows padded on the right to the longest, with an
attention mask. Packed (``train.packing``): the rows concatenated into one sequence with no
padding, position ids restarting at 0 for each row and the row boundaries passed along
(``cu_seq_lens``). Whether rows then stay apart depends on the attention implementation:
flash-attention's varlen kernels use the boundaries, transformers' SDPA and eager paths build a
block-diagonal (or padding) mask, and a custom or remote-code attention may do neither and let a
row attend to the one before it. So it is checked, not assumed: ``isolation_check`` runs a few
rows one by one and in the training layout, through the trainer's own collator, and compares
every token's loss; ``train`` falls back to padded batches with the model's own attention when
they differ.

On CPU, SDPA with a mask is slow and memory-hungry: it computes the whole score matrix (for a
packed row, (sum of lengths)^2) and keeps the attention weights of every layer for the backward
pass (measured: 20 GB for 8 padded rows of the 135M model). ``VARLEN_SDPA`` replaces SDPA during
training: causal SDPA without a mask on each packed row's slice (what flash-attention's varlen
kernel does on a GPU), and on each padded row as a whole, which is exact for right padding since
a real token never attends to a later pad. The check above runs on it like on any other attention.
"""

from __future__ import annotations

from typing import Any

VARLEN_SDPA = "selfalign_varlen_sdpa"
PROBE_TOKENS = 48      # tokens of each probe row: enough to see contamination, cheap on a big model


def varlen_sdpa_forward(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                        dropout: float = 0.0, scaling: float | None = None, **kwargs: Any) -> tuple[Any, None]:
    """Causal SDPA per packed row (``cu_seq_lens_q``), else per batch row, never with a mask.

    Exact for packed rows and for unpadded or right-padded rows; wrong for left padding, so it is
    switched back to ``sdpa`` before anything generates."""
    import torch

    bounds = kwargs.get("cu_seq_lens_q")
    gqa = query.shape[1] != key.shape[1]
    if bounds is None or query.shape[0] != 1:
        out = torch.nn.functional.scaled_dot_product_attention(
            query, key, value, dropout_p=dropout, scale=scaling, is_causal=query.shape[2] > 1, enable_gqa=gqa)
        return out.transpose(1, 2).contiguous(), None
    edges = bounds.tolist()
    parts = [torch.nn.functional.scaled_dot_product_attention(
        query[:, :, s:e], key[:, :, s:e], value[:, :, s:e], dropout_p=dropout, scale=scaling,
        is_causal=True, enable_gqa=gqa) for s, e in zip(edges[:-1], edges[1:]) if e > s]
    return torch.cat(parts, dim=2).transpose(1, 2).contiguous(), None


def training_attention(net: Any) -> str:
    """Switch SDPA to ``VARLEN_SDPA`` for training; any other implementation is kept."""
    from transformers import AttentionInterface

    if net.config._attn_implementation == "sdpa":
        AttentionInterface.register(VARLEN_SDPA, varlen_sdpa_forward)
        net.set_attn_implementation(VARLEN_SDPA)
    return net.config._attn_implementation


def restore_attention(net: Any, original: str) -> None:
    if net.config._attn_implementation != original:
        net.set_attn_implementation(original)


def collator(pad_token_id: int, padding_free: bool) -> Any:
    """TRL's collator, as the trainer builds it for this layout."""
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    return DataCollatorForLanguageModeling(pad_token_id=pad_token_id, padding_free=padding_free)


def isolation_check(net: Any, rows: list[list[int]], pad_token_id: int, padding_free: bool = True,
                    atol: float | None = None) -> dict[str, Any]:
    """Per-token losses of ``rows`` run one by one versus together in the training layout.

    ``max_diff`` is the largest difference over every predicted token; ``contaminated_diff`` is the
    same comparison with the rows simply concatenated (one position range, no boundaries), the
    difference that leaking attention would cause, reported so a pass can be seen to mean something."""
    import torch

    rows = sorted((r[:PROBE_TOKENS] for r in rows if len(r) >= 2), key=len)[:3]
    if len(rows) < 2:
        return {"ok": True, "checked": False, "reason": "fewer than two rows to compare"}
    rows[0] = rows[0][: max(2, len(rows[0]) - 7)]   # unequal lengths, so a padded batch has padding
    dtype = next(net.parameters()).dtype
    atol = atol if atol is not None else (1e-3 if dtype == torch.float32 else 0.1)
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            alone = torch.cat([_token_nll(net, {"input_ids": torch.tensor([r], device=device)}, [len(r)])
                               for r in rows])
            batch = collator(pad_token_id, padding_free)([{"input_ids": r, "labels": r} for r in rows])
            batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items() if k != "labels"}
            together = _token_nll(net, batch, [len(r) for r in rows])
            joined = {"input_ids": torch.tensor([[t for r in rows for t in r]], device=device)}
            leaked = _token_nll(net, joined, [len(r) for r in rows])
    finally:
        net.train(was_training)
    max_diff = float((together - alone).abs().max())
    return {"ok": max_diff <= atol, "checked": True, "layout": "packed" if padding_free else "padded",
            "attention": net.config._attn_implementation, "rows": len(rows), "tokens": int(alone.numel()),
            "max_diff": max_diff, "atol": atol, "contaminated_diff": float((leaked - alone).abs().max())}


def _token_nll(net: Any, inputs: dict[str, Any], lengths: list[int]) -> Any:
    """Negative log-likelihood of each next token of each row: the rows are the batch rows of a
    padded input, or consecutive slices of a one-row packed input."""
    import torch

    # use_cache=False as in training (TRL sets it): with a cache, transformers does not look for packed rows
    logits = net(**inputs, use_cache=False).logits.float()
    ids = inputs["input_ids"]
    out, start = [], 0
    for b, n in enumerate(lengths):
        row, offset = (b, 0) if ids.shape[0] > 1 else (0, start)
        logp = torch.log_softmax(logits[row, offset:offset + n - 1], dim=-1)
        out.append(-logp.gather(-1, ids[row, offset + 1:offset + n, None])[:, 0])
        start += n
    return torch.cat(out)
