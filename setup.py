"""lucas-abm: agent-based Lucas-tree asset markets with deep reinforcement learning traders.

The package metadata (name, version, classifiers, Python 3.9-3.11,
the ``lucas-abm`` console script, packages) is in pyproject.toml; this file holds the
dependencies, which pyproject.toml declares dynamic. Linux x86-64 only: dm-reverb publishes
wheels for no other platform.
"""
from setuptools import setup

STACK = [
    # The one set of versions that works together (TF 2.15 with its Reverb and TF-Agents builds).
    "tensorflow==2.15.1",
    "tf-agents==0.19.0",
    "dm-reverb==0.14.0",
    "tensorflow-probability==0.23.0",
    "keras<2.16",
    "numpy<2",
    "gym<=0.23",
]
PETTINGZOO = ["pettingzoo>=1.24,<1.28", "gymnasium>=0.28,<1.4"]

setup(
    # data files inside the packages: the named institution presets (lucas_abm/presets/*.yaml)
    package_data={"lucas_abm": ["presets/*.yaml"]},
    install_requires=STACK + [
        "scipy",
        "matplotlib",
        "pandas",
        "pyyaml",
        "tqdm",
        # The compiled pairwise market period (lucas_abm/kernels.py); numba 0.60 supports
        # numpy 1.22-2.0 and Python 3.9-3.12, so it sits beside the pinned TF stack.
        "numba>=0.59,<0.61",
        # Parquet panels (simulate --export, lucas_abm/panels.py); pyarrow 26 needs numpy 2.
        "pyarrow>=14,<26",
    ],
    extras_require={
        "test": ["pytest", "hypothesis", *PETTINGZOO],
        # lucas_abm.pettingzoo_env: the market as a PettingZoo ParallelEnv. gymnasium 1.4 needs a
        # newer typing-extensions than tf-agents' pin (4.5.0); 1.3 fits the stack.
        "pettingzoo": PETTINGZOO,
        # Benchmark-only: the per-agent baseline written with the Mesa ABM framework.
        "bench": ["mesa>=2.3,<3"],
        # make mutation (not in CI): mutmut 3.x, config in setup.cfg [mutmut]; fits the stack.
        "mutation": ["mutmut>=3,<4"],
        "gpu": ["tensorflow[and-cuda]==2.15.1"],
    },
)
