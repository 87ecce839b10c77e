"""Train a progressive GAN: ``python train.py [--data DIR|laundry|cifar10:automobile] --out RUN``.

The command itself (flags, config, the run) is :mod:`progan.train_command`, which ``progan
train`` runs too; this file keeps the design's entry point at the top of the checkout.
"""

from progan.cli import run
from progan.train_command import main

if __name__ == "__main__":
    run(main)
