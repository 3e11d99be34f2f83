"""A testcase's output in two runs compared word by word: what each side shows."""

from __future__ import annotations

from services.console.text_diff import MAX_WORDS, Part, words


def test_words_removed_and_added_are_marked_on_their_side() -> None:
    diff = words("The capital of Japan is Tokyo.", "The capital of Japan is Kyoto, I think.")
    assert diff.compared and diff.changed
    assert diff.before == [Part("same", "The capital of Japan is "), Part("removed", "Tokyo"), Part("same", ".")]
    assert diff.after == [
        Part("same", "The capital of Japan is "),
        Part("added", "Kyoto, I think"),
        Part("same", "."),
    ]
    # Each side reads back as its text.
    assert "".join(p.text for p in diff.before) == "The capital of Japan is Tokyo."
    assert "".join(p.text for p in diff.after) == "The capital of Japan is Kyoto, I think."


def test_equal_and_empty_texts() -> None:
    same = words("Paris", "Paris")
    assert (same.before, same.after, same.changed) == ([Part("same", "Paris")], [Part("same", "Paris")], False)
    gone = words("Paris", "")
    assert (gone.before, gone.after) == ([Part("removed", "Paris")], [])
    assert words("", "").before == [] and not words("", "").changed


def test_texts_too_long_are_shown_whole() -> None:
    long = "word " * MAX_WORDS  # 2 × MAX_WORDS words and spaces
    diff = words(long, long + "more")
    assert not diff.compared and not diff.changed
    assert diff.after == [Part("same", long + "more")]
