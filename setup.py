"""lucas-abm: agent-based Lucas-tree asset markets with deep reinforcement learning traders."""
from setuptools import find_packages, setup

STACK = [
    # The one set of versions that works together (see docs/stack in the project notes).
    "tensorflow==2.15.1",
    "tf-agents==0.19.0",
    "dm-reverb==0.14.0",
    "tensorflow-probability==0.23.0",
    "keras<2.16",
    "numpy<2",
    "gym<=0.23",
]

setup(
    name="lucas-abm",
    version="0.1.0",
    description="Agent-based Lucas-tree asset markets in which every trader learns by deep RL",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9,<3.12",
    packages=find_packages(include=["lucas_abm", "lucas_abm.*", "orchestrator", "orchestrator.*",
                                    "replay", "replay.*"]),
    install_requires=STACK + [
        "scipy",
        "matplotlib",
        "pandas",
        "pyyaml",
        "tqdm",
        # The compiled pairwise market period (lucas_abm/kernels.py); numba 0.60 supports
        # numpy 1.22-2.0 and Python 3.9-3.12, so it sits beside the pinned TF stack.
        "numba>=0.59,<0.61",
    ],
    extras_require={
        "test": ["pytest", "hypothesis"],
        # Benchmark-only: the per-agent baseline written with the Mesa ABM framework.
        "bench": ["mesa>=2.3,<3"],
        "gpu": ["tensorflow[and-cuda]==2.15.1"],
    },
    entry_points={"console_scripts": ["lucas-abm=orchestrator.cli:main"]},
)
