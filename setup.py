"""Installs the three kerasrrn packages: `kerasrrn`, `pipelines` and `tuning`."""

import pathlib

import setuptools

HERE = pathlib.Path(__file__).parent


def read_requirements():
    lines = (HERE / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


setuptools.setup(
    name="kerasrrn",
    version="0.1.0",
    description="Recurrent residual networks (RRN, MRRN) for video action recognition in Keras 3",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=setuptools.find_packages(include=["kerasrrn*", "pipelines*", "tuning*"]),
    install_requires=read_requirements(),
    extras_require={
        # jax: the layer and model tests also run on the JAX backend.
        "test": ["pytest>=8", "jax[cpu]>=0.4.30"],
    },
)
