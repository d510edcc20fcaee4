#!/usr/bin/env python3
"""Regenerates src/classify/data/{given,family}_names.txt from Faker's person providers.

Source: the `Faker` package on PyPI (MIT licence, notice in src/classify/data/NAMES-LICENSE),
its `faker/providers/person/<locale>/__init__.py` name lists for every locale. Run:

    pip download faker==37.12.0 --no-deps -d /tmp/faker && cd /tmp/faker && unzip -q faker-*.whl
    python3 scripts/gen-name-gazetteer.py /tmp/faker

Each output line is one name token, lowercased with Latin diacritics kept (the classifier
folds both sides the same way at load), sorted by UTF-8 bytes, unique. Multi-word entries
("van den Brand", "Juan Manuel") are split into tokens; particles and one-letter tokens (except
Han, Kana and Hangul ones) are dropped, and so are tokens that are far more often ordinary words or places than names
(STOP below), because the value detector reads unkeyed strings.
"""

import importlib
import os
import sys
import unicodedata

STOP = {
    # particles
    "van", "von", "de", "der", "den", "da", "di", "del", "della", "la", "le", "bin", "binti", "al", "el",
    "ben", "ter", "ten", "dos", "das", "du", "y", "e", "zu", "mac", "mc", "st", "abu", "ibn", "bint",
    # words and places that Faker lists as names
    "missouri", "paris", "london", "india", "china", "may", "june", "april", "august", "will", "page",
    "summer", "winter", "autumn", "spring", "sunny", "london", "berlin", "florence", "sydney", "dallas",
    "austin", "phoenix", "houston", "denver", "boston", "chelsea", "brooklyn", "madison", "jordan",
    "asia", "africa", "america", "europe", "king", "queen", "prince", "major", "general", "lord",
    "sale", "new", "free", "pro", "plus", "gold", "silver", "black", "white", "green", "brown", "gray",
    "grey", "red", "blue", "day", "night", "home", "love", "joy", "hope", "faith", "star", "sky",
    "mr", "mrs", "ms", "dr", "miss", "sir", "madam", "jr", "sr", "ii", "iii", "iv",
}


def values(x):
    if isinstance(x, dict):
        return list(x.keys())
    if isinstance(x, (list, tuple, set, frozenset)):
        return list(x)
    return []


def unspaced(t):
    return all(0x3040 <= ord(c) <= 0x30FF or 0x3400 <= ord(c) <= 0x9FFF or 0xAC00 <= ord(c) <= 0xD7AF for c in t)


def tokens(name):
    for t in name.replace("\u00a0", " ").split(" "):
        t = t.strip().strip(".,").lower()
        # One-character tokens only in Han, Kana and Hangul (王, 김, 健).
        if (len(t) < 2 and not unspaced(t)) or len(t) > 24 or t in STOP:
            continue
        # Letters and combining marks (Devanagari vowel signs and viramas are marks).
        if not all(unicodedata.category(c)[0] in "LM" or c in "-'’" for c in t):
            continue
        yield t


def main():
    root = sys.argv[1]
    sys.path.insert(0, root)
    base = os.path.join(root, "faker", "providers", "person")
    given, family = set(), set()
    for locale in sorted(os.listdir(base)):
        if locale.startswith("_"):
            continue
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attr in dir(provider):
            target = given if attr.startswith("first_name") else family if attr.startswith("last_name") else None
            if target is None:
                continue
            for name in values(getattr(provider, attr, None)):
                if isinstance(name, str):
                    target.update(tokens(name))
    out = os.path.join(os.path.dirname(__file__), "..", "src", "classify", "data")
    for fname, names in (("given_names.txt", given), ("family_names.txt", family)):
        with open(os.path.join(out, fname), "w", encoding="utf-8") as f:
            for n in sorted(names, key=lambda s: s.encode()):
                f.write(n + "\n")
        print(fname, len(names))


if __name__ == "__main__":
    main()
