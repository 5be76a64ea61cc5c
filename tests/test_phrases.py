"""Infill's phrase rules (ctrlgen.oracles.phrases, ctrlgen.oracles.count_nouns, ctrlgen.oracles.name_runs and
wellformed's preposition rule): a noun phrase needs a noun, a count noun a determiner, a sentence a main verb, two
finite verbs something to join them, two names something between them, and no comma splits a subject from its
verb — only where a hole is involved."""

from __future__ import annotations

import pytest

from ctrlgen import Infill
from ctrlgen.constraints.base import ConstraintError
from ctrlgen.errors import CheckpointError, ConfigError
from ctrlgen.oracles.count_nouns import CountNouns, bundled_count_nouns
from ctrlgen.oracles.name_runs import run_on_names
from ctrlgen.oracles.phrases import parse_words, phrase_errors, phrase_errors_many
from ctrlgen.oracles.wellformed import fragment_errors
from ctrlgen.oracles.word_pairs import WordPairs
from ctrlgen.text.tokenizer import split_words


def _errors(text: str, free: list[int] | None) -> list[str]:
    return phrase_errors(split_words(text), free)


@pytest.mark.parametrize(("text", "free", "kind"), [
    ("The Eagle is a family friendly that serves Chinese food .", [5, 6], "noun phrase without a noun"),
    ("The Eagle is a kid friendly called The Plough .", [5, 6], "noun phrase without a noun"),
    ("The Otter is a friendly and is located near the river .", [5], "noun phrase without a noun"),
    ("It is a family friendly .", [4, 5], "noun phrase without a noun"),
    ("The Phoenix that is located near the river .", [1, 2, 3], "sentence without a main verb"),
    ("The House , is located near the river .", [1, 2, 3], "comma between the subject"),
    ("Clowns has a 3 out and serves Indian food .", [3, 4, 5], "noun phrase without a noun"),      # a particle
    ("A restaurant The Phoenix is located near the river .", [1, 2, 3, 4], "sentence without a main verb"),
    ("Highly rated The Phoenix is located near the river .", [1, 2, 3, 4], "sentence without a main verb"),
    ("A pub that is cheap .", [1, 2], "sentence without a main verb"),
    ("Alimentum is a restaurant is located near the river .", [1, 2, 3, 4], "two finite verbs"),
    ("There is a pub called Zizzi is near the river .", [4, 5], "two finite verbs"),
    ("The Vaults is on the riverside has a moderate price .", [3, 4, 5], "two finite verbs"),
])
def test_the_rules_fire_on_phrases_that_do_not_parse(text, free, kind):
    errors = _errors(text, free)
    assert errors and errors[0].startswith(kind), errors
    assert _errors(text, None) == errors  # every word free: the same finding


@pytest.mark.parametrize(("text", "free"), [
    ("The Eagle is a family friendly pub that serves Chinese food .", [5, 6, 7]),
    ("The Otter is a friendly and cheap pub near the river .", [5]),          # coordinated adjectives, then a noun
    ("It is a cheap , family friendly pub .", [4, 5, 6]),
    ("It is a pub close to the river .", [4, 5]),                             # an adjective phrase after the noun
    ("It has meals in the less than £20 price range .", [5, 6]),              # a comparative with "than"
    ("The food is a bit expensive .", [4, 5, 6]),                             # a measure, not a noun phrase head
    ("The Phoenix is located near the river .", [1, 2]),
    ("The pub , The Punter , is near the river .", [4, 5, 6]),                # an appositive between commas
    ("Zizzi , sited near the river , is a pub .", [1, 2, 3]),                 # a participle, not a finite verb
    ("Clowns has a 3 out of 5 rating .", [3, 4, 5]),                          # the particle has its object
    ("It is a cheap , not kid friendly pub .", [4, 5, 6]),                    # 'kid' mis-tagged: the parse's noun
    ("It is rated a 5 out of 5 .", [4, 5]),
    ("Located near the river , The Eagle is a pub .", [1, 2, 3]),             # a participle clause, then the verb
    ("Try the pub that is near the river .", [1, 2]),                         # an imperative is a main verb
    ("There is a pub called Zizzi near the river .", [4, 5]),                 # 'called': a participle
    ("The pub that is called Zizzi is near the river .", [4, 5, 6]),          # the first verb is subordinate
    ("It is not the type of place people bring their kids .", [5, 6, 7]),     # a relative clause without 'that'
    ("The food it has is good .", [2, 3, 4]),
    ("If you are hungry you can eat here .", [3, 4, 5]),
    ("It is a pub where food is cheap .", [4, 5, 6]),
    ("The Vaults is on the riverside and has a moderate price .", [5, 6, 7]),
])
def test_the_rules_do_not_fire_on_well_formed_phrases(text, free):
    assert _errors(text, free) == []


def test_a_run_on_verb_counts_only_where_a_hole_is_involved():
    text = "Alimentum is a restaurant is located near the river ."
    assert _errors(text, [3, 4]) and _errors(text, [5])
    assert _errors(text, [8, 9]) == []  # the run-on is the template's own


