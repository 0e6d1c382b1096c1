"""Loaders for the classic siamese-network data sets, from local files only.

* :func:`load_idx`: MNIST-format IDX files (MNIST, Fashion-MNIST, KMNIST),
  gzipped or not.
* :func:`load_image_folder`: one sub-folder of images per class (AT&T
  faces), or ``alphabet/character/`` folders (Omniglot) with the alphabet
  returned as ``groups``; a folder or a ``.zip`` of one.

Nothing is downloaded: point the loaders at files you already have.

Images come back as float32 in ``[0, 1]``, as stacks the estimators read as
images, channels first as in PyTorch: ``(n, H, W)`` grey, ``(n, 3, H, W)``
colour. ``flatten=True`` gives one row per image instead (channels one
after the other), for scikit-learn steps that need 2-D X; the estimators
then need ``image_shape``, which the Bunch carries.
"""

import gzip
import io
import os
import zipfile
from numbers import Integral
from pathlib import Path, PurePosixPath

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, validate_params

__all__ = ["IMAGE_EXTENSIONS", "load_idx", "load_image_folder"]

# IDX type code -> big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/).
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

IMAGE_EXTENSIONS = (".png", ".pgm", ".pbm", ".ppm", ".bmp", ".jpg", ".jpeg", ".gif", ".tif", ".tiff")


def _existing(path, what):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist.")
    return path


# ------------------------------------------------------------------------ IDX
def _read_idx(path, what):
    """Parse one IDX file into an ndarray of the shape in its header."""
    path = _existing(path, what)
    if path.is_dir():
        raise ValueError(f"{what} {str(path)!r} is a folder, not an IDX file.")
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open if gzipped else open)(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"{what} {str(path)!r} is not a readable gzip file: {exc}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise ValueError(
            f"{what} {str(path)!r} is not an IDX file: its first 4 bytes {raw[:4].hex(' ')!r} must be "
            "00 00, a type code (08, 09, 0b, 0c, 0d or 0e) and the number of dimensions."
        )
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{what} {str(path)!r} is truncated inside its header ({len(raw)} bytes).")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"{what} {str(path)!r} is corrupt: its header announces shape {shape} of {dtype.name} "
            f"({expected} bytes of data) but the file holds {len(raw) - header} bytes after the header."
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


