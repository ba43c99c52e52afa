"""Part of speech in context: the Apertium English tagger, read word by word for the word ops.

A synonym index cannot know which part of speech a word has in *this* sentence ("the lead pipe" / "they
lead"; "I am going to watch" is a future, not a journey). Apertium's English analyser and HMM tagger (Debian
``apertium-eng-spa``, the back-translation pair: no download) can::

    lt-proc -z eng-spa.automorf.bin | apertium-tagger -z -g -p eng-spa.prob
    "I am going to watch"  ->  ^I/prpers<prn>...$ ^am/be<vbser><pri><p1><sg>$ ^going/go<vblex><ger>$ ...

and its generator (``spa-eng.autogen.bin``) inflects a lemma to a tag: ``^go<vblex><ger>$`` -> ``going``.

Both run as long-lived processes, one pair per worker process, in null-flush mode (``-z``): each text is one
block ended by a NUL, and a batch costs one round trip instead of a process start. A text's tags are those a
freshly started tagger gives it alone, whatever the batch or the worker: the tagger changes its own state when
it meets an ambiguity class its model lacks and says so on stderr, and the texts it was disturbed by are
tagged again from a fresh process (:meth:`Tagger.tag`). :func:`readings` turns the tags into what a word op may change: for each word
of :data:`augment.text.tokens.WORD_RE`, a :class:`Reading` (lemma, WordNet part of speech, Apertium tags) or
None where the word must stay. None is given to proper nouns, words the tagger does not know, every token of
a run of capitalised words (and any capitalised word mid-sentence), auxiliaries, modals, determiners,
pronouns, prepositions, conjunctions, and the words of fixed expressions: ``be going to`` + verb, phrasal
verbs and their particles ("gave up", "gave it up"), "have to"/"used to", "kind of", and a verb reading right
after a determiner ("a saw"), which the tagger sometimes gets wrong.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Container, Sequence

from augment.text.backtranslate import BackendUnavailableError
from augment.text.tokens import WORD_RE

__all__ = ["Reading", "Tagger", "get_tagger", "tagger_available", "readings", "apertium_dir", "INSTALL_HINT"]

INSTALL_HINT = ("apt-get install apertium apertium-eng-spa (or point $AUGMENT_APERTIUM_ENG at a folder with "
                "eng-spa.automorf.bin, eng-spa.prob and spa-eng.autogen.bin), or set context: false")
_FILES = ("eng-spa.automorf.bin", "eng-spa.prob", "spa-eng.autogen.bin")
_SPECIAL = re.compile(r"([\\^$/<>@\[\]{}*#+~|])")
_UNIT = re.compile(r"\^((?:\\.|[^\\/$])*)/((?:\\.|[^\\$])*)\$")
_UNESCAPE = re.compile(r"\\(.)")
_TAG = re.compile(r"<([^>]*)>")
_REPORTED = re.compile(rb"^Word '(.*)'\.\r?$", re.M)  # apertium-tagger -d naming a word of a new ambiguity class


@dataclass(frozen=True)
class Reading:
    """What the tagger says a word is: its ``lemma`` (lower case), WordNet part of speech ``pos`` ("n", "v",
    "a", "r") and Apertium ``tags`` ("<vblex><pri><p3><sg>"), which the generator inflects a synonym to."""

    lemma: str
    pos: str
    tags: str


def apertium_dir() -> Path:
    return Path(os.environ.get("AUGMENT_APERTIUM_ENG", "/usr/share/apertium/apertium-eng-spa"))


def tagger_available() -> bool:
    folder = apertium_dir()
    return all((folder / f).is_file() for f in _FILES) and all(
        shutil.which(b) for b in ("lt-proc", "apertium-tagger"))


class _Pipe:
    """A long-lived null-flush pipeline: write a block and a NUL, read up to the NUL that ends its answer."""

    def __init__(self, commands: list[list[str]], watch_stderr: bool = False):
        """``watch_stderr``: the last process's stderr is kept (non-blocking) for :meth:`said`."""
        self.procs: list[subprocess.Popen] = []
        stdin = subprocess.PIPE
        for n, cmd in enumerate(commands):
            watched = watch_stderr and n == len(commands) - 1
            proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE if watched else subprocess.DEVNULL)
            if self.procs:
                self.procs[-1].stdout.close()  # the next process owns it now
            if watched:
                os.set_blocking(proc.stderr.fileno(), False)
            self.procs.append(proc)
            stdin = proc.stdout
        # Written with os.write when select says there is room, while the answers are read: one thread, and a
        # batch larger than the pipe buffers cannot deadlock.
        os.set_blocking(self.procs[0].stdin.fileno(), False)
        self.lock = threading.Lock()
        self.noise = bytearray()

    def _drain(self) -> int:
        """Read what the watched stderr holds now: the bytes read, 0 when none is waiting, -1 once closed."""
        try:
            data = os.read(self.procs[-1].stderr.fileno(), 1 << 16)
        except BlockingIOError:
            return 0
        except (OSError, ValueError):
            return -1
        if not data:
            return -1
        self.noise += data
        return len(data)

    def said(self) -> bytes:
        """What the watched process wrote to stderr since the last call. Anything it writes about a block is
        written before that block's answer ends, so after :meth:`ask` it is already in the pipe."""
        if self.procs[-1].stderr is None:
            return b""
        while self._drain() > 0:
            pass
        said, self.noise = bytes(self.noise), bytearray()
        return said

    def ask(self, blocks: Sequence[bytes]) -> list[bytes]:
        """One answer per block, in one round trip."""
        data = memoryview(b"".join(b + b"\n\0" for b in blocks))  # a block must not end at a "$" (lt-proc -g waits)
        with self.lock:
            first, last = self.procs[0], self.procs[-1]
            in_fd, out_fd = first.stdin.fileno(), last.stdout.fileno()
            err_fd = last.stderr.fileno() if last.stderr is not None else None
            chunks: list[bytes] = []
            seen = sent = 0
            # poll, not select: a process with many files open (a service) may hold descriptors above 1024
            poller = select.poll()
            poller.register(out_fd, select.POLLIN)
            if err_fd is not None:  # stderr is read too, so a talkative process never blocks on a full pipe
                poller.register(err_fd, select.POLLIN)
            writing = len(data) > 0
            if writing:
                poller.register(in_fd, select.POLLOUT)
            while seen < len(blocks):
                events = dict(poller.poll())
                if writing and in_fd in events:
                    try:
                        sent += os.write(in_fd, data[sent:sent + (1 << 16)])
                    except BlockingIOError:
                        pass
                    except OSError:  # the process died: stdout's EOF reports it
                        sent = len(data)
                    if sent >= len(data):
                        poller.unregister(in_fd)
                        writing = False
                if err_fd is not None and err_fd in events and self._drain() < 0:
                    poller.unregister(err_fd)
                    err_fd = None  # closed: the process is gone, stdout's EOF reports it
                if out_fd not in events:
                    continue
                chunk = os.read(out_fd, 1 << 16)
                if not chunk:
                    raise BackendUnavailableError("the Apertium tagger stopped unexpectedly; " + INSTALL_HINT)
                chunks.append(chunk)
                seen += chunk.count(b"\0")
        return b"".join(chunks).split(b"\0")[:len(blocks)]

    def close(self) -> None:
        for proc in self.procs:
            try:
                if proc.stdin:
                    proc.stdin.close()
                if proc.stderr:
                    proc.stderr.close()
                proc.kill()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass


