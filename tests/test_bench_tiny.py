"""The benchmark harness runs end to end in tiny mode (a few requests of each kind, through
real gunicorn servers, SQLite and Redis), so a change to whistle that breaks bench/ fails
here and not at the next full run. Its figures mean nothing; its tables must be there."""

import json
import os
import subprocess
import sys

import pytest

from whistle.config import PROJECT_DIR

REDIS_URL = "redis://127.0.0.1:6379/11"  # a database of its own: the run deletes whistle's keys in it


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping())
    except redis.RedisError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="the benchmark's servers count in Redis")
def test_tiny_benchmark_reports_both_baselines_and_the_stall(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHISTLE_")}
    env.update(PYTHONPATH=str(PROJECT_DIR), WHISTLE_BENCH_REDIS=REDIS_URL, WHISTLE_BENCH_DIR=str(tmp_path))
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--tiny",
            "--only",
            "submissions",
            "--backends",
            "sqlite",
            "--output",
            str(out),
        ],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    js = [r for r in results["submissions"] if r["path"] == "js"]
    assert js and all(r["defended"]["ok"] > 0 and r["defended"]["errors"] == 0 for r in js)
    assert all(r["defended_ratio"] == round(r["whistle"]["rate"] / r["defended"]["rate"], 3) for r in js)
    stall = results["stall"]["sqlite"]
    assert stall["beside"]["n"] > 0 and stall["beside"]["max_ms"] >= stall["beside"]["p99_ms"] > 0
    text = (out / "benchmarks.md").read_text()
    assert "whistle ÷ defended" in text and "defended ÷ bare" in text
    assert "## 1b. Small reports beside a large upload" in text and "| sqlite | " in text
    assert "| date (UTC) | " in text and "| CPU | " in text
    # The run wrote only where it was told: the committed results are untouched.
    assert not subprocess.run(
        ["git", "-C", str(PROJECT_DIR), "status", "--porcelain", "bench/results.json", "docs/benchmarks.md"],
        capture_output=True,
        text=True,
    ).stdout.strip()
