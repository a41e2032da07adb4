"""Two trainers of one model-store entry never run at once: the second waits, then loads."""
from __future__ import annotations

import subprocess
import sys
import textwrap


def test_the_entry_lock_excludes_another_process(tmp_path):
    from fercourse.train.fit import _entry_lock
    from fercourse.train.store import ModelStore

    entry = ModelStore(tmp_path).entry("toy", config={"a": 1})
    probe = textwrap.dedent(f"""
        import fcntl, sys
        with open({str(entry.folder / '.lock')!r}, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                sys.exit(3)
    """)
    with _entry_lock(entry):
        held = subprocess.run([sys.executable, "-c", probe]).returncode
        entry.clear()  # a forced retrain clears the entry while holding the lock: the lock survives
        held_after_clear = subprocess.run([sys.executable, "-c", probe]).returncode
    free = subprocess.run([sys.executable, "-c", probe]).returncode
    assert (held, held_after_clear, free) == (3, 3, 0)
