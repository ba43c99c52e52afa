"""Contextual substitution: a masked language model proposes a word for a masked position, and only proposals
that pass the rules of the synonym ops are used (nlpaug's ContextualWordEmbsAug, with those rules).

For each text, the positions a word op may change are the same as for the synonym ops: with ``context`` the
words the tagger gives a reading (no names, fixed expressions or function words, :mod:`augment.text.tagger`),
otherwise content words; never stop words, numbers or protected tokens. The text's generator draws an order
of those positions and a uniform per position, up front, so the draws do not depend on the model's answers or
on the batch. The first ``n_changes(rate, n_words)`` positions are masked (each on the original sentence) and
the model's ``top_k`` whole-word tokens kept when they are alphabetic, not the word itself, at least
``min_zipf`` frequent, not on the offensive list, of the tagged part of speech (and number, for nouns) with
``context``, and agree with a preceding "a"/"an"; the position's uniform picks one. A position with no proposal
left gives its turn to the next position of the order (at most ``ROUNDS`` rounds).

Models load from a local folder (``save_pretrained`` output) or the Hugging Face cache only
(``local_files_only``: never the network), once per process, on ``device`` (``auto``: CUDA when present).
A text's proposals must not depend on the texts batched with it: every forward pass has one shape (``batch_size``
rows, padded to a multiple of ``_BUCKET`` tokens), so the same kernels run whatever the batch, and proposals are
ranked on log-probabilities rounded to ``_DECIMALS`` decimals with ties broken by token id.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from augment.text.backtranslate import BackendUnavailableError
from augment.text.eda import is_stop_word, n_changes, stop_words
from augment.text.morphology import PLURAL
from augment.text.protect import has_digit, protected_words
from augment.text.result import TextOpResult
from augment.text.tagger import Reading
from augment.text.tokens import WORD_RE, match_case
from augment.text.wordnet import POS_BITS, WordNetIndex, offensive_words

__all__ = ["MaskedLM", "get_masked_lm", "contextual_substitute_many", "resolve_device", "ROUNDS"]

ROUNDS = 3
_BUCKET = 16
_DECIMALS = 4
_WORD_START = ("Ġ", "▁")  # byte-level BPE (RoBERTa, GPT-2) and SentencePiece word starts
_EXTRA_HINT = "pip install 'augment-pipelines[marian]'"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class MaskedLM:
    """A tokenizer and a masked LM (``AutoModelForMaskedLM``), loaded on first use, answering whole-word
    proposals for masked positions in fixed-shape batches."""

    def __init__(self, model: str, *, device: str = "auto", batch_size: int = 16, max_length: int = 128):
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError as exc:
            from augment.extras import MissingExtraError

            raise MissingExtraError(f"contextual_substitute needs transformers and torch: {_EXTRA_HINT}",
                                    "marian") from exc
        self.name = model
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.max_length = max_length
        self._loaded: tuple | None = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._loaded is None:
                from transformers import AutoModelForMaskedLM, AutoTokenizer

                local = Path(self.name).expanduser().is_dir()
                if not local and (os.sep in self.name or self.name.startswith((".", "~", "/"))) \
                        and self.name.count("/") != 1:
                    raise BackendUnavailableError(f"masked language model folder {self.name!r} does not exist: "
                                                  "give a folder saved with save_pretrained() or a hub id in "
                                                  "the local Hugging Face cache")
                try:
                    tokenizer = AutoTokenizer.from_pretrained(self.name, local_files_only=True)
                    model = AutoModelForMaskedLM.from_pretrained(self.name, local_files_only=True)
                except (OSError, ValueError, TypeError, KeyError) as exc:
                    cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    raise BackendUnavailableError(
                        f"masked language model {self.name!r} is not available offline: save it to a folder "
                        "(save_pretrained) and give that path as model, or download it into the Hugging Face "
                        f"cache beforehand (`huggingface-cli download {self.name}`). Cause: {cause}") from exc
                if tokenizer.mask_token_id is None:
                    raise BackendUnavailableError(f"{self.name!r} has no mask token: contextual_substitute "
                                                  "needs a masked language model (BERT, RoBERTa, DistilBERT ...)")
                model.eval().to(self.device)
                # the model's output size rules (a tokenizer may count an added token the model lacks)
                size = int(model.get_output_embeddings().weight.shape[0])
                vocab = tokenizer.convert_ids_to_tokens(list(range(min(size, len(tokenizer)))))
                vocab += [None] * (size - len(vocab))
                self._loaded = (tokenizer, model, _whole_words(tokenizer, vocab))
            return self._loaded

    def propose(self, masked: Sequence[str], top_k: int) -> list[list[str]]:
        """For each text holding one mask token (:attr:`mask`), up to ``top_k`` whole-word proposals, best
        first; [] where the mask falls outside ``max_length`` tokens."""
        if not masked:
            return []
        import torch

        tokenizer, model, words = self._load()
        enc = [tokenizer(t, truncation=True, max_length=self.max_length)["input_ids"] for t in masked]
        out: list[list[str]] = [[] for _ in masked]
        order = sorted(range(len(enc)), key=lambda i: (len(enc[i]), i))
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        mask_id = tokenizer.mask_token_id
        allowed = torch.tensor(words >= 0, device=self.device)
        n_words = int((words >= 0).sum())
        for at in range(0, len(order), self.batch_size):
            rows = order[at:at + self.batch_size]
            length = -(-max(len(enc[i]) for i in rows) // _BUCKET) * _BUCKET
            ids = torch.full((self.batch_size, length), pad, dtype=torch.long)
            att = torch.zeros((self.batch_size, length), dtype=torch.long)
            for r, i in enumerate(rows):
                ids[r, :len(enc[i])] = torch.tensor(enc[i])
                att[r, :len(enc[i])] = 1
            for r in range(len(rows), self.batch_size):  # the same shape every time (see module doc)
                ids[r, :1] = pad
                att[r, :1] = 1
            with torch.inference_mode():
                logits = model(input_ids=ids.to(self.device), attention_mask=att.to(self.device)).logits
            for r, i in enumerate(rows):
                where = (ids[r] == mask_id).nonzero()
                if len(where) != 1:
                    continue
                scores = torch.log_softmax(logits[r, int(where[0])].float(), dim=-1)
                scores = torch.where(allowed, scores, torch.full_like(scores, -1e9))
                rounded = torch.round(scores * 10 ** _DECIMALS).to(torch.int64).cpu().numpy()
                # best first, ties by token id: a stable sort of the ids by descending rounded score
                best = np.argsort(-rounded, kind="stable")[:min(top_k, n_words)]
                out[i] = [_token_text(tokenizer, int(t)) for t in best]
        return out

    @property
    def mask(self) -> str:
        return self._load()[0].mask_token


def _whole_words(tokenizer, vocab: list[str | None]) -> np.ndarray:
    """Per token id: >= 0 for a token that is a whole lower-case alphabetic word on its own, else -1: specials,
    punctuation, capitalised tokens (names), word pieces (BERT's "##ing"; in a byte-level BPE or SentencePiece
    vocabulary, RoBERTa's or XLM-R's, every token without the word-start mark "Ġ"/"▁")."""
    special = set(tokenizer.all_special_ids)
    marked = any(t is not None and t[:1] in _WORD_START for t in vocab)
    out = np.full(len(vocab), -1, dtype=np.int64)
    for i, tok in enumerate(vocab):
        if i in special or not tok:
            continue
        if marked:
            if tok[0] not in _WORD_START:
                continue
            word = tok[1:]
        elif tok.startswith("##"):
            continue
        else:
            word = tok
        if len(word) > 1 and word.isascii() and word.isalpha() and word.islower():
            out[i] = i
    return out


def _token_text(tokenizer, token_id: int) -> str:
    tok = tokenizer.convert_ids_to_tokens(token_id)
    return tok[1:] if tok[:1] in _WORD_START else tok


@lru_cache(maxsize=8)
def get_masked_lm(model: str, device: str = "auto", batch_size: int = 16, max_length: int = 128) -> MaskedLM:
    """This process's model for these settings (loaded on first use: a forked worker loads its own)."""
    return MaskedLM(model, device=device, batch_size=batch_size, max_length=max_length)


