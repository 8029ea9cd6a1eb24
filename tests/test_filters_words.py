"""Spanish-aware word splitting: ¿ ¡ « » are tokens of their own, accents, ñ and inner connectors stay in words."""

from tamiz.pipeline.document import DocView
from tamiz.pipeline.filters.words import (count_alpha, is_symbol, lines_of, split_tokens_words, split_words, tokens_of,
                                          words_of)


def test_spanish_punctuation_is_split_off_and_accents_stay():
    text = "¿Qué es «Debian»? ¡Hola, señor Ñúñez! El pingüino comió."
    assert split_words(text) == ["¿", "Qué", "es", "«", "Debian", "»", "?", "¡", "Hola", ",", "señor", "Ñúñez", "!",
                                 "El", "pingüino", "comió", "."]


def test_connectors_numbers_urls_options_and_emoji():
    text = "apt-get -i --help l'école 1.000,50 € 3,5% https://www.debian.org/doc/ foo@bar.es 😀🙂 hola... fin…"
    assert split_words(text) == ["apt-get", "-i", "--help", "l'école", "1.000,50", "€", "3,5%",
                                 "https://www.debian.org/doc", "/", "foo@bar.es", "😀", "🙂", "hola", "...", "fin", "…"]
    # paths and dot-files are one word; a comma between letters splits (only digits keep it inside a word)
    assert split_words("Edite /etc/apt/sources.list, ~/kernel y .bashrc (ver /usr/src).") == \
        ["Edite", "/etc/apt/sources.list", ",", "~/kernel", "y", ".bashrc", "(", "ver", "/usr/src", ")", "."]
    assert split_words("casa,perro") == ["casa", ",", "perro"]


def test_decomposed_accents_and_other_scripts_are_words():
    assert split_words("cafe\u0301 nin\u0303o") == ["café", "niño"]  # decomposed accents are composed (NFC)
    assert split_words("Привет мир 中文字符") == ["Привет", "мир", "中文字符"]


def test_symbols_words_and_alpha_counts():
    tokens, words = split_tokens_words("¿Año 2024? ¡Sí! 😀 -- ...")
    assert sorted(words) == ["2024", "Año", "Sí"]
    assert tokens == ["¿", "Año", "2024", "?", "¡", "Sí", "!", "😀", "--", "..."]
    assert count_alpha(words) == 2  # 2024 has no letter
    assert is_symbol("«") and is_symbol("😀") and is_symbol("...") and not is_symbol("2024")


def test_view_splits_once_per_text_and_follows_the_text():
    a = "uno dos tres\n¡cuatro!"
    view = DocView(a)
    assert view.derive(tokens_of) is view.derive(tokens_of)  # computed once, then shared
    assert view.derive(tokens_of) == split_words(a)
    assert sorted(view.derive(words_of)) == sorted(split_tokens_words(a)[1])
    assert view.derive(lines_of) == ["uno dos tres", "¡cuatro!"]
    view.follow(a)  # the same text: nothing is forgotten
    tokens = view.derive(tokens_of)
    view.follow("cuatro cinco")  # a mapper changed the text: nothing derived from the old one is read
    assert view.derive(tokens_of) == ["cuatro", "cinco"] and view.derive(words_of) == ["cuatro", "cinco"]
    assert tokens == ["uno", "dos", "tres", "¡", "cuatro", "!"]
    assert split_words(a) == ["uno", "dos", "tres", "¡", "cuatro", "!"]  # the functions of a text are pure


def test_view_of_a_text_is_reused_only_for_that_text():
    view = DocView("uno dos")
    assert DocView.of("uno dos", view) is view
    assert DocView.of("otro texto", view) is not view and view.text == "uno dos"
    assert DocView.of("uno dos").text == "uno dos"