def _escape(text: str) -> bytes:
    return _SPECIAL.sub(r"\\\1", text.replace("\0", " ")).encode("utf-8", "replace")


class Tagger:
    """The English analyser + tagger and the generator, each one long-lived process pair."""

    def __init__(self, folder: Path | None = None):
        folder = folder or apertium_dir()
        if not tagger_available() and folder == apertium_dir():
            raise BackendUnavailableError("part of speech in context needs the Apertium English tagger: "
                                          + INSTALL_HINT)
        self._folder = folder
        self._analyse = _Pipe([["lt-proc", "-z", "-w", str(folder / "eng-spa.automorf.bin")]])
        self._tag = self._start_tagging()
        self._spare: _Pipe | None = None
        self._gen = _Pipe([["lt-proc", "-z", "-g", str(folder / "spa-eng.autogen.bin")]])
        self._forms: dict[tuple[str, str], str | None] = {}
        self._disturbing: set[bytes] = set()  # "^word/" of the words the tagger reported (see _tagged())
        self._disturbing_re: re.Pattern[bytes] | None = None
        self._lock = threading.Lock()
        self.renewals = 0

    def _start_tagging(self) -> _Pipe:
        # Its own process, apart from the analyser: only the tagger ever needs a fresh start (~10 ms of CPU,
        # the analyser's dictionary takes five times that). -d: it says on stderr when a word has an ambiguity
        # class its model lacks (see _tagged()).
        return _Pipe([["apertium-tagger", "-z", "-d", "-g", "-p", str(self._folder / "eng-spa.prob")]],
                     watch_stderr=True)

    def _renew(self) -> None:
        """A fresh tagger in place of the current one; the next is started now, so it has loaded its model by
        the time it is needed."""
        self._tag.close()
        self._tag = self._spare or self._start_tagging()
        self._spare = self._start_tagging()
        self.renewals += 1

    def tag(self, texts: Sequence[str]) -> list[list[tuple[int, int, str, str]]]:
        """Per text, its tagger units as (start, end, surface, analysis), with character offsets in the text:
        what a freshly started tagger gives for that text alone, whatever the batch."""
        # Each text ends with a full stop of its own, so it starts after a sentence end, as the first text of a
        # fresh tagger does (the HMM's state at a block's end is that of its last tag).
        with self._lock:
            analysed = self._analyse.ask([_escape(t) + b" ." for t in texts])
            answers = self._tagged([a.rstrip(b"\n") for a in analysed])
        return [_units(text, answer.decode("utf-8", "replace")) for text, answer in zip(texts, answers)]

    def _tagged(self, blocks: list[bytes]) -> list[bytes]:
        # apertium-tagger (3.8) keeps one piece of state for its whole life: the first time a word has an
        # ambiguity class its model lacks ("a lot of": adjective or quantifier), find_similar_ambiguity_class()
        # assigns a smaller known class through a *reference* to the class it gives unknown words, so from then
        # on every unknown word ("gorgeously") is tagged with a different class and its neighbours may change
        # ("elaborate" present -> infinitive). A text's tags then depended on which texts a worker had tagged
        # before it (~1 in 100 SST-2 texts has such a word). The tagger reports every such word on stderr (-d,
        # "Word 'a lot of'."): until the first text that holds a reported word, the tagger was in its fresh
        # state, and that text too was tagged as it is alone. So its answers up to that text are kept, a fresh
        # tagger takes the rest, and so on: one round trip per disturbing text. The words are remembered, so a
        # later batch is cut after each text that holds one before it is sent.
        out: list[bytes] = []
        at = 0
        while at < len(blocks):
            end = self._next_disturbing(blocks, at)
            answers = self._tag.ask(blocks[at:end + 1])
            said = self._tag.said()
            if not said:
                out.extend(answers)
                at = end + 1
                continue
            self._renew()
            keys = [b"^" + _escape(w.decode("utf-8", "replace")) + b"/" for w in _REPORTED.findall(said)]
            if keys:
                self._learn(keys)
            first = next((i for i in range(at, end + 1) if any(k in blocks[i] for k in keys)), None)
            if first is None:  # a report naming no text we sent: each text alone, from a fresh tagger
                for block in blocks[at:end + 1]:
                    out.extend(self._tag.ask([block]))
                    if self._tag.said():
                        self._renew()
                at = end + 1
                continue
            out.extend(answers[:first - at + 1])
            at = first + 1
        return out

    def _learn(self, keys: list[bytes]) -> None:
        if len(self._disturbing) > 100_000:
            self._disturbing.clear()
        self._disturbing.update(keys)
        self._disturbing_re = re.compile(b"|".join(re.escape(k) for k in sorted(self._disturbing)))

    def _next_disturbing(self, blocks: list[bytes], at: int) -> int:
        """The first text from ``at`` on that holds a word known to disturb the tagger (else the last)."""
        if self._disturbing_re is not None:
            search = self._disturbing_re.search
            for i in range(at, len(blocks)):
                if search(blocks[i]):
                    return i
        return len(blocks) - 1

    def generate(self, keys: Sequence[tuple[str, str]]) -> None:
        """Inflect (lemma, tags) pairs with the generator, one batch, into the cache read by :meth:`form`."""
        todo = [k for k in dict.fromkeys(keys) if k not in self._forms]
        if not todo:
            return
        answers = self._gen.ask([b"^" + _escape(lemma) + tags.encode() + b"$" for lemma, tags in todo])
        if len(self._forms) > 500_000:
            self._forms.clear()
        for key, answer in zip(todo, answers):
            out = answer.decode("utf-8", "replace").strip()
            ok = out and out[0] not in "#*@" and "<" not in out and "\\" not in out
            self._forms[key] = out.split("/")[0] if ok else None

    def form(self, lemma: str, tags: str) -> str | None:
        return self._forms.get((lemma, tags))

    def close(self) -> None:
        self._analyse.close()
        self._tag.close()
        if self._spare is not None:
            self._spare.close()
        self._gen.close()