def test_only_phrases_that_touch_a_hole_count():
    text = "The Eagle is a family friendly that serves Chinese food ."
    assert _errors(text, [5, 6]) and _errors(text, [7])  # the hole is the phrase, or the word right after it
    assert _errors(text, [9]) == [] and _errors(text, [1, 2]) == []  # the headless phrase is the template's own


def test_infill_check_rejects_a_headless_fill_and_grammar_false_turns_the_rules_off():
    template = "The Eagle is a [MASK:2] that serves [MASK] food ."
    bad, good = "The Eagle is a family friendly that serves Chinese food .", \
        "The Eagle is a coffee shop that serves Chinese food ."
    assert Infill(template, pairs=None).satisfied([bad, good]) == [False, True]
    assert Infill(template, pairs=None, grammar=False, detector=None).satisfied([bad, good]) == [True, True]
    assert Infill(template).phrase_errors([bad, good])[1] == []
    assert Infill(template).score([bad]) == [1.0]  # score stays the share of template words in place


def test_a_batch_gives_what_each_sentence_gives_alone():
    sentences = [split_words(t) for t in ("The House , is located near the river .", "It is a cheap pub .",
                                          "The Phoenix that is located near the river .", "It is a family friendly .")]
    together = phrase_errors_many(sentences)
    assert together == [phrase_errors(s) for s in sentences]
    assert parse_words(sentences) == [parse_words([s])[0] for s in sentences]
    assert all(len(p.tags) == len(s) for p, s in zip(parse_words(sentences), sentences, strict=True))


def test_bad_input_is_a_typed_error():
    with pytest.raises(ConfigError, match="list of words"):
        phrase_errors("It is a pub .")
    with pytest.raises(ConfigError, match="word lists"):
        parse_words(["It is a pub ."])
    with pytest.raises(ConstraintError, match="grammar"):
        Infill("It is a [MASK] .", grammar="yes")


@pytest.mark.parametrize(("text", "bad"), [("It is a pub with is family friendly .", True),
                                           ("It is near has a rating .", True),
                                           ("It is known for being cheap .", False),
                                           ("It is a pub with a rating .", False)])
def test_a_preposition_before_a_finite_be_or_have_is_a_fragment(text, bad):
    assert bool(fragment_errors(text)) is bad


# ---------------------------------------------------------- count nouns: "find a coffee shop", not "find coffee shop"
def _noun_errors(text: str, free: list[int] | None, table: CountNouns | None = None) -> list[str]:
    words = split_words(text)
    touches = set(range(len(words))) if free is None else {k - 1 for k in free}
    return (table or bundled_count_nouns()).errors(words, parse_words([words])[0], touches)


@pytest.mark.parametrize(("text", "free"), [("You can find English coffee shop near the river .", [4, 5, 6]),
                                            ("Clowns is coffee shop and has a good food .", [3, 4]),
                                            ("It has high customer rating .", [3, 4, 5])])
def test_a_bare_noun_that_takes_a_determiner_is_found(text, free):
    assert _noun_errors(text, free) and _noun_errors(text, None)


@pytest.mark.parametrize(("text", "free"), [
    ("You can find a coffee shop near the river .", [4, 5, 6]),
    ("It serves English food near the river .", [3, 4]),                       # a mass noun
    ("Aromi coffee shop is near the river .", [1, 2, 3]),                     # a name starts the sentence
    ("It is a cheap pub and restaurant near the river .", [4, 5, 6, 7]),      # a conjunct of a determined noun
    ("It is not the type of place for kids .", [6, 7]),
    ("You can find English coffee shop near the river .", [8]),               # the bare phrase is the template's
])
def test_a_determined_or_mass_or_fixed_noun_is_fine(text, free):
    assert _noun_errors(text, free) == []


def test_a_table_from_texts_finds_the_nouns_the_texts_always_determine():
    texts = ["It is a pub with a garden .", "A pub near the garden serves food .", "The pub has food ."] * 4
    table = CountNouns.from_texts(texts, min_uses=3)
    assert table.needs_determiner("pub") and table.needs_determiner("Garden") and not table.needs_determiner("food")
    assert _noun_errors("You can find pub here .", None, table) and not _noun_errors("It has food .", None, table)
    assert not CountNouns.from_texts(texts, min_uses=100).words  # too few uses: no noun is judged


def test_count_noun_table_round_trip_holds_no_text_and_refuses_bad_files(tmp_path):
    table = CountNouns.from_texts(["It is a pub .", "A pub is here ."], min_uses=1, source="toy")
    table.save(tmp_path / "t.safetensors")
    back = CountNouns.load(tmp_path / "t.safetensors")
    assert back.words == table.words and back.source == "toy"
    assert b"pub" not in (tmp_path / "t.safetensors").read_bytes()
    (tmp_path / "bad.safetensors").write_bytes(b"not a table")
    with pytest.raises(CheckpointError, match="count-noun table"):
        CountNouns.load(tmp_path / "bad.safetensors")


