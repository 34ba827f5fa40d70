"""The packed sentence encoder: the fp32 pass is the reference BERT model, int8 stays close to it, a text's
embedding never depends on the texts encoded with it, texts are cut to the variant's tokens, repeated
texts come from the cache, and the shipped policy runs the encoder variant it was trained on."""

import numpy as np
import pytest
import torch

from agentime.errors import TimingError
from agentime.timing.encoder import EncoderVariant, SentenceEncoder, bundled_encoder_path
from agentime.timing.policy import ToolTimingPolicy

TEXTS = [
    "lookup airfare: Look up current airfares between two airports for a travel date.",
    "Is it still 243?",
    '{"from": "BOS", "to": "DEN", "lowest_fare_usd": 243, "carrier": "JetBlue"}',
    "The lowest fare from Boston to Denver on May 3 is 243 USD with JetBlue.",
    "thanks",
]


@pytest.fixture(scope="module")
def int8_encoder():
    return SentenceEncoder(variant=EncoderVariant(int8=True, max_tokens=64))


@pytest.fixture(scope="module")
def fp32_encoder():
    return SentenceEncoder(variant=EncoderVariant(int8=False, max_tokens=128))


def reference_embeddings(texts: list[str]) -> np.ndarray:
    """transformers' BertModel with sentence-transformers' mean pooling, one padded batch."""
    from transformers import AutoModel, AutoTokenizer

    path = str(bundled_encoder_path())
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def test_fp32_pass_matches_the_reference_model(fp32_encoder):
    ours = fp32_encoder.encode(TEXTS)
    reference = reference_embeddings(TEXTS)
    assert np.abs(ours - reference).max() < 1e-5


def test_int8_pass_stays_close_to_fp32(int8_encoder, fp32_encoder):
    cosine = (int8_encoder.encode(TEXTS) * fp32_encoder.encode(TEXTS)).sum(1)
    assert cosine.min() > 0.95  # a three-token text ("thanks") moves most: 0.97
    assert cosine.mean() > 0.98
    assert np.allclose(np.linalg.norm(int8_encoder.encode(TEXTS), axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("int8", [True, False])
def test_embedding_does_not_depend_on_the_other_texts(int8):
    encoder = SentenceEncoder(variant=EncoderVariant(int8=int8, max_tokens=64), pack_tokens=40)
    together = encoder.encode(TEXTS)
    encoder.clear_cache()
    alone = np.stack([encoder.encode([text])[0] for text in TEXTS])
    encoder.clear_cache()
    reversed_order = encoder.encode(TEXTS[::-1])[::-1]
    tolerance = 0.0 if int8 else 1e-6  # int8 matrix products are exact; fp32 sums may reorder
    assert np.abs(together - alone).max() <= tolerance
    assert np.abs(together - reversed_order).max() <= tolerance


def test_texts_are_cut_to_the_variant_tokens(int8_encoder):
    head = " ".join(["flight"] * 80)
    first, second = int8_encoder.encode([head + " to Denver", head + " to a very different place entirely"])
    assert np.array_equal(first, second)
    assert max(len(ids) for ids in int8_encoder.token_ids([head])) == 64


def test_repeated_texts_come_from_the_cache(int8_encoder, monkeypatch):
    int8_encoder.encode(TEXTS)
    calls = []
    original = int8_encoder._encode_uncached
    monkeypatch.setattr(int8_encoder, "_encode_uncached", lambda texts: calls.append(list(texts)) or original(texts))
    int8_encoder.encode(TEXTS[:2] + ["a new question"])
    assert calls == [["a new question"]]


def test_policy_runs_the_variant_its_weights_were_trained_on():
    policy = ToolTimingPolicy()
    assert policy._encoder().variant == policy.weights.encoder_variant
    other = EncoderVariant(int8=not policy.weights.encoder_variant.int8)
    mismatched = ToolTimingPolicy(encoder=SentenceEncoder(variant=other))
    with pytest.raises(TimingError, match="trained on"):
        mismatched.decide([{"role": "user", "content": "hi"}], [])


def test_int8_products_are_exact_without_the_int8_kernel(monkeypatch):
    """Without torch's int8 kernel (a private API) the float64 fallback gives the same int32 sums."""
    from agentime.timing import minilm

    gen = torch.Generator().manual_seed(0)
    a = torch.randint(-127, 128, (37, 1536), generator=gen, dtype=torch.int8)
    b = torch.randint(-127, 128, (1536, 384), generator=gen, dtype=torch.int8)
    kernel = minilm.int8_matmul(a, b)
    monkeypatch.delattr(torch, "_int_mm")
    fallback = minilm.int8_matmul(a, b)
    assert fallback.dtype == torch.int32 and torch.equal(kernel, fallback)
    assert torch.equal(fallback, (a.long() @ b.long()).to(torch.int32))
