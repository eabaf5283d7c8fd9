"""docs/benchmarks.md from bench/results.json."""


def write(results: dict, path) -> None:
    raise NotImplementedError