_TAGGERS: dict[tuple[int, str], Tagger] = {}
_LOCK = threading.Lock()


def get_tagger() -> Tagger:
    """This process's tagger (started on first use; a forked worker starts its own)."""
    key = (os.getpid(), str(apertium_dir()))
    hit = _TAGGERS.get(key)
    if hit is None:
        with _LOCK:
            hit = _TAGGERS.get(key)
            if hit is None:
                hit = _TAGGERS[key] = Tagger()
    return hit


def _units(text: str, answer: str) -> list[tuple[int, int, str, str]]:
    out = []
    at = 0
    find, unescape = text.find, _UNESCAPE.sub
    for surface, analysis in _UNIT.findall(answer):  # one call, no match objects: a third of the parse time
        if "\\" in surface:
            surface = unescape(r"\1", surface)
        start = find(surface, at)
        if start < 0:
            break  # cannot place it: the rest of the text stays untagged, so unchanged
        at = start + len(surface)
        out.append((start, at, surface, unescape(r"\1", analysis) if "\\" in analysis else analysis))
    return out


# ------------------------------------------------------------------------------------------ words to change

_POS = {"n": "n", "vblex": "v", "adj": "a", "adv": "r"}
# Particles of phrasal verbs ("gave up", "gave it up") and of prepositional verbs ("looked at", "care for"):
# the verb and the particle are one unit of meaning, so neither is replaced.
PARTICLES = frozenset("up out off down away back over in on around round through along about apart aside "
                      "forward together at for with into after upon across by".split())
