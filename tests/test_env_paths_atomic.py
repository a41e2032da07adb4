import os
import subprocess
import sys

import numpy as np
import pytest

from fercourse import atomic, env, paths, session


def test_setup_reports_data_weights_and_machine_separately(tf_keras):
    report = session.setup("test chapter", dataset="D", weights="W", seed=7)
    text = str(report)
    assert "dataset : D" in text and "weights : W" in text and "seed    : 7" in text
    assert "tensorflow" not in text  # the machine-dependent part lives in .machine
    assert "tensorflow" in report.machine and "CPU" in report.machine
    assert report.policy == "float32"


def test_setup_fixes_the_seeds(tf_keras):
    tf, _ = tf_keras
    session.setup("a", seed=3)
    first = (np.random.rand(), float(tf.random.uniform(())))
    session.setup("a", seed=3)
    assert (np.random.rand(), float(tf.random.uniform(()))) == first


def test_importing_tensorflow_through_fercourse_prints_nothing(tmp_path):
    code = "from fercourse.env import import_tensorflow; tf, keras = import_tensorflow(); print('ok')"
    envvars = {**os.environ, "FERCOURSE_CACHE": str(tmp_path)}
    envvars.pop("TF_CPP_MIN_LOG_LEVEL", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=envvars, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert done.stderr == ""
    assert (tmp_path / "logs" / "tensorflow.log").exists()


def test_redirect_fd2_captures_os_level_writes(tmp_path):
    target = tmp_path / "err.log"
    with env.redirect_fd2(target):
        os.write(2, b"from C code\n")
    assert target.read_text() == "from C code\n"


def test_cache_and_build_dirs_follow_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FERCOURSE_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("FERCOURSE_BUILD", str(tmp_path / "b"))
    assert paths.cache_dir() == tmp_path / "c" and paths.cache_dir().is_dir()
    assert paths.build_dir() == tmp_path / "b" and paths.build_dir().is_dir()
    assert paths.display_path(tmp_path / "c" / "x.png") == "<cache>/x.png"
    assert paths.display_path(paths.REPO_ROOT / "notebooks") == "./notebooks"
    monkeypatch.setenv("FERCOURSE_CACHE", str(paths.REPO_ROOT / "build" / "test-cache"))
    assert paths.display_path(paths.REPO_ROOT / "build" / "test-cache" / "x") == "<cache>/x"


def test_atomic_write_replaces_whole_files_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    atomic.write_text(target, "one")
    atomic.write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f.txt"
    atomic.write_text(target, "old")

    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic.write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_the_default_cache_is_the_platforms_user_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("FERCOURSE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # platformdirs honours it on Linux
    assert paths.cache_dir() == tmp_path / "xdg" / "fercourse" and paths.cache_dir().is_dir()
