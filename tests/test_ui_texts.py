"""The admin UI's texts: every language says everything English says, with the same
placeholders, so no page shows a missing or broken text in ro or ru."""

from __future__ import annotations

import re

from admin.web.texts import LANGUAGES, TEXTS, choose_language, text

PLACEHOLDER = re.compile(r"{(\w+)}")


def test_every_language_has_every_english_key_with_the_same_placeholders() -> None:
    english = TEXTS["en"]
    for lang in LANGUAGES:
        assert set(TEXTS[lang]) == set(english), lang
        for key, value in english.items():
            assert set(PLACEHOLDER.findall(TEXTS[lang][key])) == set(
                PLACEHOLDER.findall(value)), (lang, key)


def test_the_language_comes_from_the_cookie_then_accept_language() -> None:
    assert choose_language("ru", "ro-MD,ro;q=0.9") == "ru"
    assert choose_language(None, "ro-MD,ro;q=0.9,en;q=0.5") == "ro"
    assert choose_language("xx", None) == "en"
    assert text("ro", "login_throttled", seconds=4) == (
        "Prea multe încercări eșuate. Reîncercați peste 4 secunde.")
