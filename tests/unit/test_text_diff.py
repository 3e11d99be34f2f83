"""A testcase's output in two runs compared word by word: what each side shows, and what an output
reads as."""

from __future__ import annotations

from scorekeeper_sdk.text_diff import MAX_WORDS, Part, output_text, sides, words


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


def test_an_output_reads_as_its_lone_text_else_as_json() -> None:
    assert output_text({"response": "Tokyo"}) == "Tokyo"
    assert output_text({"response": 42}) == '{\n  "response": 42\n}'
    assert output_text({"b": "2", "a": "é"}) == '{\n  "a": "é",\n  "b": "2"\n}'
    assert output_text({}) == "{}"


def test_a_trial_only_one_run_has_is_shown_unmarked() -> None:
    only_b = sides(None, "Tokyo")
    assert (only_b.after, only_b.changed) == ([Part("same", "Tokyo")], False)
    assert sides("Paris", None).before == [Part("same", "Paris")]
    assert sides("", "Tokyo").after == [Part("added", "Tokyo")]  # an errored record's output is empty
