"""The bilingual glossary: loading, matching, rendering and mining."""

from pathlib import Path

from qa.lang.glossary import Concept, Glossary, load_glossary, mine_pairs, read_glossary_file


def test_shipped_glossary_is_large_and_bilingual() -> None:
    glossary = load_glossary()
    assert len(glossary) >= 400
    assert all(c.chinese and c.english for c in glossary.concepts)


def test_longest_form_wins_and_latin_forms_match_whole_words() -> None:
    g = Glossary(
        [
            Concept(("归一化", "normalization")),
            Concept(("批归一化", "batch normalization", "BN")),
        ]
    )
    assert [m.text for m in g.find("批归一化和归一化")] == ["批归一化", "归一化"]
    assert g.find("bnx is not bn") and [m.text for m in g.find("bnx is not bn")] == ["bn"]


def test_chinese_question_rendered_in_english() -> None:
    expansion = load_glossary().expand("BN在训练和推理时有什么区别")
    words = expansion.english.split()
    for word in ("batch", "normalization", "training", "inference", "difference"):
        assert word in words
    assert "批归一化" in expansion.extra_terms


def test_english_question_gets_chinese_forms() -> None:
    expansion = load_glossary().expand("how to prevent overfitting")
    assert "过拟合" in expansion.extra_terms


def test_user_glossary_in_the_notes_folder_extends_the_shipped_one(tmp_path: Path) -> None:
    (tmp_path / "glossary.tsv").write_text("# mine\n量子纠缠\tquantum entanglement\n")
    glossary = load_glossary(tmp_path)
    assert "quantum entanglement" in glossary.expand("什么是量子纠缠").english


def test_read_glossary_file_skips_comments_and_single_forms(tmp_path: Path) -> None:
    path = tmp_path / "g.tsv"
    path.write_text("# comment\n\n过拟合\toverfitting\nlonely\n")
    assert [c.forms for c in read_glossary_file(path)] == [("过拟合", "overfitting")]


def test_mining_term_pairs_from_notes() -> None:
    text = (
        "## 梯度提升决策树（Gradient Boosting Decision Tree, GBDT）\n"
        "这份笔记整理集成学习（Ensemble Learning）的要点。\n"
        "We choose k with the Elbow method (肘部法则).\n"
    )
    pairs = {c.forms: c.source for c in mine_pairs(text, "n.md")}
    assert pairs[("梯度提升决策树", "Gradient Boosting Decision Tree", "GBDT")] == "n.md:1"
    assert ("集成学习", "Ensemble Learning") in pairs
    assert pairs[("肘部法则", "Elbow method")] == "n.md:3"


def test_a_long_hyphenated_link_is_mined_like_any_other_line() -> None:
    """A hyphen joins words and never separates them: a 90-part URL anchor (as a table of
    contents links to its questions) used to backtrack for minutes here. Hyphenated and
    multi-word terms before a parenthesis still pair with their Chinese (cut to the term by
    _english_term, as before)."""
    anchor = "-".join(["q3", *(["you-are-using-a-deep-neural-network"] * 12)])
    text = (
        f"* [Q3: a question](https://example.org/notes.md#{anchor})\n"
        "LSTM is a long short-term memory (长短期记忆) network.\n"
        "Use t-SNE (t分布随机邻域嵌入) or a self-attention (自注意力) layer.\n"
    )
    pairs = {c.forms: c.source for c in mine_pairs(text, "n.md")}
    assert pairs == {
        ("长短期记忆", "short-term memory"): "n.md:2",
        ("自注意力", "self-attention"): "n.md:3",
    }


def test_mining_reads_hyphenated_words_and_links() -> None:
    link = "https://github.com/someone/Data-Science-Interview-Questions-Answers/blob/main"
    text = (
        f"* [Q11: Why is Tanh not preferred in the hidden layers?]({link}/Deep-Learning.md)\n"
        "A state-of-the-art model (最先进模型) and one-hot encoding (独热编码).\n"
    )
    pairs = {c.forms for c in mine_pairs(text * 3, "n.md")}
    assert ("最先进模型", "state-of-the-art model") in pairs
    assert ("独热编码", "one-hot encoding") in pairs