def test_the_bundled_table_knows_e2e_count_and_mass_nouns():
    table = bundled_count_nouns()
    assert all(map(table.needs_determiner, ("shop", "rating", "restaurant"))) and not table.needs_determiner("food")
    assert table.source.startswith("train.csv sha256:")


def test_infill_uses_the_count_noun_table_and_can_go_without_it():
    template, text = "You can find [MASK:3] near the river .", "You can find English coffee shop near the river ."
    assert Infill(template, pairs=None).satisfied([text]) == [False]
    assert Infill(template, pairs=None, count_nouns=None).satisfied([text]) == [True]
    assert Infill(template, pairs=None, grammar=False).satisfied([text]) == [True]
    with pytest.raises(ConstraintError, match="count_nouns"):
        Infill(template, count_nouns="mine")


# ---------------------------------------------------------- two known names run together: "Midsummer House Blue Spice"
_NAMES = ["Blue Spice is near Midsummer House .", "The House is near Blue Spice .", "Zizzi is a pub ."]


@pytest.mark.parametrize(("text", "free", "found"), [
    ("Midsummer House Blue Spice is near the river .", [1, 2, 3, 4], [("house", "blue")]),
    ("The House Blue Spice is near the river .", [3, 4], [("house", "blue")]),          # a hole at the junction
    ("Midsummer House Blue Spice is near the river .", [5, 6], []),                    # the template's own names
    ("Blue Spice is near Midsummer House .", [1, 2, 3], []),                            # an attested name
    ("Midsummer House Ranch is near the river .", [1, 2, 3], []),                       # a new word: a new name
    ("It is Zizzi Blue near the river .", [3, 4], []),                                  # one-word names: unknown
    ("Zizzi is a pub . House Blue Spice is near .", [6, 7, 8], []),                     # a capital opens a sentence
    ("Zizzi is a pub , House Blue Spice is near .", [6, 7, 8], [("house", "blue")]),
])
def test_two_known_names_run_together_are_found(text, free, found):
    assert run_on_names(WordPairs.from_texts(_NAMES), text.split(), free) == found


def test_infill_rejects_two_names_run_together_and_pairs_none_turns_it_off():
    template, text = "[MASK:4] is located in the riverside area .", \
        "Midsummer House Blue Spice is located in the riverside area ."
    assert Infill(template, grammar=False).unseen_pairs(text) == [("house", "blue")]
    assert Infill(template, grammar=False).satisfied([text]) == [False]
    assert Infill(template, pairs=None, grammar=False).satisfied([text]) == [True]


@pytest.mark.parametrize(("text", "free", "flagged"), [
    ("Although it is children friendly , The Cambridge Blue coffee shop .", [4, 5, 10, 11], True),
    ("Although it is kid friendly , The Cambridge Blue in riverside .", [4, 5, 10, 11], True),
    ("While it is cheap .", [4], True),
    ("While it is cheap , families love Cotto .", [4], False),
    ("Although it is cheap , The Cambridge Blue is good .", [4, 10], False),
    ("If you like Chinese food , The Wrestlers is a cheap pub .", [4, 9, 10], False),
    ("It is cheap although it is far .", [3, 4], False),
])
def test_a_sentence_that_is_only_an_adverbial_clause_has_no_main_clause(text, free, flagged):
    errors = [e for e in _errors(text, free) if "main" in e]
    assert bool(errors) is flagged, errors


@pytest.mark.parametrize(("text", "free", "flagged"), [
    ("The Punter is cheap but it is riverside .", [7, 8], True),
    ("The Punter is in the city centre .", [4, 5], False),
    ("The Punter is city centre based .", [4], True),
    ("The Punter is by the riverside .", [4], False),
    ("The Punter is riverside .", [1], False),  # the hole does not touch it
])
def test_be_right_before_an_area_noun_is_no_place_phrase(text, free, flagged):
    errors = [e for e in _errors(text, free) if "area" in e]
    assert bool(errors) is flagged, errors


@pytest.mark.parametrize(("text", "free", "flagged"), [
    ("Family friendly , which serves fast food , is near Café Sicilia .", [1, 2], True),
    ("City centre , which serves fast food , is near Café Sicilia .", [1, 2], True),
    ("Zizzi , which serves fast food , is near Café Sicilia .", [1], False),
    ("The pub , which serves fast food , is near Café Sicilia .", [1, 2], False),
    ("Cocum coffee shop has a low rating .", [1, 2, 3], False),  # a name the tagger may read as a noun
    ("Prices are moderate .", [1], False),  # one word
])
def test_a_subject_of_attribute_words_alone_names_no_place(text, free, flagged):
    errors = [e for e in _errors(text, free) if "attribute words" in e]
    assert bool(errors) is flagged, errors


def test_out_before_a_number_misses_its_of():
    assert any("out of" in e for e in fragment_errors("It has a rating of 1 out 5 ."))
    assert not any("out of" in e for e in fragment_errors("It has a rating of 1 out of 5 ."))
