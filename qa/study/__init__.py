"""What a person revising does with the notes besides asking: the question history, the
drill cards and their FSRS review state (``qa quiz``), and the gaps the notes leave
(``qa gaps``)."""
