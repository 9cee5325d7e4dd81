"""The words free text may keep: a German dictionary, the twin's own vocabulary, minus names.

Three sources, loaded once per process on first use:

- the German word list of Debian's ``wngerman`` (``/usr/share/dict/ngerman``, 356,000 word
  forms; ``scripts/setup_dictionary.sh`` installs it, ``TWIN_DICTIONARY`` points elsewhere).
  Missing at run time is an error (:class:`twin.errors.ConfigurationError`): without it
  nothing could be published, and publishing unfiltered text is never the fallback;
- ``config/vocabulary.yml``: words of street damage and of Cottbus (streets, districts), units,
  street words, and the fixed categories and Open311 service codes;
- first names (those used in Germany, Poland, Czechia, Turkey, the Arab countries... from the
  ``gender-guesser`` package's name list), which are taken *out* of the dictionary: ngerman
  holds Herbert, Peter, Klaus, Helga. A name that is also a German noun (it has plural forms
  in the dictionary: Rose/Rosen, Ende/Enden, Rand/Ränder) stays a word.

Lookups are cached; a word is checked as written, in lower case, and as a compound of two
dictionary words (Gehweg + platte, Straßen + rand), since German builds words the dictionary
cannot list.

Building the lists takes about a second of CPU (the name list is parsed line by line, every
dictionary word is normalised), and every process that masks a message needs them: each `twin
load` with a note, each server worker. So the built lists are kept in a file of
:func:`twin.cache.cache_dir` named by a digest of everything they are built from (the
dictionary's path, size and time, ``config/vocabulary.yml``, the name list, this module's
code); any change of those makes a new file, and a missing dictionary is still an error
before the cache is looked at.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import re
import sys
import tempfile
import unicodedata
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import yaml

from twin.cache import cache_dir, private_cache_dir
from twin.errors import ConfigurationError

#: Debian's plain German word list (package wngerman).
DEFAULT_DICTIONARY = Path("/usr/share/dict/ngerman")
VOCABULARY_FILE = Path(__file__).resolve().parent.parent / "config" / "vocabulary.yml"
#: Shortest part of a compound that counts (shorter ones match too much: "ab", "er").
_MIN_PART = 3
#: Letters that join the parts of a compound (Verkehr-s-insel, Straße-n-rand).
_LINKS = ("", "s", "es", "n", "en", "e")
_UMLAUT = str.maketrans("aouAOU", "äöüÄÖÜ")


def fold(text: str) -> str:
    """Text as matched against fixed values: NFKC, case-folded, letters and digits only."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("ß", "ss")
    return re.sub(r"[\W_]+", "", text)


@dataclass(frozen=True)
class Vocabulary:
    """The word lists, read once."""

    words: frozenset[str]  # dictionary and domain words, as written
    lower: frozenset[str]  # the same, lower case
    names: frozenset[str]  # first names that are not nouns, lower case
    units: frozenset[str]  # lower case
    street_words: tuple[str, ...]  # lower case, longest first
    street_adjectives: frozenset[str]
    street_prepositions: tuple[str, ...]  # lower case, longest first
    places: frozenset[str]  # lower case, with their -er adjectives
    streets: frozenset[str]  # folded
    categories: dict[str, str]  # folded spelling -> published category
    service_codes: frozenset[str]


def dictionary_path() -> Path:
    """Where the German word list is: ``TWIN_DICTIONARY`` or Debian's ngerman."""
    return Path(os.environ.get("TWIN_DICTIONARY") or DEFAULT_DICTIONARY)


def _read_dictionary(path: Path) -> set[str]:
    if not path.is_file():
        raise ConfigurationError(
            f"the German word list {path} is missing; free text cannot be published without "
            "it. Install it with scripts/setup_dictionary.sh (Debian package wngerman) or set "
            "TWIN_DICTIONARY")
    with path.open(encoding="utf-8") as fh:
        words = {unicodedata.normalize("NFKC", line.strip()) for line in fh}
    words.discard("")
    if len(words) < 10_000:
        raise ConfigurationError(f"the German word list {path} holds only {len(words)} words")
    return words