# Light verbs that make expressions rather than carry a sense ("get it", "let go", "have to").
_LIGHT = frozenset("be have do get let".split())
# Verbs of aspect before an -ing verb ("keep coming", "stop talking"): the pair is one expression ("hold getting",
# "block talking" are not English), so the aspect verb stays.
_ASPECT = frozenset("keep kept keeps keeping stop stops stopped stopping start starts started starting begin begins "
                    "began beginning continue continues continued continuing quit quits quitting finish finishes "
                    "finished finishing".split())
_FIXED_PAIRS = frozenset({("kind", "of"), ("sort", "of"), ("of", "course"), ("at", "least"), ("at", "all"),
                          ("as", "well"), ("right", "now"), ("so", "far"), ("a", "lot"), ("lot", "of"),
                          ("at", "first"), ("at", "last"), ("in", "fact"), ("no", "longer"), ("ought", "to"),
                          ("used", "to"), ("have", "to"), ("has", "to"), ("had", "to"), ("need", "to"),
                          ("going", "to"), ("gon", "na"), ("got", "to"), ("able", "to"), ("about", "to")})
_DETERMINERS = frozenset({"det", "predet"})
# Words that act as function words whatever the tagger calls them ("please close", "near the river").
_NEVER = frozenset("please near like so just only even also too very well then there here now ever never not "
                   "yet still else instead rather quite".split())