@dataclass(frozen=True)
class Rules:
    top_k: int = 20
    min_zipf: float = 3.0
    protect: bool = True


def _eligible(text: str, readings: list[Reading | None] | None, protect: bool) -> list[int]:
    pieces = WORD_RE.split(text)
    words = pieces[1::2]
    stops = stop_words()
    guarded = protected_words(pieces) if protect else ()
    out = []
    for k, word in enumerate(words):
        if readings is not None and readings[k] is None:
            continue
        if k in guarded or is_stop_word(word, stops) or has_digit(word) or not word.isalpha():
            continue
        out.append(k)
    return out


def _fits(cand: str, word: str, reading: Reading | None, article: str, index: WordNetIndex, rules: Rules,
          offensive: frozenset[str]) -> bool:
    if cand == word.lower() or cand in offensive or not cand.isalpha():
        return False
    if rules.min_zipf > 0 and index.zipf(cand) < rules.min_zipf:
        return False
    if article in ("a", "an") and (cand[:1] in "aeiou") != (article == "an"):
        return False
    if reading is not None:
        if cand == reading.lemma:
            return False
        bit = POS_BITS[reading.pos]
        analyses = index.morphology.analyses(cand)
        as_lemma = bool(index._lemma_pos(cand) & bit)
        inflected = [a for a in analyses if a[1] == reading.pos and index._lemma_pos(a[0]) & bit]
        if not as_lemma and not inflected:
            return False  # not a word of the tagged part of speech
        if reading.pos == "n":  # the number stays: "films" -> "movies", never "movie"
            plural = any(a[2] == PLURAL for a in inflected)
            if ("<pl>" in reading.tags and not plural) or ("<pl>" not in reading.tags and not as_lemma):
                return False
    return True


