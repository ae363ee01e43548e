"""Answering a question from an index: ``search.Searcher`` is the one ranking path (channel
candidates, fusion, rerank, confidence), plus the answering sentences, the passage shown
and moving between sections."""