_SENTENCE_END = re.compile(r"[.!?:;\n\"“”]\s*$")


_PARSED: dict[str, tuple[str, list[str]] | None] = {}


def _analysis(analysis: str) -> tuple[str, list[str]] | None:
    """(lemma, tags) of one tagger analysis, or None for what no word op reads. Analyses repeat ("the<det>
    <def><sp>"), so each is parsed once (bounded); the lists returned are shared, never changed."""
    try:
        return _PARSED[analysis]
    except KeyError:
        pass
    if len(_PARSED) > 200_000:
        _PARSED.clear()
    out = _PARSED[analysis] = _parse_analysis(analysis)
    return out


def _parse_analysis(analysis: str) -> tuple[str, list[str]] | None:
    if analysis[:1] == "*":
        return "", ["unknown"]  # never replaced, but an unknown word before a noun is likely an adjective
    if not analysis or analysis[0] in "#@" or "+" in analysis or "#" in analysis:
        return None
    cut = analysis.find("<")
    if cut <= 0:
        return None
    return analysis[:cut], _TAG.findall(analysis[cut:])


def readings(text: str, units: list[tuple[int, int, str, str]],
             adjectives: "Container[str] | None" = None,
             verbs: "Container[str] | None" = None,
             known: "Container[str] | None" = None) -> list[Reading | None]:
    """For each word of ``WORD_RE.split(text)``, the :class:`Reading` that a word op may replace, or None.
    ``adjectives``: words that are adjectives as written ("boring", "tired"), for the be + -ing/-ed rule.
    ``verbs``: lemmas that are also verbs, for the verbless-sentence rule (:func:`_misread_verbs`); ``known``:
    English words (WordNet, any form), for names in text without capitals (:func:`_lowercase_names`)."""
    pieces = WORD_RE.split(text)
    n = len(pieces) // 2
    out: list[Reading | None] = [None] * n
    if not units:
        return out
    by_start = {u[0]: u for u in units}
    at = 0
    word_unit: list[tuple[str, list[str]] | None] = [None] * n
    starts = [0] * n
    for i, piece in enumerate(pieces):
        if i % 2:
            k = i // 2
            starts[k] = at
            unit = by_start.get(at)
            if unit is not None and unit[1] == at + len(piece):
                word_unit[k] = _analysis(unit[3])
        at += len(piece)
    words = pieces[1::2]
    lower = [w.lower() for w in words]
    shouting = not any(c.islower() for c in text)
    opens = [k == 0 or _SENTENCE_END.search(pieces[2 * k]) is not None for k in range(n)]  # word k starts a sentence
    misread = _misread_verbs(opens, word_unit, verbs) if verbs is not None else ()
    unseen_names = _lowercase_names(opens, words, lower, word_unit, known) if not shouting else ()
    for k in range(n):
        parsed = word_unit[k]
        if parsed is None or k in misread or k in unseen_names:
            continue
        lemma, tags = parsed
        pos = _POS.get(tags[0]) if tags else None
        if pos is None or not lemma.replace(" ", "").replace("-", "").isalpha():
            continue
        word = words[k]
        if not shouting and not word.islower():
            next_capital = k + 1 < n and words[k + 1][:1].isupper() and words[k + 1] != "I" and not opens[k + 1]
            if not opens[k] or next_capital or (word.isupper() and len(word) > 1):
                continue  # a name, a title, an acronym: any token of a capitalised run
        low = lower[k]
        nxt = lower[k + 1] if k + 1 < n else ""
        prev = lower[k - 1] if k else ""
        if (low, nxt) in _FIXED_PAIRS or (prev, low) in _FIXED_PAIRS or low in _NEVER:
            continue
        before = word_unit[k - 1] if k else None
        if pos == "n" and before is not None and before[1][:1] == ["prn"] and "pos" not in before[1]:
            continue  # "made me laugh" read as a noun: a noun does not follow an object pronoun
        if pos == "v" and ("ger" in tags or "pp" in tags) and before is not None and \
                before[1][:1] == ["vbser"] and adjectives is not None and low in adjectives:
            continue  # "was boring": progressive or adjective? both readings exist, so leave it
        if pos == "v":
            if lemma.lower() in _LIGHT:
                continue
            if low in _ASPECT and k + 1 < n and word_unit[k + 1] is not None and "ger" in word_unit[k + 1][1]:
                continue  # "keep coming"
            if nxt in PARTICLES or (k + 2 < n and lower[k + 2] in PARTICLES and _is_pronoun(word_unit[k + 1])):
                continue  # phrasal verb: "gave up", "gave it up"
            j = k - 1
            while j >= 0 and word_unit[j] is not None and word_unit[j][1][0] in ("adj", "unknown"):
                j -= 1
            if j >= 0 and word_unit[j] is not None and word_unit[j][1][:1] and word_unit[j][1][0] in _DETERMINERS:
                continue  # "a saw", "a rusty saw" tagged as a verb: the tagger is wrong here, so leave it
        if pos == "r" and low in PARTICLES:
            continue
        if pos in ("r", "a") and k and lower[k - 1] in PARTICLES and word_unit[k - 1] is not None \
                and word_unit[k - 1][1][:1] == ["adv"]:
            continue
        if low in PARTICLES and k and _verb(word_unit[k - 1]):
            continue
        out[k] = Reading(lemma.lower(), pos, "".join(f"<{t}>" for t in tags))
    return out