def contextual_substitute_many(texts: list[str], rngs: list[np.random.Generator], *, rate: float, lm: MaskedLM,
                               index: WordNetIndex, rules: Rules,
                               readings: list[list[Reading | None]] | None = None) -> list[TextOpResult]:
    """Replace ``n_changes(rate, n_words)`` words of each text by a proposal of ``lm`` that passes the rules
    (module doc). ``readings``: per text, the tagger's reading per word (None: tagger-free)."""
    if rate <= 0:
        return [TextOpResult(t, []) for t in texts]
    offensive = offensive_words()
    plans = []
    for i, (text, rng) in enumerate(zip(texts, rngs)):
        pieces = WORD_RE.split(text)
        words = pieces[1::2]
        eligible = _eligible(text, readings[i] if readings is not None else None, rules.protect)
        n = n_changes(rate, len(words))
        if n == 0 or not eligible:
            plans.append(None)
            continue
        order = [eligible[j] for j in rng.permutation(len(eligible)).tolist()]
        picks = dict(zip(order, rng.random(len(order)).tolist()))
        plans.append({"pieces": pieces, "words": words, "order": order, "picks": picks, "want": n,
                      "next": 0, "chosen": {}})
    mask = lm.mask if any(p is not None for p in plans) else ""
    for _ in range(ROUNDS):
        asks = []
        for i, plan in enumerate(plans):
            if plan is None:
                continue
            need = plan["want"] - len(plan["chosen"])
            take = plan["order"][plan["next"]:plan["next"] + need]
            plan["next"] += len(take)
            for k in take:
                masked = list(plan["pieces"])
                masked[2 * k + 1] = mask
                asks.append((i, k, "".join(masked)))
        if not asks:
            break
        proposals = lm.propose([a[2] for a in asks], rules.top_k)
        for (i, k, _), found in zip(asks, proposals):
            plan = plans[i]
            word = plan["words"][k]
            reading = readings[i][k] if readings is not None else None
            article = plan["words"][k - 1].lower() if k else ""
            ok = [c for c in found if _fits(c, word, reading, article, index, rules, offensive)]
            if ok:
                j = int(plan["picks"][k] * len(ok))
                plan["chosen"][k] = (ok[j], j, len(ok))
    results = []
    for text, plan in zip(texts, plans):
        if plan is None or not plan["chosen"]:
            results.append(TextOpResult(text, []))
            continue
        pieces = list(plan["pieces"])
        changes = []
        for k in sorted(plan["chosen"]):
            cand, rank, of = plan["chosen"][k]
            before = plan["words"][k]
            after = match_case(before, cand)
            pieces[2 * k + 1] = after
            changes.append({"action": "substitute", "position": k, "before": before, "after": after,
                            "rank": rank, "candidates": of})
        results.append(TextOpResult("".join(pieces), changes))
    return results
