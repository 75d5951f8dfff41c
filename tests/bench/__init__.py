"""Benchmarks for the SPEC's "Performance" targets (not tests: never collected by pytest).

Run each from the repository root with the project's virtualenv, e.g.::

    python -m tests.bench.bench_cpu
    python -m tests.bench.run            # all of them, one after the other

Every benchmark prints a table comparing side by side, in the same run, our code with a floor
or a baseline, quoting medians of several repetitions and ratios: the machine is shared and
noisy, so absolute numbers from different runs are not comparable, ratios mostly are.
"""