#: Countries (of the name list) whose first names Cottbus meets: German, Sorbian and Polish
#: names above all, and those of the larger groups that moved here.
NAME_COUNTRIES = ("germany", "austria", "swiss", "east_frisia", "poland", "czech_republic",
                  "slovakia", "russia", "ukraine", "belarus", "turkey", "arabia", "the_stans")


def _first_names() -> set[str]:
    """First names (lower case) of the gender-guesser name list used in NAME_COUNTRIES."""
    from gender_guesser.detector import Detector

    detector = Detector(case_sensitive=False)
    columns = [detector.COUNTRIES.index(c) for c in NAME_COUNTRIES]
    names: set[str] = set()
    for name, by_gender in detector.names.items():
        if any(len(freq) > i and freq[i].strip() for freq in by_gender.values()
               for i in columns):
            names.update(p for p in re.split(r"[+\s-]+", name) if len(p) > 1)
    return names


def _is_noun(word: str, words: set[str]) -> bool:
    """True when the dictionary has plural forms of a capitalised ``word`` (Rose -> Rosen)."""
    umlauted = word[::-1].replace("a", "ä", 1).replace("o", "ö", 1).replace("u", "ü", 1)[::-1]
    forms = [word + s for s in ("e", "en", "n", "er")]
    forms += [umlauted + s for s in ("e", "er", "en")] if umlauted != word else []
    return any(f in words for f in forms) or word.lower() in words


def _adjectives(places: list[str]) -> set[str]:
    """Place names and their -er adjectives: Sandow -> Sandower, Branitz -> Branitzer."""
    out: set[str] = set()
    for place in places:
        for part in re.split(r"[\s-]+", place):
            out.update({part.lower(), part.lower() + "er",
                        part.lower().removesuffix("e") + "er"})
    return out


def _cache_file(dictionary: Path) -> Path:
    """The cache file of the vocabulary built from ``dictionary`` and the other sources."""
    digest = hashlib.sha256()
    stat = dictionary.stat()  # a missing dictionary raises here: the caller reports it
    digest.update(f"{dictionary.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|".encode())
    digest.update(f"{sys.version_info[:2]}|{NAME_COUNTRIES}|".encode())
    spec = find_spec("gender_guesser")
    names = Path(spec.origin).parent / "data" / "nam_dict.txt" if spec and spec.origin else None
    if names is not None and names.is_file():
        digest.update(f"{names.stat().st_size}|{names.stat().st_mtime_ns}|".encode())
    for source in (VOCABULARY_FILE, Path(__file__)):
        digest.update(source.read_bytes())
    return cache_dir() / f"vocabulary-{digest.hexdigest()[:32]}.pickle"


@functools.cache
def vocabulary() -> Vocabulary:
    """The vocabulary of this process (read on first use, from the cache when it holds one
    built from the same sources).

    Raises
    ------
    ConfigurationError
        The dictionary or config/vocabulary.yml is missing or broken.
    """
    path = dictionary_path()
    if not path.is_file():
        return _build(path)  # raises the ConfigurationError that names the file
    try:
        cached = _cache_file(path)
    except OSError:  # config/vocabulary.yml unreadable: _build says so
        return _build(path)
    try:
        # Our own file, in the user's cache directory (created private below), as Python
        # trusts its own __pycache__.
        with cached.open("rb") as fh:
            found = pickle.load(fh)
        if isinstance(found, Vocabulary):
            return found
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError):
        pass  # no cache yet, or a broken one: build and write it again
    built = _build(path)
    _write_cache(cached, built)
    return built


