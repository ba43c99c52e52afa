"""Text op definitions: names, parameter schemas and the functions that apply them.

The algorithms live in ``augment.text`` (one module per family); this module only binds them to the
registry contract (``OpDef``). Every op takes its randomness from the generator it is given, never mutates
its input and returns a string for any string (empty, one word, unicode, a megabyte on one line).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, field_validator

from augment.extras import require
from augment.ops.guard_params import GuardParams
from augment.ops.llm_op import LLM_PARAPHRASE
from augment.ops.registry import OpDef, OpParams
from augment.text.result import TextOpResult
from augment.text import backtranslate, chars, context, eda, masked_lm, spelling, tagger
from augment.text.wordnet import DEFAULT_MAX_SENSES, DEFAULT_MAX_WORDS, DEFAULT_MIN_ZIPF, SynonymRules, load_index

__all__ = ["TEXT_OPS"]

_RATE_DOC = "fraction of the words to change: max(1, round(rate * n_words)) words when > 0; 0 changes nothing"


# ------------------------------------------------------------------------------------------ word level


_INFLECT_DOC = ("inflected words get their lemma's synonyms in the same form (children -> kids, jumped -> "
                "leapt); false: only words that are WordNet lemmas themselves, as in the EDA paper's code")


class _Protect(OpParams):
    protect: bool = Field(True, description="leave numbers (3.5, 100%), URLs, e-mail addresses, @mentions, "
                          "#hashtags and code-like tokens whole (false: treat their pieces as words)")


_CONTEXT_DOC = ("tag the sentence first (Apertium's English tagger, see README \"Part of speech in context\"): "
                "replace a word only by a synonym of its part of speech in this sentence, inflected to its tag, "
                "and never a name, a fixed expression (be going to, phrasal verbs) or a function word; false: "
                "the word's synonyms in every part of speech, without a tagger (faster)")


class _Context(_Protect):
    context: bool = Field(True, description=_CONTEXT_DOC)


class _SynonymChoice(_Context):
    """How synonyms are chosen (see README "Text"): frequent senses, common words, one word each; vulgar,
    sexual, slang and slur senses and capitalised lemmas (proper nouns, acronyms) are never used."""

    max_senses: int = Field(DEFAULT_MAX_SENSES, ge=0, le=255, description="only synonyms from the word's first "
                            "N frequent senses per part of speech, ranked by WordNet's sense-tag counts; 0 = all "
                            "frequent senses")
    min_zipf: float = Field(DEFAULT_MIN_ZIPF, ge=0.0, le=8.0, allow_inf_nan=False, description="no synonym "
                            "rarer than this wordfreq Zipf value (3 = once per million words); 0 = no floor")
    max_words: int = Field(DEFAULT_MAX_WORDS, ge=0, le=8, description="at most this many words per synonym "
                           "(1: no multi-word replacements like 'small fry'); 0 = any. A phrase is used only "
                           "where its inflected word takes the replaced word's form (dogs -> domestic dogs, "
                           "ran -> ran away), never where that form is a guess")
    inflect: bool = Field(True, description=_INFLECT_DOC)

    def rules(self) -> SynonymRules:
        return _rules(self.max_senses, self.min_zipf, self.max_words)


@lru_cache(maxsize=64)
def _rules(max_senses: int, min_zipf: float, max_words: int) -> SynonymRules:
    # one instance per setting: ops call this once per text, and the lookup tables are keyed by it
    return SynonymRules(max_senses=max_senses, min_zipf=min_zipf, max_words=max_words)


class SynonymReplaceParams(_SynonymChoice):
    rate: float = Field(0.1, ge=0.0, le=1.0, description=_RATE_DOC)


class RandomInsertParams(_SynonymChoice):
    rate: float = Field(0.1, ge=0.0, le=1.0, description="fraction of the word count to insert: "
                        "max(1, round(rate * n_words)) synonyms of random content words, at random places")


class RandomSwapParams(_Protect):
    rate: float = Field(0.1, ge=0.0, le=1.0, description="number of swaps: max(1, round(rate * n_words))")


class RandomDeleteParams(_Protect):
    rate: float = Field(0.1, ge=0.0, le=1.0, description=_RATE_DOC + "; one word always survives")


class AntonymReplaceParams(_Context):
    rate: float = Field(0.1, ge=0.0, le=1.0, description=_RATE_DOC + " (only words with a WordNet antonym)")


class WordSplitParams(_Protect):
    rate: float = Field(0.1, ge=0.0, le=1.0, description=_RATE_DOC)
    min_chars: int = Field(4, ge=2, le=100, description="only words at least this long are split")


class EdaParams(_SynonymChoice):
    """Wei & Zou (2019): each output comes from ONE of the four operations, chosen uniformly among those
    whose parameter is > 0 (as each augmented sentence in the paper's reference code)."""

    alpha_sr: float = Field(0.1, ge=0.0, le=1.0, description="synonym replacement: share of words replaced")
    alpha_ri: float = Field(0.1, ge=0.0, le=1.0, description="random insertion: share of words inserted")
    alpha_rs: float = Field(0.1, ge=0.0, le=1.0, description="random swap: share of words swapped")
    p_rd: float = Field(0.1, ge=0.0, le=1.0, description="random deletion: each content word is deleted "
                        "with this probability (the paper's p, not a count)")


def _synonym_replace(text: str, p: SynonymReplaceParams, rng: np.random.Generator) -> TextOpResult:
    if p.rate == 0:
        return TextOpResult(text, [])
    if p.context:
        return _synonym_replace_batch([text], p, [rng])[0]
    return eda.synonym_replace(text, rng, rate=p.rate, index=load_index(), rules=p.rules(), inflect=p.inflect,
                               protect=p.protect)


def _synonym_replace_batch(texts: list[str], p: SynonymReplaceParams,
                           rngs: list[np.random.Generator]) -> list[TextOpResult]:
    if p.rate == 0:
        return [TextOpResult(text, []) for text in texts]
    if p.context:
        return context.synonym_replace_many(texts, rngs, rate=p.rate, index=load_index(), rules=p.rules(),
                                            protect=p.protect)
    return eda.synonym_replace_many(texts, rngs, rate=p.rate, index=load_index(), rules=p.rules(),
                                    inflect=p.inflect, protect=p.protect)


def _random_insert(text: str, p: RandomInsertParams, rng: np.random.Generator) -> TextOpResult:
    return _random_insert_batch([text], p, [rng])[0]


def _random_insert_batch(texts: list[str], p: RandomInsertParams,
                         rngs: list[np.random.Generator]) -> list[TextOpResult]:
    if p.rate == 0:
        return [TextOpResult(text, []) for text in texts]
    if p.context:
        return context.random_insert_many(texts, rngs, rate=p.rate, index=load_index(), rules=p.rules(),
                                          protect=p.protect)
    return [eda.random_insert(text, rng, rate=p.rate, index=load_index(), rules=p.rules(), inflect=p.inflect,
                              protect=p.protect) for text, rng in zip(texts, rngs)]


def _random_swap(text: str, p: RandomSwapParams, rng: np.random.Generator) -> TextOpResult:
    return eda.random_swap(text, rng, rate=p.rate, protect=p.protect)


def _random_delete(text: str, p: RandomDeleteParams, rng: np.random.Generator) -> TextOpResult:
    return eda.random_delete(text, rng, rate=p.rate, protect=p.protect)


def _antonym_replace(text: str, p: AntonymReplaceParams, rng: np.random.Generator) -> TextOpResult:
    return _antonym_replace_batch([text], p, [rng])[0]


def _antonym_replace_batch(texts: list[str], p: AntonymReplaceParams,
                           rngs: list[np.random.Generator]) -> list[TextOpResult]:
    if p.rate == 0:
        return [TextOpResult(text, []) for text in texts]
    if p.context:
        return context.antonym_replace_many(texts, rngs, rate=p.rate, index=load_index(), protect=p.protect)
    return [eda.antonym_replace(text, rng, rate=p.rate, index=load_index(), protect=p.protect)
            for text, rng in zip(texts, rngs)]


def _word_split(text: str, p: WordSplitParams, rng: np.random.Generator) -> TextOpResult:
    return eda.word_split(text, rng, rate=p.rate, min_chars=p.min_chars, protect=p.protect)


def _eda(text: str, p: EdaParams, rng: np.random.Generator) -> TextOpResult:
    if p.context:
        return _eda_batch([text], p, [rng])[0]
    enabled = [name for name, value in (("sr", p.alpha_sr), ("ri", p.alpha_ri), ("rs", p.alpha_rs),
                                        ("rd", p.p_rd)) if value > 0]
    if not enabled:
        return TextOpResult(text, [])
    which = enabled[int(rng.integers(len(enabled)))]
    if which == "sr":
        return eda.synonym_replace(text, rng, rate=p.alpha_sr, index=load_index(), rules=p.rules(),
                                   inflect=p.inflect, protect=p.protect)
    if which == "ri":
        return eda.random_insert(text, rng, rate=p.alpha_ri, index=load_index(), rules=p.rules(),
                                 inflect=p.inflect, protect=p.protect)
    if which == "rs":
        return eda.random_swap(text, rng, rate=p.alpha_rs, protect=p.protect)
    return eda.random_delete(text, rng, rate=p.p_rd, bernoulli=True, protect=p.protect)


def _eda_batch(texts: list[str], p: EdaParams, rngs: list[np.random.Generator]) -> list[TextOpResult]:
    """:func:`_eda` over many texts: each text draws its operation as alone; with ``context`` the synonym
    replacements and insertions of the batch are tagged together."""
    if not p.context:
        return [_eda(text, p, rng) for text, rng in zip(texts, rngs)]
    enabled = [name for name, value in (("sr", p.alpha_sr), ("ri", p.alpha_ri), ("rs", p.alpha_rs),
                                        ("rd", p.p_rd)) if value > 0]
    if not enabled:
        return [TextOpResult(text, []) for text in texts]
    which = [enabled[int(rng.integers(len(enabled)))] for rng in rngs]
    out: list[TextOpResult | None] = [None] * len(texts)
    for kind, run in (("sr", context.synonym_replace_many), ("ri", context.random_insert_many)):
        members = [i for i, w in enumerate(which) if w == kind]
        if members:
            rate = p.alpha_sr if kind == "sr" else p.alpha_ri
            found = run([texts[i] for i in members], [rngs[i] for i in members], rate=rate, index=load_index(),
                        rules=p.rules(), protect=p.protect)
            for i, res in zip(members, found):
                out[i] = res
    for i, w in enumerate(which):
        if w == "rs":
            out[i] = eda.random_swap(texts[i], rngs[i], rate=p.alpha_rs, protect=p.protect)
        elif w == "rd":
            out[i] = eda.random_delete(texts[i], rngs[i], rate=p.p_rd, bernoulli=True, protect=p.protect)
    return out  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------ characters


class _CharParams(_Protect):
    word_rate: float = Field(0.3, ge=0.0, le=1.0, description="fraction of the words to change: "
                             "max(1, round(word_rate * n_words)) when > 0")
    char_rate: float = Field(0.3, ge=0.0, le=1.0, description="fraction of each chosen word's characters "
                             "to change (at least one)")
    min_word_len: int = Field(4, ge=1, le=100, description="shorter words are left alone")
    include_stop_words: bool = Field(False, description="also change stop words")


class KeyboardTypoParams(_CharParams):
    lang: Literal["de", "en", "es", "fr", "he", "it", "nl", "pl", "th", "tr", "uk"] = Field(
        "en", description="keyboard layout (nlpaug's neighbour tables)")


class OcrNoiseParams(_CharParams):
    pass


class CharInsertParams(_CharParams):
    pass


class CharSwapParams(_CharParams):
    pass


class CharDeleteParams(_CharParams):
    pass


def _char_args(p: _CharParams) -> dict:
    return {"word_rate": p.word_rate, "char_rate": p.char_rate, "min_word_len": p.min_word_len,
            "include_stop_words": p.include_stop_words, "protect": p.protect}


def _keyboard_typo(text: str, p: KeyboardTypoParams, rng: np.random.Generator) -> TextOpResult:
    return chars.keyboard_typo(text, rng, lang=p.lang, **_char_args(p))


def _ocr_noise(text: str, p: OcrNoiseParams, rng: np.random.Generator) -> TextOpResult:
    return chars.ocr_noise(text, rng, **_char_args(p))


def _char_insert(text: str, p: CharInsertParams, rng: np.random.Generator) -> TextOpResult:
    return chars.char_insert(text, rng, **_char_args(p))


def _char_swap(text: str, p: CharSwapParams, rng: np.random.Generator) -> TextOpResult:
    return chars.char_swap(text, rng, **_char_args(p))


def _char_delete(text: str, p: CharDeleteParams, rng: np.random.Generator) -> TextOpResult:
    return chars.char_delete(text, rng, **_char_args(p))


class SpellingErrorParams(_Protect):
    rate: float = Field(0.1, ge=0.0, le=1.0, description=_RATE_DOC + " (only words with a listed misspelling)")
    real_word_zipf: float = Field(3.0, ge=0.0, le=8.0, allow_inf_nan=False, description="a listed "
                                  "misspelling that is itself this common an English word (wordfreq Zipf) is "
                                  "never used ('lock' for 'luck'); 0 = use every listed form")


def _spelling_error(text: str, p: SpellingErrorParams, rng: np.random.Generator) -> TextOpResult:
    return spelling.spelling_error(text, rng, rate=p.rate, real_word_zipf=p.real_word_zipf, protect=p.protect)


# ------------------------------------------------------------------------------------------ back-translation

_LANG = r"^[a-z]{2,3}(_[A-Za-z]{2,4})?$"


class BackTranslateParams(GuardParams):
    backend: Literal["apertium", "marian"] = Field("apertium", description="translation backend")
    source: str = Field("eng", pattern=_LANG, description="language of the texts (Apertium code; "
                        "Marian model names use the two-letter form)")
    pivot: str = Field("spa", pattern=_LANG, description="language to translate to and back from")
    pivots: list[Annotated[str, Field(pattern=_LANG)]] | None = Field(
        None, min_length=1, max_length=16, description="several pivot languages, one drawn per copy (e.g. "
        "[spa, cat]: copies of one text differ instead of repeating one deterministic translation); "
        "replaces pivot")
    batch_size: int = Field(1000, ge=1, le=100_000, description="texts per backend call: one Apertium run "
                            "(each costs ~0.5 s of start-up, so large batches: measured 84/184/379 sentences/s "
                            "at 64/256/1000) or one Marian generate batch (lower it for GPU memory)")
    model_dir: str | None = Field(None, description="marian: directory holding <src>-<tgt>/ or "
                                  "opus-mt-<src>-<tgt>/ model folders for both directions")
    forward_model: str | None = Field(None, description="marian: source->pivot model directory or hub id "
                                      "(default Helsinki-NLP/opus-mt-<src>-<pivot> from the local HF cache)")
    backward_model: str | None = Field(None, description="marian: pivot->source model directory or hub id")
    max_length: int = Field(256, ge=1, le=4096, description="marian: token limit for input and output")
    num_beams: int = Field(1, ge=1, le=16, description="marian: beam width (1 = greedy)")
    device: str = Field("cpu", description="marian: torch device")


def _translator(p: BackTranslateParams) -> backtranslate.Translator:
    models: list[tuple[str, str, str]] = []
    if p.forward_model:
        models.append((p.source, p.pivot, p.forward_model))
    if p.backward_model:
        models.append((p.pivot, p.source, p.backward_model))
    return backtranslate.get_translator(p.backend, model_dir=p.model_dir, models=tuple(models),
                                        device=p.device, max_length=p.max_length, num_beams=p.num_beams)


def _back_translate_ready(p: BackTranslateParams) -> None:
    """The backend and every pivot's pair in both directions are installed (checked once, when the pipeline is
    compiled: a missing one stops a run in one line instead of failing every row)."""
    if p.backend == "marian":
        require("marian", "back_translate backend 'marian'")
        return
    translator = backtranslate.get_translator(p.backend)
    for pivot in p.pivots or [p.pivot]:
        translator.mode(p.source, pivot)
        translator.mode(pivot, p.source)


def _tagger_ready(p: _Context) -> None:
    """With ``context: true`` the Apertium English tagger is installed (checked when the pipeline is compiled)."""
    if p.context and not tagger.tagger_available():
        raise backtranslate.BackendUnavailableError("part of speech in context needs the Apertium English "
                                                    "tagger: " + tagger.INSTALL_HINT)


def _back_translate_batch(texts: list[str], p: BackTranslateParams,
                          rngs: list[np.random.Generator]) -> list[TextOpResult]:
    # Decoding is deterministic; with several pivots each text's generator draws its pivot (one draw), so
    # copies of one text (and their redraws) go through different languages.
    pivots = p.pivots or [p.pivot]
    chosen = [pivots[int(rng.integers(len(pivots)))] if len(pivots) > 1 else pivots[0] for rng in rngs]
    outputs = list(texts)
    translator = _translator(p)
    for pivot in dict.fromkeys(chosen):
        members = [i for i, c in enumerate(chosen) if c == pivot]
        found = backtranslate.back_translate([texts[i] for i in members], translator, source=p.source,
                                             pivot=pivot, batch_size=p.batch_size)
        for i, new in zip(members, found):
            outputs[i] = new
    results = []
    for old, new, pivot in zip(texts, outputs, chosen):
        rejected = backtranslate.judge(p, old, new, lang=backtranslate.iso1(p.source)) if new != old else None
        if new == old or rejected:
            results.append(TextOpResult(old, [] if new == old else
                                        [{"action": "rejected", "reason": rejected, "pivot": pivot, "after": new}]))
        else:
            results.append(TextOpResult(new, [{"action": "substitute", "position": 0, "scope": "text",
                                               "before": old, "after": new, "pivot": pivot}]))
    return results


def _back_translate(text: str, p: BackTranslateParams, rng: np.random.Generator) -> TextOpResult:
    return _back_translate_batch([text], p, [rng])[0]


# ------------------------------------------------------------------------------------------ masked language model

_DEVICE = r"^(auto|cpu|mps|cuda(:[0-9]+)?)$"


class ContextualSubstituteParams(_Context):
    """nlpaug's ContextualWordEmbsAug with the synonym ops' rules (see docs "Contextual substitution")."""

    model: str = Field("bert-base-uncased", min_length=1, description="masked language model: a folder saved "
                       "with save_pretrained() or a hub id already in the local Hugging Face cache (never "
                       "downloaded at run time)")
    rate: float = Field(0.1, ge=0.0, le=1.0, description=_RATE_DOC + " (only words with a proposal that passes "
                        "the rules)")
    top_k: int = Field(20, ge=1, le=500, description="the model's best N whole-word proposals per masked word, "
                       "before the rules")
    min_zipf: float = Field(DEFAULT_MIN_ZIPF, ge=0.0, le=8.0, allow_inf_nan=False, description="no proposal "
                            "rarer than this wordfreq Zipf value; 0 = no floor")
    batch_size: int = Field(16, ge=1, le=4096, description="masked sentences per forward pass (every pass has "
                            "this many rows, so a text's proposals do not depend on its batch)")
    max_length: int = Field(128, ge=8, le=4096, description="token limit per sentence (a word past it is not "
                            "masked)")
    device: str = Field("auto", pattern=_DEVICE, description="torch device: auto (CUDA when present), cpu, "
                        "cuda, cuda:N, mps")


def _contextual_substitute_batch(texts: list[str], p: ContextualSubstituteParams,
                                 rngs: list[np.random.Generator]) -> list[TextOpResult]:
    if p.rate == 0:
        return [TextOpResult(text, []) for text in texts]
    lm = masked_lm.get_masked_lm(p.model, p.device, p.batch_size, p.max_length)
    index = load_index()
    readings = context.sentence_readings(texts, index=index) if p.context else None
    return masked_lm.contextual_substitute_many(
        texts, rngs, rate=p.rate, lm=lm, index=index, readings=readings,
        rules=masked_lm.Rules(top_k=p.top_k, min_zipf=p.min_zipf, protect=p.protect))


def _contextual_substitute(text: str, p: ContextualSubstituteParams, rng: np.random.Generator) -> TextOpResult:
    return _contextual_substitute_batch([text], p, [rng])[0]


# ------------------------------------------------------------------------------------------ the list

TEXT_OPS: list[OpDef] = [
    OpDef("synonym_replace", "text", SynonymReplaceParams,
          "EDA: replace content words with a random WordNet synonym (case kept)", apply_text=_synonym_replace,
          batch_text=_synonym_replace_batch, preflight=_tagger_ready),
    OpDef("random_insert", "text", RandomInsertParams,
          "EDA: insert synonyms of random content words at random places", apply_text=_random_insert,
          batch_text=_random_insert_batch, preflight=_tagger_ready),
    OpDef("random_swap", "text", RandomSwapParams, "EDA: swap random pairs of content words",
          apply_text=_random_swap),
    OpDef("random_delete", "text", RandomDeleteParams, "EDA: delete random content words (one always stays)",
          apply_text=_random_delete),
    OpDef("eda", "text", EdaParams, "EDA preset (Wei & Zou 2019): one of SR/RI/RS/RD per output",
          apply_text=_eda, batch_text=_eda_batch, preflight=_tagger_ready),
    OpDef("antonym_replace", "text", AntonymReplaceParams,
          "replace words with a WordNet antonym (changes meaning: for contrast sets)", apply_text=_antonym_replace,
          batch_text=_antonym_replace_batch, preflight=_tagger_ready),
    OpDef("word_split", "text", WordSplitParams, "split words in two at a random point", apply_text=_word_split),
    OpDef("keyboard_typo", "text", KeyboardTypoParams, "replace characters with neighbouring keys",
          apply_text=_keyboard_typo),
    OpDef("ocr_noise", "text", OcrNoiseParams, "replace characters with common OCR confusions",
          apply_text=_ocr_noise),
    OpDef("char_insert", "text", CharInsertParams, "insert random letters into words", apply_text=_char_insert),
    OpDef("char_swap", "text", CharSwapParams, "swap adjacent characters in words", apply_text=_char_swap),
    OpDef("char_delete", "text", CharDeleteParams, "delete characters from words", apply_text=_char_delete),
    OpDef("spelling_error", "text", SpellingErrorParams,
          "replace words with common human misspellings (nlpaug's list: becuase, definately)",
          apply_text=_spelling_error),
    OpDef("back_translate", "text", BackTranslateParams,
          "translate to a pivot language and back (apertium or MarianMT), batched",
          apply_text=_back_translate, batch_text=_back_translate_batch, preflight=_back_translate_ready),
    OpDef("contextual_substitute", "text", ContextualSubstituteParams,
          "replace words with a masked language model's proposals that pass the synonym rules (local model)",
          apply_text=_contextual_substitute, batch_text=_contextual_substitute_batch, extra="marian",
          preflight=_tagger_ready),
    LLM_PARAPHRASE,
]