# Common first names, among them those that are also English words ("frank miller", "will smith", "mark strong"):
# in text without capitals the tagger reads them as words (or a dictionary name such as "john" as a noun), and the
# surname after them as an ordinary noun or adjective.
_FIRST_NAMES = frozenset(
    "will frank grace mark rose bill jack faith hope joy dawn summer ruby pearl iris lily daisy holly ivy victor guy "
    "earl chase hunter carter mason cooper taylor tucker wade miles reed rich rusty sandy april may june art bob bud "
    "buck chuck cliff dean drew gene glen grant gray jay lance pat ray rob rod sue ted don nick max sterling robin "
    "penny crystal amber heather dusty woody forest river sky august autumn kitty angel melody harmony destiny "
    "christian norman brandy ginger jewel hazel olive violet heath "
    "john james robert michael david richard joseph thomas charles christopher daniel matthew anthony donald steven "
    "paul andrew joshua kenneth kevin brian george edward ronald timothy jason jeffrey ryan jacob gary nicholas eric "
    "jonathan stephen larry justin scott brandon benjamin samuel gregory alexander raymond patrick dennis jerry "
    "tyler aaron adam henry nathan douglas peter kyle walter ethan jeremy harold keith roger noah gerald carl terry "
    "sean austin arthur lawrence jesse dylan bryan joe jordan billy bruce albert willie gabriel logan alan wayne roy "
    "ralph randy eugene vincent russell louis bobby philip johnny hugh jude tom tim sam ben dan matt mike steve chris "
    "tony harry jim clint denzel brad leonardo kate mary patricia jennifer linda elizabeth barbara susan "
    "jessica sarah karen nancy lisa betty margaret sandra ashley kimberly emily donna michelle dorothy carol amanda "
    "melissa deborah stephanie rebecca sharon laura cynthia kathleen amy shirley angela helen anna brenda pamela "
    "nicole emma samantha katherine christine rachel catherine carolyn janet ruth maria diane virginia julie joyce "
    "victoria olivia kelly christina lauren joan evelyn judith megan cheryl andrea hannah martha frances gloria ann "
    "teresa sara alice julia judy denise marilyn danielle sophia marie diana natalie charlotte meryl "
    "julianne cate halle reese renee jean".split())


