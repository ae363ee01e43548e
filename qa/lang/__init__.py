"""Text in two languages: language detection, bilingual tokens (Snowball stems, jieba
words), the ML glossary and the general Chinese–English dictionary that carry a question
across languages."""
