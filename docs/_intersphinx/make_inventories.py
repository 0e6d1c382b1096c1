"""Write the small offline intersphinx inventories used when the real ones are unreachable.

CI builds the docs without network access, where Sphinx cannot download the
``objects.inv`` of scikit-learn, PyTorch, skorch, Python and NumPy. These
files list only the names the pages link to, with the same URLs as the
projects' own inventories, so links resolve the same offline. Add a name
here when a page links to a new one, then run::

    python docs/_intersphinx/make_inventories.py
"""

import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

SKLEARN = "modules/generated/{name}.html#{name}"
INVENTORIES = {
    "sklearn": ("scikit-learn", {
        "py:class": {name: SKLEARN for name in [
            "sklearn.pipeline.Pipeline",
            "sklearn.utils.Bunch",
            "sklearn.neighbors.KNeighborsClassifier",
            "sklearn.neighbors.NeighborhoodComponentsAnalysis",
            "sklearn.model_selection.GridSearchCV",
            "sklearn.model_selection.GroupKFold",
            "sklearn.frozen.FrozenEstimator",
            "sklearn.decomposition.PCA",
            "sklearn.preprocessing.StandardScaler",
        ]},
        "py:function": {name: SKLEARN for name in [
            "sklearn.model_selection.cross_val_score",
            "sklearn.datasets.load_digits",
            "sklearn.pipeline.make_pipeline",
            "sklearn.utils.estimator_checks.parametrize_with_checks",
        ]},
        "py:method": {
            "sklearn.neighbors.KNeighborsClassifier.fit": (
                "modules/generated/sklearn.neighbors.KNeighborsClassifier.html"
                "#sklearn.neighbors.KNeighborsClassifier.fit"
            ),
        },
    }),
    "torch": ("PyTorch", {
        "py:class": {
            "torch.nn.Module": "generated/torch.nn.Module.html#torch.nn.Module",
            "torch.Tensor": "tensors.html#torch.Tensor",
            "torch.nn.parallel.DistributedDataParallel": "generated/torch.nn.parallel.DistributedDataParallel.html#torch.nn.parallel.DistributedDataParallel",
        },
        "py:function": {
            "torch.load": "generated/torch.load.html#torch.load",
            "torch.save": "generated/torch.save.html#torch.save",
        },
    }),
    "skorch": ("skorch", {
        "py:class": {
            "skorch.net.NeuralNet": "net.html#skorch.net.NeuralNet",
            "skorch.NeuralNet": "net.html#skorch.net.NeuralNet",
            "skorch.callbacks.Callback": "callbacks.html#skorch.callbacks.Callback",
            "skorch.callbacks.Checkpoint": "callbacks.html#skorch.callbacks.Checkpoint",
            "skorch.callbacks.EarlyStopping": "callbacks.html#skorch.callbacks.EarlyStopping",
            "skorch.history.History": "history.html#skorch.history.History",
            "skorch.hf.AccelerateMixin": "hf.html#skorch.hf.AccelerateMixin",
        },
    }),
    "python": ("Python", {
        "py:class": {"pathlib.Path": "library/pathlib.html#pathlib.Path"},
        "py:function": {"pickle.load": "library/pickle.html#pickle.load"},
        "py:exception": {"ValueError": "library/exceptions.html#ValueError",
                         "TypeError": "library/exceptions.html#TypeError",
                         "FloatingPointError": "library/exceptions.html#FloatingPointError",
                         "KeyboardInterrupt": "library/exceptions.html#KeyboardInterrupt"},
    }),
    "numpy": ("NumPy", {
        "py:class": {"numpy.ndarray": "reference/generated/numpy.ndarray.html#numpy.ndarray"},
    }),
}


def write(name, project, entries):
    lines = [
        f"{obj} {role} 1 {url.format(name=obj)} -"
        for role, objects in entries.items()
        for obj, url in sorted(objects.items())
    ]
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        "# Version: \n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    (HERE / f"{name}.inv").write_bytes(header.encode() + zlib.compress(("\n".join(lines) + "\n").encode()))


if __name__ == "__main__":
    for name, (project, entries) in INVENTORIES.items():
        write(name, project, entries)
