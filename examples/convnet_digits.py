"""Classify the 8×8 handwritten digits with a CS231n-style ConvNet.

    pip install "pygrad[examples]"
    python examples/convnet_digits.py          # about 99% test accuracy in well under a minute
    pygrad demo --model convnet                # the same run

    [conv 3×3 → batchnorm → ReLU → max-pool 2×2] × 2 → affine → ReLU → dropout → affine

The model, the data preparation and the training loop are in ``pygrad/demo_convnet.py``
(``digits_convnet``, ``load_digits_images``, ``train_convnet``), so that this script and
``pygrad demo --model convnet`` run the same code; read that file for the network. The
script shows a progress bar (tqdm), prints the test accuracy and saves the loss and
accuracy curves as a picture.
"""

from __future__ import annotations

import argparse
import sys

from pygrad import demo_convnet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="pygrad-examples", help="directory for the picture")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--no-progress", action="store_true", help="print a line per epoch instead of a bar")
    args = parser.parse_args()
    try:
        demo_convnet.report(args.epochs, args.seed, None if args.no_plots else args.out,
                            "plain" if args.no_progress else "auto", print)
    except ImportError as exc:  # scikit-learn missing: the digits come from it
        print(exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
