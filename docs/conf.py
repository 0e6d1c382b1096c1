"""Sphinx configuration of the sklearn-siamese documentation.

Build (as CI does, warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # api_pages, next to this file

import api_pages  # noqa: E402

import sklearn_siamese  # noqa: E402

project = "sklearn-siamese"
author = "The sklearn-siamese developers"
copyright = "the sklearn-siamese developers"
release = version = sklearn_siamese.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = ["_build", "**/_generated/*", "auto_examples/*.ipynb", "auto_examples/*.py", "sg_execution_times.rst"]
myst_heading_anchors = 3

# ------------------------------------------------------------------- API pages
missing = api_pages.undocumented_names()
if missing:
    raise RuntimeError(
        "public names missing from the API pages (add them to their module's __all__): " + ", ".join(missing)
    )
api_pages.write_api_pages(HERE / "api")

autosummary_generate = True
# Members inherited from the private base classes are listed; scikit-learn's,
# torch's and skorch's own (get_params, forward hooks, ...) are not.
autodoc_default_options = {"members": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# numpydoc's own checks would duplicate the docstring tests; keep its rendering only.
numpydoc_validation_checks = set()

# ------------------------------------------------------------------ intersphinx
# Online the full inventories are used. CI has no network, so each project
# falls back on a small inventory of the names these pages link to, shipped
# in _intersphinx/ (docs/_intersphinx/make_inventories.py writes them):
# Sphinx then reports the unreachable URL as info, not as a warning.
intersphinx_mapping = {
    name: (url, (None, str(HERE / "_intersphinx" / f"{name}.inv")))
    for name, url in {
        "sklearn": "https://scikit-learn.org/stable/",
        "torch": "https://docs.pytorch.org/docs/stable/",
        "skorch": "https://skorch.readthedocs.io/en/stable/",
        "python": "https://docs.python.org/3/",
        "numpy": "https://numpy.org/doc/stable/",
    }.items()
}
intersphinx_timeout = 5

# ---------------------------------------------------------------------- gallery
sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": "auto_examples",
    # Only examples/plot_*.py run; the other scripts there (torchrun,
    # timing runs) are documented in the user guide instead.
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"^(?!.*plot_)",
    "doc_module": ("sklearn_siamese",),
    "backreferences_dir": "api/generated/backreferences",
    "reference_url": {"sklearn_siamese": None},
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "show_memory": False,
}
# SPHINX_GALLERY_PLOT=0 builds the pages without running the examples.
if os.environ.get("SPHINX_GALLERY_PLOT", "1") == "0":
    sphinx_gallery_conf["plot_gallery"] = "False"

# ------------------------------------------------------------------------- HTML
html_theme = "pydata_sphinx_theme"
html_title = "sklearn-siamese"
html_static_path = []  # no custom static files
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
}
html_show_sourcelink = False


def _skip_metadata_request_methods(app, what, name, obj, skip, options):
    # scikit-learn generates set_{method}_request on every estimator; their
    # docstrings link into scikit-learn's own glossary, which is not ours.
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_request_methods)
