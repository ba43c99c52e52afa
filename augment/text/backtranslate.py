"""Back-translation backends: translate to a pivot language and back.

A backend is a :class:`Translator`; ``round_trip`` is what the op calls, so a backend that can chain both
directions in one go (Apertium: two processes joined by a pipe) does, and others fall back to two
``translate`` calls. Backends are built by :func:`get_translator`, cached per process and only when first
used: nothing is loaded when a spec is validated or a parameter object is made.

Texts are sent one per line (Apertium: one per paragraph), so each text is first made single-line (line
breaks and other separators become spaces) and its leading/trailing whitespace is put back afterwards.
Empty texts are never sent.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import threading
from abc import ABC, abstractmethod
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Protocol, Sequence

from augment.text.protect import PROTECTED_RE

__all__ = [
    "PIVOT_PACKAGES",
    "BackendUnavailableError",
    "Translator",
    "ApertiumTranslator",
    "MarianTranslator",
    "get_translator",
    "back_translate",
    "flatten",
]


class BackendUnavailableError(RuntimeError):
    """A back-translation backend cannot run here; the message says what to install."""


# Everything str.splitlines() treats as a line boundary: each would shift line alignment with the tools.
_LINE_BREAKS = str.maketrans({c: " " for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"} | {"\x00": " "})


def flatten(text: str) -> tuple[str, str, str]:
    """Split ``text`` into (leading whitespace, one-line core, trailing whitespace)."""
    core = text.strip()
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()):] if core else ""
    return lead, core.translate(_LINE_BREAKS), trail


class Translator(ABC):
    """Translate a batch of texts; outputs align one-to-one with inputs."""

    name: str = "translator"

    @abstractmethod
    def translate(self, texts: Sequence[str], src: str, tgt: str) -> list[str]:
        """Translate single-line, non-empty ``texts`` from ``src`` to ``tgt``; same length and order."""

    def round_trip(self, texts: Sequence[str], src: str, pivot: str) -> list[str]:
        """``src`` -> ``pivot`` -> ``src``."""
        return self.translate(self.translate(texts, src, pivot), pivot, src)


# ------------------------------------------------------------------------------------------ apertium


def _apertium_modes(binary: str) -> set[str]:
    try:
        out = subprocess.run([binary, "-l"], capture_output=True, text=True, timeout=60, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {line.strip() for line in out.splitlines() if line.strip()}


# Pivots for English whose Debian pair translates both ways (checked with `apt-cache search apertium` on Debian
# 13: apertium-eu-en, apertium-isl-eng and apertium-mkd-eng only translate into English, so they cannot be
# pivots), with the package that brings each. Back-translation quality differs a lot between them: see README.
PIVOT_PACKAGES = {"spa": "apertium-eng-spa", "cat": "apertium-eng-cat", "glg": "apertium-en-gl",
                  "epo": "apertium-eo-en", "hbs": "apertium-hbs-eng"}


class ApertiumTranslator(Translator):
    """Apertium rule-based MT through the ``apertium`` command (Debian: ``apertium`` + ``apertium-<pair>``).

    One run per batch: ``apertium -u src-pivot | apertium -u pivot-src`` as two processes joined by a pipe
    (no shell), texts separated by blank lines. Apertium keeps line breaks, so paragraph i out is text i
    in; a batch whose
    line count comes back wrong, or that makes Apertium fail, is split in half and retried, and a single text
    that still fails is returned unchanged. ``-u`` drops the ``*unknown`` markers. A persistent
    ``apertium -z`` process would save the start-up cost but hangs here, so it is not used.
    """

    name = "apertium"

    def __init__(self, binary: str = "apertium", timeout: float = 600.0):
        path = shutil.which(binary)
        if path is None:
            raise BackendUnavailableError(
                f"back_translate backend 'apertium' needs the {binary!r} command: "
                "apt-get install apertium apertium-eng-spa (or the apertium pair for your pivot language)"
            )
        self.binary = path
        self.timeout = timeout
        self.modes = _apertium_modes(path)

    def mode(self, src: str, tgt: str) -> str:
        """The installed Apertium mode for ``src`` -> ``tgt``. Pairs name their modes with three-letter codes
        (``eng-spa``) or, the older ones, two-letter codes (``en-gl``, ``eo-en``): both are tried, so a spec
        says ``pivot: glg`` or ``pivot: epo`` like ``pivot: spa``."""
        names = dict.fromkeys([f"{src}-{tgt}", f"{iso1(src)}-{iso1(tgt)}"])
        for name in names:
            if name in self.modes:
                return name
        package = PIVOT_PACKAGES.get(tgt if src == "eng" else src if tgt == "eng" else "")
        hint = (f"apt-get install {package}" if package else
                f"apt-get install apertium-{src}-{tgt} (Debian names some pairs the other way round, "
                f"apertium-{tgt}-{src}, or with two-letter codes; `apt-cache search apertium` lists them)")
        raise BackendUnavailableError(
            f"apertium has no {' / '.join(names)} translation mode installed (installed: "
            f"{', '.join(sorted(self.modes)) or 'none'}); {hint}"
        )

    def translate(self, texts: Sequence[str], src: str, tgt: str) -> list[str]:
        return self._robust(list(texts), [self.mode(src, tgt)])

    def round_trip(self, texts: Sequence[str], src: str, pivot: str) -> list[str]:
        return self._robust(list(texts), [self.mode(src, pivot), self.mode(pivot, src)])

    def _robust(self, texts: list[str], modes: list[str]) -> list[str]:
        if not texts:
            return []
        out = self._run(texts, modes)
        if out is not None:
            return out
        if len(texts) == 1:
            return list(texts)  # this text trips Apertium up: leave it untranslated rather than fail the run
        mid = len(texts) // 2
        return self._robust(texts[:mid], modes) + self._robust(texts[mid:], modes)

    def _run(self, texts: list[str], modes: list[str]) -> list[str] | None:
        """One pipeline run; None when it failed or lost line alignment."""
        # A blank line between texts: Apertium reads it as a paragraph end and puts a sentence boundary there.
        # With single newlines it does not, and its transfer rules move words across lines (measured:
        # "Two lines in one text" + "Symbols survive?" -> "Two lines in some Symbols" / "of text survive?"),
        # so the line count stays right while the content slips between texts.
        data = ("\n\n".join(texts) + "\n").encode("utf-8", errors="replace")
        procs: list[subprocess.Popen] = []
        try:
            stdin = subprocess.PIPE
            for mode in modes:
                proc = subprocess.Popen([self.binary, "-u", mode], stdin=stdin, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL)
                if procs:
                    procs[-1].stdout.close()  # only the next process holds the pipe: SIGPIPE works
                procs.append(proc)
                stdin = proc.stdout
            # feed the first process from a thread while reading the last: neither pipe can fill up and block
            writer = threading.Thread(target=_feed, args=(procs[0], data), daemon=True)
            writer.start()
            out, _ = procs[-1].communicate(timeout=self.timeout)
            writer.join(self.timeout)
            codes = [p.wait(timeout=self.timeout) for p in procs]
        except (OSError, subprocess.SubprocessError):
            for p in procs:
                p.kill()
                p.wait()
            return None
        if any(codes):
            return None
        lines = out.decode("utf-8", errors="replace").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if len(lines) != 2 * len(texts) - 1 or any(line.strip() for line in lines[1::2]):
            return None
        return [line.strip() for line in lines[::2]]


def _feed(proc: subprocess.Popen, data: bytes) -> None:
    try:
        proc.stdin.write(data)
    except (BrokenPipeError, OSError):
        pass
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass


# ------------------------------------------------------------------------------------------ marian

# ISO 639-2/3 codes (Apertium's) -> the ISO 639-1 codes in Helsinki-NLP model names
_ISO1 = {"eng": "en", "spa": "es", "fra": "fr", "fre": "fr", "deu": "de", "ger": "de", "ita": "it",
         "por": "pt", "nld": "nl", "cat": "ca", "rus": "ru", "zho": "zh", "jpn": "ja", "ara": "ar",
         "pol": "pl", "swe": "sv", "fin": "fi", "dan": "da", "nob": "nb", "ces": "cs", "tur": "tr",
         "ukr": "uk", "ell": "el", "glg": "gl", "eus": "eu", "ron": "ro", "hun": "hu", "epo": "eo"}


def iso1(code: str) -> str:
    return _ISO1.get(code, code)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


class MarianTranslator(Translator):
    """MarianMT models through ``transformers`` (extra ``augment-pipelines[marian]``), greedy or beam decoding.

    A model is named per direction: a local directory (``save_pretrained`` output) or a hub id such as
    ``Helsinki-NLP/opus-mt-en-es`` looked up in the local Hugging Face cache; with ``HF_HUB_OFFLINE=1`` the
    hub is never contacted. With ``model_dir`` set, a direction ``en``->``es`` is looked for as
    ``model_dir/en-es`` or ``model_dir/opus-mt-en-es``. Models load on first use and stay loaded.
    Decoding is deterministic (no sampling), so the op's random generator is not used.
    """

    name = "marian"

    def __init__(self, *, models: dict[tuple[str, str], str] | None = None, model_dir: str | None = None,
                 device: str = "cpu", max_length: int = 256, num_beams: int = 1):
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError as exc:  # pragma: no cover - transformers is installed in dev and CI
            raise BackendUnavailableError(
                "back_translate backend 'marian' needs transformers, sentencepiece and torch: "
                "pip install 'augment-pipelines[marian]'"
            ) from exc
        self.models = dict(models or {})
        self.model_dir = model_dir
        self.device = device
        self.max_length = max_length
        self.num_beams = num_beams
        self._loaded: dict[tuple[str, str], tuple[object, object]] = {}
        self._lock = threading.Lock()

    def model_name(self, src: str, tgt: str) -> str:
        s, t = iso1(src), iso1(tgt)
        if (src, tgt) in self.models:
            return self.models[(src, tgt)]
        if self.model_dir:
            for name in (f"{s}-{t}", f"opus-mt-{s}-{t}", f"{src}-{tgt}"):
                if (Path(self.model_dir) / name).is_dir():
                    return str(Path(self.model_dir) / name)
            raise BackendUnavailableError(
                f"no MarianMT model for {src}->{tgt} under {self.model_dir!r} "
                f"(looked for {s}-{t}/ and opus-mt-{s}-{t}/)"
            )
        return f"Helsinki-NLP/opus-mt-{s}-{t}"

    def _load(self, src: str, tgt: str):
        key = (src, tgt)
        with self._lock:
            if key not in self._loaded:
                from transformers import MarianMTModel, MarianTokenizer

                name = self.model_name(src, tgt)
                local = Path(name).expanduser().is_dir()
                try:
                    tokenizer = MarianTokenizer.from_pretrained(name, local_files_only=local or _offline())
                    model = MarianMTModel.from_pretrained(name, local_files_only=local or _offline())
                # TypeError too: transformers 5 MarianTokenizer fails with one when its files are not found
                except (OSError, ValueError, TypeError) as exc:
                    raise BackendUnavailableError(
                        f"MarianMT model {name!r} ({src}->{tgt}) is not available"
                        f"{' offline (HF_HUB_OFFLINE is set)' if _offline() else ''}: save it to a directory "
                        "and pass it as a model path / model_dir, or download it into the Hugging Face cache "
                        f"beforehand (`huggingface-cli download {name}`). Cause: {exc}"
                    ) from exc
                model.eval().to(self.device)
                self._loaded[key] = (tokenizer, model)
            return self._loaded[key]

    def translate(self, texts: Sequence[str], src: str, tgt: str) -> list[str]:
        if not texts:
            return []
        import torch

        tokenizer, model = self._load(src, tgt)
        batch = tokenizer(list(texts), return_tensors="pt", padding=True, truncation=True,
                          max_length=self.max_length).to(self.device)
        with torch.inference_mode():
            generated = model.generate(**batch, max_new_tokens=self.max_length, num_beams=self.num_beams,
                                       do_sample=False)
        return [t.strip() for t in tokenizer.batch_decode(generated, skip_special_tokens=True)]


# ------------------------------------------------------------------------------------------ helpers


@lru_cache(maxsize=16)
def get_translator(backend: str, *, model_dir: str | None = None,
                   models: tuple[tuple[str, str, str], ...] = (), device: str = "cpu",
                   max_length: int = 256, num_beams: int = 1) -> Translator:
    """The (per-process cached) translator for a backend configuration.

    ``models`` is ``((src, tgt, name_or_path), ...)`` (hashable, for the cache).
    """
    if backend == "apertium":
        return ApertiumTranslator()
    if backend == "marian":
        return MarianTranslator(models={(s, t): n for s, t, n in models}, model_dir=model_dir, device=device,
                                max_length=max_length, num_beams=num_beams)
    raise ValueError(f"unknown back-translation backend {backend!r} (known: apertium, marian)")


def back_translate(texts: Sequence[str], translator: Translator, *, source: str, pivot: str,
                   batch_size: int) -> list[str]:
    """Round-trip ``texts`` through ``pivot`` in batches of ``batch_size`` non-empty texts.

    Output i belongs to input i. Whitespace-only texts come back as they were; others keep their leading
    and trailing whitespace, and a text the backend returns empty is kept as it was.
    """
    parts = [flatten(t) for t in texts]
    todo = [i for i, (_, core, _) in enumerate(parts) if core]
    out = list(texts)
    for start in range(0, len(todo), max(1, batch_size)):
        chunk = todo[start : start + batch_size]
        translated = translator.round_trip([parts[i][1] for i in chunk], source, pivot)
        if len(translated) != len(chunk):  # a backend broke the contract: fail loudly, never misalign
            raise RuntimeError(f"{translator.name} returned {len(translated)} texts for {len(chunk)}")
        for i, new in zip(chunk, translated):
            new = match_style(parts[i][1], new)
            if new:
                lead, _, trail = parts[i]
                out[i] = lead + new + trail
    return out


def match_style(source: str, translated: str) -> str:
    """Give a translation the surface style of its source.

    Translation engines capitalise sentence starts and leave double spaces where they drop a word; corpora like
    the EDA datasets are lower-cased with single spaces, and an augmented copy that differs from its source in
    casing alone teaches a model nothing but a shortcut.
    """
    out = " ".join(translated.split())
    if source == source.lower():
        out = out.lower()
    return out


WH_WORDS = frozenset({"what", "which", "who", "whom", "whose", "when", "where", "why", "how"})


def _wh(text: str) -> list[str]:
    return [w for w in re.findall(r"[^\W\d_]+", text.lower()) if w in WH_WORDS]


class GuardSettings(Protocol):
    """The guard's settings, as the ops that rewrite a whole text take them (augment.ops.guard_params)."""

    guard: bool
    min_similarity: float
    length_ratio: tuple[float, float]
    allow_wh_change: bool
    min_zipf: float