def _write_cache(path: Path, vocab: Vocabulary) -> None:
    """Store ``vocab`` at ``path`` atomically (several processes may build at once); a cache
    that cannot be written is only slower. Files of other sources are left: another checkout
    of the twin may use them (each is about 11 MB)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=private_cache_dir(), prefix=".vocabulary-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(vocab, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass


def _build(dictionary: Path) -> Vocabulary:
    """The vocabulary built from its sources (about a second of CPU)."""
    words = _read_dictionary(dictionary)
    try:
        spec = yaml.safe_load(VOCABULARY_FILE.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"{VOCABULARY_FILE}: cannot read the vocabulary ({exc})") \
            from exc
    domain = {unicodedata.normalize("NFKC", str(w)) for w in spec["words"]}
    places = [str(p) for p in spec["places"]]
    streets = [str(s) for s in spec["streets"]]
    names = {n for n in _first_names()
             if n.capitalize() not in domain and not _is_noun(n.capitalize(), words)}
    # A name the dictionary lists only as a name (Herbert, Helga) leaves it.
    words -= {w for w in words if w[:1].isupper() and w.lower() in names}
    # Street names are matched whole (Karl-Marx-Straße), never part by part: Karl is a name.
    all_words = words | domain | {p for p in places for p in re.split(r"[\s-]+", p)}
    categories: dict[str, str] = {}
    for category, spellings in spec["categories"].items():
        for spelling in [category, *(spellings or [])]:
            categories[fold(str(spelling))] = str(category)
    return Vocabulary(
        words=frozenset(all_words),
        # The same string objects where lower case changes nothing (most words): the cache
        # file then holds them once.
        lower=frozenset(w if (low := w.lower()) == w else low for w in all_words),
        names=frozenset(names),
        units=frozenset(str(u).lower() for u in spec["units"]),
        street_words=tuple(sorted((str(w).lower() for w in spec["street_words"]),
                                  key=len, reverse=True)),
        street_adjectives=frozenset(str(a) for a in spec["street_adjectives"]),
        street_prepositions=tuple(sorted((str(p).lower() for p in spec["street_prepositions"]),
                                         key=len, reverse=True)),
        places=frozenset(_adjectives(places)),
        streets=frozenset(fold(s) for s in streets),
        categories=categories,
        service_codes=frozenset(str(c) for c in spec["service_codes"]),
    )


@functools.lru_cache(maxsize=200_000)
def is_word(token: str) -> bool:
    """True when ``token`` (letters, maybe with hyphens) may be published.

    A word passes when it is a dictionary or domain word (as written, or in lower case, as at
    the start of a sentence or in a shouted text), or a compound of two of them; a first name
    written with a capital never does, and neither does a hyphenated word with a part that
    does not pass.
    """
    v = vocabulary()
    if fold(token) in v.streets:  # a street of Cottbus, written as one word (Karl-Marx-Straße)
        return True
    if "-" in token:
        parts = [p for p in token.split("-") if p]
        return bool(parts) and all(is_word(p) for p in parts)
    lower = token.lower()
    if lower in v.names and token[:1].isupper():
        return False
    if token in v.words or lower in v.lower:
        return True
    return _compound(lower)


def _compound(lower: str) -> bool:
    """True when ``lower`` is two dictionary words joined (maybe with a linking letter)."""
    v = vocabulary()
    if len(lower) < 2 * _MIN_PART + 1:
        return False
    for cut in range(_MIN_PART, len(lower) - _MIN_PART + 1):
        head, tail = lower[:cut], lower[cut:]
        if tail not in v.lower or tail in v.names:
            continue
        for link in _LINKS:
            if link and not head.endswith(link):
                continue
            stem = head[: len(head) - len(link)] if link else head
            if len(stem) >= _MIN_PART and stem in v.lower and stem not in v.names:
                return True
    return False


def is_unit(token: str) -> bool:
    """True when ``token`` is a unit of measurement (cm, m², km/h, %...)."""
    return token.lower() in vocabulary().units
