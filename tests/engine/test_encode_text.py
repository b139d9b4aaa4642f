"""Prompt encoding: batched prompts and skipped logits give the embeddings of one-by-one calls."""

from __future__ import annotations

import functools

import pytest

torch = pytest.importorskip("torch")


def test_batched_encoding_without_logits_matches_separate_calls(tiny_pipeline) -> None:
    pipe = tiny_pipeline
    prompts = ["[VISUAL]: a man speaking", "blurry, distorted voice, echo"]
    batches = []
    connectors = pipe.connectors.forward

    def count_rows(hidden, *args, **kwargs):
        batches.append(hidden.shape[0])
        return connectors(hidden, *args, **kwargs)

    pipe.connectors.forward = count_rows
    try:
        both = pipe.encode_text(prompts)
    finally:
        del pipe.connectors.forward
    # the connectors see one prompt at a time (their float32 copies bound the 24 GiB peak)
    assert batches == [1, 1]
    for i, p in enumerate(prompts):
        one = pipe.encode_text([p])
        row = both.row(i)
        for a, b in ((row.video, one.video), (row.audio, one.audio)):
            assert a.shape == b.shape
            assert ((a - b).abs().max() / b.abs().max()).item() < 1e-5
        assert torch.equal(row.mask, one.mask)

    # the logits are skipped (logits_to_keep=1) and the hidden states do not depend on it
    seen = {}
    forward = pipe.text_encoder.forward

    @functools.wraps(forward)  # keeps the signature the pipeline inspects
    def spy(*args, **kwargs):
        seen.update(kwargs)
        return forward(*args, **kwargs)

    pipe.text_encoder.forward = spy
    try:
        fast = pipe.encode_text(prompts[:1])
    finally:
        del pipe.text_encoder.forward
    assert seen.get("logits_to_keep") == 1
    ids = pipe.tokenizer(prompts[:1], padding="max_length", max_length=64, return_tensors="pt")
    with torch.no_grad():
        full = pipe.text_encoder(
            input_ids=ids.input_ids, attention_mask=ids.attention_mask, output_hidden_states=True
        )
        kept = pipe.text_encoder(
            input_ids=ids.input_ids,
            attention_mask=ids.attention_mask,
            output_hidden_states=True,
            logits_to_keep=1,
        )
    assert full.logits.shape[1] == 64 and kept.logits.shape[1] == 1
    for a, b in zip(full.hidden_states, kept.hidden_states, strict=True):
        assert torch.equal(a, b)
    assert torch.isfinite(fast.video).all()