def _lowercase_names(opens: list[bool], words: list[str], lower: list[str], word_unit: list,
                     known: "Container[str] | None") -> set[int]:
    """Words of likely names in a text whose capitals say nothing about names (no capitalised word other than "I"
    and sentence starts: lower-cased corpora such as SST-2, typed chat). There the tagger does not know most names
    ("*hanks", "*damme") and reads the others as words ("frank miller": an adjective and a noun). A common first
    name with the word after it ("frank miller", "will smith", "emma stone"), and a word next to one that neither the
    tagger nor WordNet (``known``) knows ("van damme", "chris rock"), are left alone. (Most words the tagger does
    not know are ordinary ones its dictionary lacks: "fascinating", "screenplay".)"""
    n = len(words)
    if any(word[:1].isupper() and word != "I" and not word.startswith("I'") and not opens[k]
           for k, word in enumerate(words)):
        return set()  # capitals mark names here: the capitalised-run rule covers them
    out: set[int] = set()
    for k in range(n):
        joined_to_next = k + 1 < n and not opens[k + 1]
        if _head(word_unit[k]) == "unknown" and len(words[k]) > 2 and words[k].replace("-", "").isalpha() \
                and known is not None and lower[k] not in known:
            if not opens[k]:
                out.add(k - 1)
            if joined_to_next:
                out.add(k + 1)
        if lower[k] in _FIRST_NAMES and joined_to_next and _head(word_unit[k + 1]) in ("n", "np", "adj", "unknown"):
            out.update((k, k + 1))
    return out


_VERB_HEADS = frozenset({"vblex", "vbser", "vbhaver", "vbmod", "vaux", "vbdo"})
_NOUN_HEADS = frozenset({"n", "np", "unknown"})


def _misread_verbs(opens: list[bool], word_unit: list, verbs: "Container[str]") -> set[int]:
    """Words of a sentence the tagger left without a verb that are likely its verb, misread as a noun ("The film
    stars Tom Hanks", "The actor stars in three films", "The novel lacks depth": star/lack as plural nouns, and
    then "novel" as an adjective). A plural noun whose lemma is also a verb (the verb's -s form), right after a
    noun or after a determiner + adjective, or such a singular noun right after a plural one ("dogs bark"), is
    where the verb would be: it (and that adjective) stay unchanged. A fragment with no verb ("a great film.",
    "the stars of the show") has no such noun and keeps every reading."""
    out: set[int] = set()
    cuts = [k for k, opened in enumerate(opens) if opened] + [len(opens)]
    for first, end in zip(cuts, cuts[1:]):
        if any(_head(word_unit[k]) in _VERB_HEADS for k in range(first, end)):
            continue
        for k in range(first + 1, end):
            unit, before = word_unit[k], word_unit[k - 1]
            if _head(unit) != "n" or unit[0].lower() not in verbs:
                continue
            plural = "pl" in unit[1]  # "stars": a verb's -s form; a singular after a plural subject: "dogs bark"
            if _head(before) in _NOUN_HEADS and (plural or "pl" in before[1]):
                out.add(k)
            elif _head(before) == "adj" and plural and k - 2 >= first and _head(word_unit[k - 2]) in _DETERMINERS:
                out.update((k, k - 1))
    return out


def _head(unit: tuple[str, list[str]] | None) -> str | None:
    """The first tag of a parsed unit (its part of speech: "n", "vblex", "unknown"), or None."""
    return unit[1][0] if unit is not None and unit[1] else None


def _is_pronoun(parsed: tuple[str, list[str]] | None) -> bool:
    return parsed is not None and parsed[1][:1] == ["prn"]


def _verb(parsed: tuple[str, list[str]] | None) -> bool:
    return parsed is not None and parsed[1][:1] == ["vblex"]
