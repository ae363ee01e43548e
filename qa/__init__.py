"""qa: ask your Markdown notes questions, in English or Chinese, offline."""

from qa.threads import limit_native_threads

limit_native_threads()
