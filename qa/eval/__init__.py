"""Measuring retrieval: labelled question sets and their metrics (``evaluate``), the
answering-sentence scores, the ``qa eval`` workbench and its reports."""
