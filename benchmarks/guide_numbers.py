"""The numbers quoted in the user guide's prose, measured by running its code.

* ``evaluation.md``'s worked one-shot example: the page's code block is run
  verbatim (read from the page, so the two cannot drift apart), with its
  output and run time.
* ``reliability.md``'s file sizes: a pickle and a ``save_weights`` file of
  the default embedder on ``load_digits`` after 3 epochs.

``--write-docs`` saves both reports under ``docs/benchmarks/_generated/``,
which the two pages include::

    python benchmarks/guide_numbers.py --write-docs
"""

import argparse
import contextlib
import io
import os
import pickle
import re
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import docs_report, machine_info
from sklearn.datasets import load_digits

from sklearn_siamese import SiameseEmbedder
from sklearn_siamese.persistence import save_weights

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "user_guide"


def worked_example_code(page=GUIDE / "evaluation.md", heading="## A worked one-shot example"):
    """The first Python code block under ``heading`` of the page."""
    text = page.read_text()
    section = text[text.index(heading) :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def run_worked_example():
    """Output and seconds of the worked example, run as a user would run it."""
    code = worked_example_code()
    out = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "evaluation.md", "exec"), {"__name__": "__main__"})
    return out.getvalue(), time.perf_counter() - start


def file_sizes(max_epochs=3, random_state=0):
    """Bytes of a pickle and of a weights file of the default embedder on digits."""
    X, y = load_digits(return_X_y=True)
    emb = SiameseEmbedder(image_shape=(8, 8), max_epochs=max_epochs, random_state=random_state)
    emb.fit((X / 16).astype(np.float32), y)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "emb.pt")
        save_weights(emb, path)
        weights = os.path.getsize(path)
    return len(pickle.dumps(emb)), weights, emb


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-docs", action="store_true", help="save the reports for the user guide")
    args = parser.parse_args(argv)

    with docs_report("guide_worked_example", "guide_numbers.py", argv, args.write_docs):
        output, seconds = run_worked_example()
        print(f"Output, {seconds:.0f} s on {machine_info()}:\n")
        print("```\n" + output.rstrip() + "\n```")

    with docs_report("guide_sizes", "guide_numbers.py", argv, args.write_docs):
        pickled, weights, emb = file_sizes()
        print(
            f"`SiameseEmbedder(image_shape=(8, 8), max_epochs=3, random_state=0)` fitted on `load_digits` "
            f"(its default `ConvEncoder`, {sum(p.numel() for p in emb.net_.module_.parameters()):,} parameters): "
            f"the pickle is {pickled / 1e6:.2f} MB and the weights file {weights / 1e6:.2f} MB."
        )


if __name__ == "__main__":
    main()