def judge(p: GuardSettings, source: str, output: str, *, lang: str) -> str | None:
    """:func:`guard` with an op's settings (None when ``p.guard`` is off)."""
    if not p.guard:
        return None
    return guard(source, output, min_similarity=p.min_similarity, length_ratio=p.length_ratio,
                 keep_wh=not p.allow_wh_change, min_zipf=p.min_zipf, lang=lang)


def guard(source: str, output: str, *, min_similarity: float = 0.3, length_ratio: tuple[float, float] = (0.5, 2.0),
          keep_wh: bool = True, min_zipf: float = 0.0, lang: str = "en") -> str | None:
    """Why a round trip is not worth keeping ("unchanged", "length", "similarity", "protected", "wh-word",
    "untranslated"), or None when it is: an output equal to its source, one that lost or invented much of it
    (word-count ratio outside ``length_ratio``, character similarity under ``min_similarity``), one that broke
    a number, URL or other protected token, one that changed the question word ("what" -> "which" can change
    the class of a question), or one with a word the source does not have that is rarer in English than
    ``min_zipf`` in language ``lang`` (wordfreq's two-letter code; the check is skipped for a language
    wordfreq does not cover): a pivot-language word the way back left as it was (Esperanto "vinjarajn")."""
    if output == source:
        return "unchanged"
    ratio = len(output.split()) / max(1, len(source.split()))
    if not length_ratio[0] <= ratio <= length_ratio[1]:
        return "length"
    if min_similarity > 0 and difflib.SequenceMatcher(None, source, output, autojunk=False).ratio() < min_similarity:
        return "similarity"
    for token, n in Counter(m.group(0).rstrip(".,;:!?") for m in PROTECTED_RE.finditer(source)).items():
        if output.count(token) < n:
            return "protected"
    if keep_wh and _wh(source) != _wh(output):
        return "wh-word"
    if min_zipf > 0 and _untranslated(source, output, min_zipf, lang):
        return "untranslated"
    return None


@lru_cache(maxsize=1)
def _wordfreq_languages() -> frozenset[str]:
    from wordfreq import available_languages

    return frozenset(available_languages())


def _untranslated(source: str, output: str, min_zipf: float, lang: str) -> bool:
    if lang not in _wordfreq_languages():
        return False
    from wordfreq import zipf_frequency

    known = set(re.findall(r"[^\W\d_]+", source.lower()))
    return any(zipf_frequency(w, lang) < min_zipf
               for w in dict.fromkeys(re.findall(r"[^\W\d_]+", output.lower())) if w not in known)