@validate_params(
    {"images_path": [str, os.PathLike], "labels_path": [str, os.PathLike], "flatten": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def load_idx(images_path, labels_path, *, flatten=False):
    """Load images and labels stored in the IDX format of MNIST.

    Reads the files of MNIST, Fashion-MNIST, KMNIST, EMNIST, etc. as
    distributed (``train-images-idx3-ubyte.gz``,
    ``train-labels-idx1-ubyte.gz``), gzipped or not (detected from the
    content, not the file name).

    Parameters
    ----------
    images_path : str or path-like
        IDX file of images, shape ``(n_samples, *image_shape)``; unsigned
        bytes (scaled by 1/255) or floats already in [0, 1].
    labels_path : str or path-like
        IDX file of integer labels, shape ``(n_samples,)``.
    flatten : bool, default=False
        Return one row per image, for scikit-learn steps that need 2-D
        X (pass ``image_shape`` to the estimators then).

    Returns
    -------
    X : ndarray of shape (n_samples, height, width) or (n_samples, n_pixels), dtype float32
        The images as the file holds them (``(n, 28, 28)`` for MNIST),
        which the estimators read as images; one row per image with
        ``flatten=True``. Values in [0, 1].
    y : ndarray of shape (n_samples,), dtype int64
        Labels.

    Raises
    ------
    FileNotFoundError
        If a path does not exist.
    ValueError
        If a file is not IDX, its header disagrees with its size, or the
        images and labels do not match.

    Examples
    --------
    >>> import gzip, os, tempfile
    >>> import numpy as np
    >>> folder = tempfile.mkdtemp()
    >>> images = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    >>> with gzip.open(os.path.join(folder, "img.gz"), "wb") as f:
    ...     _ = f.write(bytes([0, 0, 8, 3]) + np.array([2, 2, 3], ">u4").tobytes() + images.tobytes())
    >>> with open(os.path.join(folder, "lab"), "wb") as f:
    ...     _ = f.write(bytes([0, 0, 8, 1]) + np.array([2], ">u4").tobytes() + bytes([7, 3]))
    >>> X, y = load_idx(os.path.join(folder, "img.gz"), os.path.join(folder, "lab"))
    >>> X.shape, y.tolist()
    ((2, 2, 3), [7, 3])
    >>> load_idx(os.path.join(folder, "img.gz"), os.path.join(folder, "lab"), flatten=True)[0].shape
    (2, 6)
    """
    images = _read_idx(images_path, "images_path")
    labels = _read_idx(labels_path, "labels_path")
    if labels.ndim != 1:
        raise ValueError(f"labels_path must hold a 1-D array of labels, got shape {labels.shape}.")
    if labels.dtype.kind != "u" and labels.dtype.kind != "i":
        raise ValueError(f"labels_path must hold integer labels, got {labels.dtype.name}.")
    if len(images) != len(labels):
        raise ValueError(f"images_path holds {len(images)} images but labels_path holds {len(labels)} labels.")
    X = images.reshape(len(images), -1) if flatten or images.ndim == 1 else images
    if X.dtype == np.uint8:
        X = X.astype(np.float32) / 255.0
    elif X.dtype.kind == "f":
        X = X.astype(np.float32)
        if X.size and (X.min() < 0 or X.max() > 1):
            raise ValueError(f"images_path holds floats in [{X.min()}, {X.max()}]; expected values in [0, 1].")
    else:
        raise ValueError(
            f"images_path holds {images.dtype.name} pixels; only unsigned bytes (scaled by 1/255) "
            "and floats in [0, 1] are supported."
        )
    return X, labels.astype(np.int64)


# -------------------------------------------------------------- image folders
def _import_pil():
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - Pillow ships with matplotlib
        raise ImportError(
            "load_image_folder needs Pillow to read images: pip install sklearn-siamese[images]"
        ) from exc
    return Image


def _hidden(parts):
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _list_images(path, extensions):
    """``[(relative parts, name, open_function)]`` for every image in a folder or zip."""
    if path.is_dir():
        found = []
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = Path(root) / name
                parts = full.relative_to(path).parts
                if full.suffix.lower() in extensions and not _hidden(parts):
                    found.append((parts, "/".join(parts), lambda full=full: open(full, "rb")))
        return found, None
    if zipfile.is_zipfile(path):
        archive = zipfile.ZipFile(path)
        found = []
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            parts = PurePosixPath(info.filename).parts
            if not info.is_dir() and PurePosixPath(info.filename).suffix.lower() in extensions and not _hidden(parts):
                found.append((parts, info.filename, lambda info=info: io.BytesIO(archive.read(info))))
        return found, archive
    raise ValueError(f"path {str(path)!r} is neither a folder nor a .zip archive.")


def _strip_wrappers(entries):
    """Drop leading folders that every image shares (e.g. the zip's top folder).

    Stops before the class level: a shared folder is dropped only while the
    images still sit at least two levels below what remains.
    """
    while entries and all(len(entry[0]) > 2 for entry in entries):
        if len({entry[0][0] for entry in entries}) != 1:
            break
        entries = [(entry[0][1:], *entry[1:]) for entry in entries]
    return entries


@validate_params(
    {
        "path": [str, os.PathLike, "array-like"],
        # A tuple's values are checked in the body.
        "image_size": [Interval(Integral, 1, None, closed="left"), "array-like", None],
        "grayscale": ["boolean"],
        "invert": ["boolean"],
        "extensions": ["array-like"],
        "return_X_y": ["boolean"],
        "flatten": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_image_folder(
    path,
    *,
    image_size=None,
    grayscale=True,
    invert=False,
    extensions=IMAGE_EXTENSIONS,
    return_X_y=False,
    flatten=False,
):
    """Load images stored one sub-folder per class, from folders or zips.

    Two layouts are recognised, in a folder or in a ``.zip`` archive of
    one (read in place, no unzipping):

    * ``path/CLASS/image.ext``: one folder per class, e.g. the AT&T faces
      (``s1/1.pgm`` ... ``s40/10.pgm``). ``groups`` is None.
    * ``path/GROUP/CLASS/image.ext``: classes nested in groups, e.g.
      Omniglot's ``alphabet/character/``. The class label is
      ``"GROUP/CLASS"`` (character names repeat across alphabets) and
      ``groups`` holds the alphabet, for
      :func:`~sklearn_siamese.metrics.one_shot_accuracy`'s within-alphabet
      episodes or a ``GroupKFold`` over alphabets.

    Leading folders shared by every image (such as the top folder of
    Omniglot's ``images_background.zip``) are skipped, so a folder holding
    a single group reads as the one-level layout. Hidden files and
    ``__MACOSX`` folders are ignored. Samples are sorted by class, then
    file name, so the result is the same on every machine.

    The images come back as the estimators read them, channels first as
    in PyTorch: ``data`` (and ``X`` of ``return_X_y=True``) is
    ``(n, H, W)`` for grey photos and ``(n, 3, H, W)`` for colour ones, so
    ``SiameseEmbedder().fit(data, target)`` trains the convolutional
    encoder whatever the photos' size. ``flatten=True`` makes ``data`` one
    row per image (for a ``StandardScaler`` or PCA before the embedder);
    pass ``image_shape=bunch.image_shape`` to the estimator then, which
    ``(height, width)`` or ``(3, height, width)`` is. ``images`` keeps the
    channels last, as ``matplotlib.pyplot.imshow`` shows them (the
    estimators read that layout too).

    Several folders or zips given as a list are merged into one data set
    (e.g. Omniglot's ``images_background_small1.zip`` and
    ``images_background_small2.zip``); an image at the same place in two of
    them (same group, class and file name) is read once, from the first.

    Parameters
    ----------
    path : str, path-like, or list of them
        A folder, or a ``.zip`` file, in one of the layouts above; or a list
        of them to merge.
    image_size : int or tuple (height, width), default=None
        Resize every image to this size. None keeps the files' size, which
        must then be the same for all images.
    grayscale : bool, default=True
        Convert to one channel. False converts to RGB: ``data`` is then
        ``(n, 3, height, width)``.
    invert : bool, default=False
        Return ``1 - pixel``, e.g. so Omniglot's black strokes on white
        become ones on a zero background.
    extensions : tuple of str, default=IMAGE_EXTENSIONS
        File endings (lower case, with the dot) read as images.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    flatten : bool, default=False
        Make ``data`` one row of ``channels * height * width`` values per
        image (channels one after the other), for scikit-learn steps that
        need 2-D X. The estimators then need ``image_shape=bunch.image_shape``
        to read the rows as images.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With the attributes

        data : ndarray of shape (n_samples, [3,] height, width), float32 in [0, 1]
            The images, channels first (grey ones have no channel axis);
            with ``flatten=True`` of shape (n_samples, n_values), one row
            per image.
        target : ndarray of shape (n_samples,)
            Class label of each image (a string).
        groups : ndarray of shape (n_samples,) or None
            Group (alphabet) of each image in the nested layout.
        images : ndarray of shape (n_samples, height, width[, 3])
            The same pixels, channels last, for ``imshow``.
        image_shape : tuple
            ``(height, width)`` or ``(3, height, width)``: the shape of one
            image as the estimators' ``image_shape`` parameter takes it.
        target_names : ndarray
            The distinct classes, sorted.
        filenames : ndarray of str
            Path of each image, relative to ``path`` (when ``path`` is a
            list: the folder or zip followed by that relative path).
    (X, y) : tuple
        When ``return_X_y=True``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If no image is found, images sit directly in ``path`` or at mixed
        depths, a file cannot be read as an image, or sizes differ without
        ``image_size``.

    Examples
    --------
    >>> import os, tempfile
    >>> from PIL import Image
    >>> root = tempfile.mkdtemp()
    >>> for person in ["s1", "s2"]:
    ...     os.mkdir(os.path.join(root, person))
    ...     for i in range(2):
    ...         Image.new("L", (4, 6), color=60 * i).save(os.path.join(root, person, f"{i}.pgm"))
    >>> faces = load_image_folder(root)
    >>> faces.data.shape, faces.image_shape, faces.target.tolist()
    ((4, 6, 4), (6, 4), ['s1', 's1', 's2', 's2'])
    >>> load_image_folder(root, grayscale=False, flatten=True).data.shape
    (4, 72)
    """
    if isinstance(image_size, (int, np.integer)):
        image_size = (int(image_size), int(image_size))
    if image_size is not None and (len(image_size) != 2 or min(image_size) < 1):
        raise ValueError(f"image_size must be a positive int or a (height, width) tuple, got {image_size!r}.")
    extensions = tuple(e.lower() for e in extensions)
    single = isinstance(path, (str, os.PathLike))
    paths = [path] if single else list(path)
    if not paths:
        raise ValueError("path is an empty list; give a folder or a .zip file.")
    paths = [_existing(p, "path") for p in paths]
    where = repr(str(paths[0])) if single else str([str(p) for p in paths])
    Image = _import_pil()

    archives, entries, taken = [], [], set()
    try:
        for source in paths:
            found, archive = _list_images(source, extensions)
            if archive is not None:
                archives.append(archive)
            if not found:
                raise ValueError(
                    f"No image files ({', '.join(extensions)}) found in {str(source)!r}; expected one "
                    "sub-folder of images per class."
                )
            for parts, name, opener in _strip_wrappers(found):
                if parts not in taken:  # the same image in an earlier folder or zip
                    taken.add(parts)
                    entries.append((parts, name if single else f"{source}/{name}", opener))
        entries.sort(key=lambda entry: entry[0])
        depths = {len(parts) for parts, _, _ in entries}
        if 1 in depths:
            loose = next(name for parts, name, _ in entries if len(parts) == 1)
            raise ValueError(f"Images must sit in one sub-folder per class, but {loose!r} is directly in {where}.")
        if len(depths) > 1 or max(depths) > 3:
            raise ValueError(
                "Images must all sit in CLASS/ folders or all in GROUP/CLASS/ folders; found "
                f"images at depths {sorted(depths)} below {where}."
            )
        nested = depths == {3}
        pixels, names = [], []
        for _, name, opener in entries:
            try:
                with opener() as f, Image.open(f) as img:
                    img = img.convert("L" if grayscale else "RGB")
                    if image_size is not None and img.size != (image_size[1], image_size[0]):
                        img = img.resize((image_size[1], image_size[0]), Image.Resampling.BILINEAR)
                    array = np.asarray(img)
            except (OSError, ValueError, SyntaxError) as exc:
                raise ValueError(f"Cannot read {name!r} in {where} as an image: {exc}") from exc
            if pixels and array.shape != pixels[0].shape:
                raise ValueError(
                    f"Images differ in size: {names[0]!r} is {pixels[0].shape[:2]} (height, width) but "
                    f"{name!r} is {array.shape[:2]}; pass image_size=(height, width) to resize them."
                )
            pixels.append(array)
            names.append(name)
    finally:
        for archive in archives:
            archive.close()

    images = np.stack(pixels).astype(np.float32) / 255.0
    if invert:
        images = 1.0 - images
    target = np.array(["/".join(parts[:-1]) for parts, _, _ in entries])
    groups = np.array([parts[0] for parts, _, _ in entries]) if nested else None
    channels_first = images if grayscale else np.ascontiguousarray(np.moveaxis(images, 3, 1))
    X = channels_first.reshape(len(images), -1) if flatten else channels_first
    if return_X_y:
        return X, target
    return Bunch(
        data=X,
        target=target,
        groups=groups,
        images=images,
        image_shape=channels_first.shape[1:],
        target_names=np.unique(target),
        filenames=np.array(names),
    )