def test_mined_pairs_that_give_a_known_term_another_meaning_are_left_out() -> None:
    """Mining keeps the few Chinese words before a parenthesis; a known word there is the
    tail of a longer term ("Bagging 方法（Bootstrap AGGregatING）"). Such a pair is left
    out, with why; a new Chinese term, or another English spelling of a known one
    (plural, other ending), is kept, and a pair found twice is kept once."""
    from qa.lang.glossary import keep_mined

    known = [
        Concept(("方法", "method", "approach")),
        Concept(("空洞卷积", "扩张卷积", "dilated convolution", "atrous convolution")),
        Concept(("饱和", "saturation")),
    ]
    text = (
        "Bagging 方法（Bootstrap AGGregatING）是并行式集成学习。\n"
        "扩张卷积（Dilated Convolutions）扩大感受野；饱和（saturate）时梯度消失。\n"
        "批标准化（Batch Normalization）加速训练。\n"
        "另见：批标准化（Batch Normalization）。\n"
    )
    kept, left_out = keep_mined(mine_pairs(text, "n.md"), known)
    assert [c.forms for c in kept] == [
        ("扩张卷积", "Dilated Convolutions"),
        ("饱和", "saturate"),
        ("批标准化", "Batch Normalization"),
    ]
    assert kept[2].source == "n.md:3"  # the first place
    assert [(o.concept.forms, o.concept.source) for o in left_out] == [
        (("方法", "Bootstrap AGGregatING"), "n.md:1")
    ]
    assert "方法" in left_out[0].why
    glossary = Glossary([*known, *kept])
    assert "Bootstrap" not in glossary.expand("有哪些方法").english


def test_a_user_vetoes_a_mined_pair_in_the_glossary_file(tmp_path: Path) -> None:
    from qa.lang.glossary import glossary_digest, keep_mined, notes_vetoes

    before = glossary_digest(tmp_path)
    (tmp_path / "glossary.tsv").write_text(
        "量子纠缠\tquantum entanglement\n!机器学习 = Andrew Ng\n!向量机\n", encoding="utf-8"
    )
    assert [c.forms for c in read_glossary_file(tmp_path / "glossary.tsv")] == [
        ("量子纠缠", "quantum entanglement")
    ]
    vetoes = notes_vetoes(tmp_path)
    assert vetoes == [("机器学习", "andrew ng"), ("向量机",)]
    mined = [
        Concept(("机器学习", "Andrew Ng"), "a.md:1"),
        Concept(("向量机", "SVM"), "a.md:2"),
        Concept(("向量机", "Support Vector Machines"), "a.md:3"),
        Concept(("集成学习", "Ensemble Learning"), "a.md:4"),
    ]
    kept, left_out = keep_mined(mined, [], vetoes)
    assert [c.forms for c in kept] == [("集成学习", "Ensemble Learning")]
    assert [o.why for o in left_out] == ["vetoed in glossary.tsv"] * 3
    # A veto is part of what the index records of the glossary: adding one rebuilds.
    assert glossary_digest(tmp_path) != before
    with_terms_only = tmp_path / "other"
    with_terms_only.mkdir()
    (with_terms_only / "glossary.tsv").write_text("量子纠缠\tquantum entanglement\n")
    assert glossary_digest(with_terms_only) != glossary_digest(tmp_path)


def test_veto_lines_in_every_spelling_and_a_chinese_only_term() -> None:
    from qa.lang.glossary import keep_mined, parse_veto

    assert parse_veto("!梯度树\tGradient Tree") == ("梯度树", "gradient tree")
    assert parse_veto("!梯度树=Gradient Tree") == ("梯度树", "gradient tree")
    assert parse_veto("  !梯度树 = Gradient Tree ") == ("梯度树", "gradient tree")
    assert parse_veto("!") is None and parse_veto("梯度树\tGradient Tree") is None
    # A term of the folder's glossary with Chinese forms only has no English meaning
    # that a mined pair could contradict (the glossary leaves it out, too).
    kept, left_out = keep_mined(
        [Concept(("向量机", "SVM"), "a.md:1")], [Concept(("向量机", "支持向量机"))]
    )
    assert [c.forms for c in kept] == [("向量机", "SVM")] and not left_out


def test_a_glossary_file_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    import pytest

    from qa.lang.glossary import GlossaryFileError, notes_vetoes

    (tmp_path / "glossary.tsv").write_bytes("过拟合\toverfitting\n".encode("gbk"))
    with pytest.raises(GlossaryFileError, match="not UTF-8"):
        notes_vetoes(tmp_path)
    with pytest.raises(GlossaryFileError, match="not UTF-8"):
        read_glossary_file(tmp_path / "glossary.tsv")


def test_a_formula_s_variables_are_no_term_pair() -> None:
    """Notes on code write 一个点(i, ai) and 位置(i, j): mining them made every question with
    "I" in it search for 一个点. A term has a word of three letters or is an abbreviation."""
    noise = "一个点(i, ai)，位置(i, j)，假设(s = e)，组合(ch1.2)，取一个点(the i)，循环(for i)"
    assert [c.forms for c in mine_pairs(noise, "a.md")] == []
    terms = "梯度提升(GB)，误报(Type I error)，比特（bit），距离(L1)，语言(C++)"
    assert [c.forms for c in mine_pairs(terms, "a.md")] == [
        ("梯度提升", "GB"),
        ("误报", "Type I error"),
        ("比特", "bit"),
        ("距离", "L1"),
        ("语言", "C++"),
    ]
