"""The offline engine's look back at a final (review.py): which changes it takes.

The finals and the decodes here are modelled on what Whisper base gave on the held-out recordings
and the corpus (bench/look_back.py on bench/engine.py's streamed finals): most are changes
the engine really proposed, some cut shorter.
"""

from __future__ import annotations

from captions.engines.offline.review import revision


def test_words_heard_otherwise_with_the_speech_around_them_are_revised():
    finals = ("Love him so much for that.", "What? Is Z going to be fixed?", "We have to be")
    heard = "Love him so much for that. When is that going to be fixed? We have to be"
    assert revision(finals, 1, heard) == "When is that going to be fixed?"
    finals = ("Literally, right in front of my car.", "This is the best way it.", "Easily one")
    heard = "Literally right in front of my car. This is the best one yet, easily one"
    assert revision(finals, 1, heard) == "This is the best one yet."  # its own full stop


def test_words_the_decode_heard_the_same_keep_their_spelling_as_shown():
    finals = ("The Middle Ages brought it to perfection, it was natural therefor.", "Next")
    heard = "the middle ages brought it to perfection, it was natural, therefore, next"
    assert revision(finals, 0, heard) == (
        "The Middle Ages brought it to perfection, it was natural therefore."
    )


def test_a_final_keeps_its_capital_where_the_decode_runs_its_sentence_on():
    finals = ("I do not love this win.", "Oh, he wanted to do what's win.", "Seeing a lot")
    heard = "I do not love this win, all he wanted to do was win. Seeing a lot"
    assert revision(finals, 1, heard) == "All he wanted to do was win."


def test_the_same_words_spelled_otherwise_are_no_revision():
    finals = ("It imitates a much freer hand.", "Simpler, rounder")
    assert revision(finals, 0, "it imitates a much freer hand, simpler rounder") is None
    assert revision(finals, 0, "") is None
    finals = ("The lower case being, in fact, invented.", "Next")
    assert revision(finals, 0, "The lowercase, being, in fact, invented. Next") is None
    finals = ("Yes.", "Now you are very creative.", "I would")
    assert revision(finals, 1, "Yes. Now you're very creative. I would") is None
    assert revision(finals, 1, "Yes. No, you're very creative. I would") == (
        "No, you're very creative."
    )


def test_a_word_moving_across_the_border_between_two_finals_is_left_where_it_was():
    finals = ("You made me believe.", "We can all make a difference.", "Seriously")
    heard = "You made me believe we can all make a difference. Seriously"
    assert revision(finals, 0, heard) is None  # "we" added at its end: the next one's
    assert revision(finals, 1, heard) is None  # "We" dropped at its start: moved, not lost
    finals = ("In the exhibition.", "In being comparatively modern,")
    assert revision(finals, 0, "In the exhibition in being comparatively modern.") is None
    assert revision(finals, 1, "In the exhibition in being comparatively modern.") is None


def test_a_change_across_the_border_is_left_alone_and_one_inside_is_taken():
    finals = ("She put her her armors around him.", "And want to get a kiss him.")
    heard = "She put her arms around him and wanted to kiss him."
    assert revision(finals, 0, heard) == "She put her arms around him."
    assert revision(finals, 1, heard) == "And wanted to kiss him."


def test_words_inside_a_final_are_dropped_and_added_there():
    finals = ("We were fortunate.", "I asked her her not to.", "Before all else")
    heard = "We were fortunate. I asked her not to. Before all else"
    assert revision(finals, 1, heard) == "I asked her not to."
    finals = ("We were fortunate.", "I think it's wonderful concept.", "This was")
    heard = "We were fortunate. I think it's a wonderful concept. This was"
    assert revision(finals, 1, heard) == "I think it's a wonderful concept."


def test_chinese_is_compared_and_written_character_by_character():
    finals = ("我在这一个奖。", "好。")
    assert revision(finals, 0, "我在这一个将。好。") == "我在这一个将。"
    assert revision(finals, 1, "我在这一个将。好。") is None
