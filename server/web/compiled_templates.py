"""Compiled templates, kept once per process for every app it builds.

Jinja compiles a template into Python code the first time an environment loads
it, and each app has an environment of its own. A process builds one app in a
deployment, but the test suite builds one per test: there, compiling the same
pages again took a third of the CPU of a test that renders them
(tests/test_pages.py under cProfile: 4.4 s of 12.8). Jinja's bytecode cache
hands the compiled code to every environment of the process. A bucket carries
the checksum of the template's source, so an edited template is compiled anew.
Nothing is written to disk.
"""

from __future__ import annotations

import threading

import jinja2


class ProcessBytecodeCache(jinja2.BytecodeCache):
    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = bucket.bytecode_to_string()
        with self._lock:
            self._code[bucket.key] = code

    def clear(self) -> None:
        with self._lock:
            self._code.clear()


PROCESS_CACHE = ProcessBytecodeCache()
