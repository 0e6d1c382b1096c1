"""Loaders: IDX files and image folders, built here in temporary directories."""

import gzip
import zipfile

import numpy as np
import pytest
from PIL import Image

from sklearn_siamese.datasets import load_idx, load_image_folder


def idx_bytes(array, type_code=0x08):
    dtype = {0x08: ">u1", 0x0B: ">i2", 0x0D: ">f4"}[type_code]
    header = bytes([0, 0, type_code, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + np.asarray(array, dtype=dtype).tobytes()


@pytest.fixture
def mnist_like():
    rng = np.random.RandomState(0)
    return rng.randint(0, 256, size=(5, 4, 3)).astype(np.uint8), np.array([3, 1, 4, 1, 5], dtype=np.uint8)


# --------------------------------------------------------------------------- IDX
@pytest.mark.parametrize("gzipped", [False, True])
def test_load_idx_round_trip(tmp_path, mnist_like, gzipped):
    images, labels = mnist_like
    write = (lambda p, b: gzip.open(p, "wb").write(b)) if gzipped else (lambda p, b: p.write_bytes(b))
    # The file names lie about compression on purpose: detection is by content.
    write(tmp_path / "images.idx", idx_bytes(images))
    write(tmp_path / "labels.idx.gz", idx_bytes(labels))
    X, y = load_idx(tmp_path / "images.idx", str(tmp_path / "labels.idx.gz"))
    # The images as the header shapes them, which the estimators read as images.
    assert X.dtype == np.float32 and X.shape == (5, 4, 3)
    np.testing.assert_allclose(X, images / 255.0, rtol=1e-6)
    rows, _ = load_idx(tmp_path / "images.idx", str(tmp_path / "labels.idx.gz"), flatten=True)
    np.testing.assert_array_equal(rows, X.reshape(5, 12))
    assert X.min() >= 0 and X.max() <= 1
    assert y.dtype == np.int64 and y.tolist() == [3, 1, 4, 1, 5]


def test_load_idx_float_images(tmp_path, mnist_like):
    _, labels = mnist_like
    images = np.linspace(0, 1, 5 * 6).reshape(5, 6)
    (tmp_path / "i").write_bytes(idx_bytes(images, 0x0D))
    (tmp_path / "l").write_bytes(idx_bytes(labels))
    X, _ = load_idx(tmp_path / "i", tmp_path / "l")
    np.testing.assert_allclose(X, images, rtol=1e-6)
    (tmp_path / "i").write_bytes(idx_bytes(images * 3, 0x0D))
    with pytest.raises(ValueError, match=r"expected values in \[0, 1\]"):
        load_idx(tmp_path / "i", tmp_path / "l")
    (tmp_path / "i").write_bytes(idx_bytes(np.ones((5, 6)), 0x0B))
    with pytest.raises(ValueError, match="int16 pixels"):
        load_idx(tmp_path / "i", tmp_path / "l")


def test_load_idx_corrupt_files(tmp_path, mnist_like):
    images, labels = mnist_like
    (tmp_path / "labels").write_bytes(idx_bytes(labels))
    good = idx_bytes(images)
    cases = {
        "truncated": (good[:-5], r"corrupt: its header announces shape \(5, 4, 3\) of uint8 \(60 bytes"),
        "extra": (good + b"\0", "corrupt"),
        "magic": (b"\x01" + good[1:], "not an IDX file"),
        "type": (good[:2] + b"\x07" + good[3:], "not an IDX file"),
        "header": (good[:9], "truncated inside its header"),
        "empty": (b"", "not an IDX file"),
        "bad_gzip": (b"\x1f\x8b" + b"garbage" * 3, "not a readable gzip file"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=message):
            load_idx(tmp_path / name, tmp_path / "labels")


def test_load_idx_mismatch_and_missing(tmp_path, mnist_like):
    images, labels = mnist_like
    (tmp_path / "images").write_bytes(idx_bytes(images))
    (tmp_path / "labels").write_bytes(idx_bytes(labels[:4]))
    with pytest.raises(ValueError, match="holds 5 images but labels_path holds 4 labels"):
        load_idx(tmp_path / "images", tmp_path / "labels")
    with pytest.raises(ValueError, match="1-D array of labels"):
        load_idx(tmp_path / "images", tmp_path / "images")
    with pytest.raises(FileNotFoundError, match="labels_path .*nothing.* does not exist"):
        load_idx(tmp_path / "images", tmp_path / "nothing")
    with pytest.raises(ValueError, match="is a folder"):
        load_idx(tmp_path, tmp_path / "labels")


# ------------------------------------------------------------------ image folders
def save_gray(path, pixels, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(path, format=fmt)


@pytest.fixture
def faces(tmp_path):
    """AT&T-like layout: s1/1.pgm ... with known pixels."""
    root = tmp_path / "faces"
    rng = np.random.RandomState(0)
    pixels = {}
    for person in ["s1", "s2", "s10"]:
        for i in (1, 2):
            arr = rng.randint(0, 256, size=(6, 4))
            save_gray(root / person / f"{i}.pgm", arr)
            pixels[f"{person}/{i}.pgm"] = arr
    (root / "README.txt").write_text("not an image")  # ignored: not an image extension
    (root / "s1" / ".DS_Store").write_bytes(b"junk")  # ignored: hidden
    return root, pixels


def test_class_folders(faces):
    root, pixels = faces
    data = load_image_folder(root)
    assert data.filenames.tolist() == ["s1/1.pgm", "s1/2.pgm", "s10/1.pgm", "s10/2.pgm", "s2/1.pgm", "s2/2.pgm"]
    assert data.target.tolist() == ["s1", "s1", "s10", "s10", "s2", "s2"]
    assert data.groups is None
    assert data.image_shape == (6, 4) and data.images.shape == (6, 6, 4)
    assert data.data.dtype == np.float32 and data.data.shape == (6, 6, 4)
    for image, name in zip(data.data, data.filenames):
        np.testing.assert_allclose(image, pixels[name] / 255.0, rtol=1e-6)
    rows = load_image_folder(root, flatten=True)
    assert rows.data.shape == (6, 24) and rows.image_shape == (6, 4)
    np.testing.assert_array_equal(rows.data, data.data.reshape(6, 24))
    assert data.target_names.tolist() == ["s1", "s10", "s2"]
    X, y = load_image_folder(root, return_X_y=True, invert=True)
    np.testing.assert_allclose(X, 1 - data.data, atol=1e-6)
    assert y.tolist() == data.target.tolist()


def test_resize_and_colour(faces):
    root, _ = faces
    data = load_image_folder(root, image_size=(3, 2))
    assert data.image_shape == (3, 2) and data.data.shape == (6, 3, 2)
    assert load_image_folder(root, image_size=5).image_shape == (5, 5)
    rgb = load_image_folder(root, grayscale=False)
    # Colour: channels first in data (as the estimators and PyTorch read images), last in images.
    assert rgb.image_shape == (3, 6, 4) and rgb.data.shape == (6, 3, 6, 4) and rgb.images.shape == (6, 6, 4, 3)
    assert load_image_folder(root, grayscale=False, flatten=True).data.shape == (6, 72)
    # A grey image in RGB repeats its value on the three channels.
    np.testing.assert_allclose(rgb.images[..., 0], load_image_folder(root).images, atol=1e-6)
    with pytest.raises(ValueError, match="image_size must be"):
        load_image_folder(root, image_size=(0, 3))


def make_omniglot_like(root):
    """ALPHABET/characterNN/*.png, black strokes on white, like Omniglot."""
    for alphabet, n_chars in [("Greek", 2), ("Latin", 3)]:
        for c in range(1, n_chars + 1):
            for k in range(2):
                arr = np.full((5, 5), 255)
                arr[c, k] = 0
                save_gray(root / alphabet / f"character{c:02d}" / f"{k}.png", arr)


def test_nested_alphabet_folders(tmp_path):
    make_omniglot_like(tmp_path / "omniglot")
    data = load_image_folder(tmp_path / "omniglot", invert=True)
    assert data.target.tolist()[:4] == ["Greek/character01"] * 2 + ["Greek/character02"] * 2
    assert data.groups.tolist() == ["Greek"] * 4 + ["Latin"] * 6
    assert len(data.target_names) == 5  # character01 of Greek and of Latin are different classes
    assert data.images[0, 1, 0] == 1.0 and data.images[0].sum() == 1.0  # one inverted stroke pixel


def test_zip_with_a_top_folder_reads_like_the_folder(tmp_path):
    make_omniglot_like(tmp_path / "images_background" )
    archive = tmp_path / "images_background.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted((tmp_path / "images_background").rglob("*")):
            zf.write(f, f.relative_to(tmp_path).as_posix())
        zf.writestr("__MACOSX/images_background/._junk.png", b"junk")
    from_zip = load_image_folder(archive, image_size=4)
    from_folder = load_image_folder(tmp_path / "images_background", image_size=4)
    np.testing.assert_array_equal(from_zip.data, from_folder.data)
    np.testing.assert_array_equal(from_zip.target, from_folder.target)
    np.testing.assert_array_equal(from_zip.groups, from_folder.groups)
    assert from_zip.filenames[0] == "images_background/Greek/character01/0.png"


def test_image_folder_errors(tmp_path, faces):
    root, _ = faces
    with pytest.raises(FileNotFoundError, match="path .*missing.* does not exist"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No image files .* found"):
        load_image_folder(tmp_path / "empty")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ValueError, match="neither a folder nor a .zip"):
        load_image_folder(tmp_path / "file.txt")

    save_gray(root / "loose.png", np.zeros((6, 4)))
    with pytest.raises(ValueError, match="'loose.png' is directly in"):
        load_image_folder(root)
    (root / "loose.png").unlink()

    save_gray(root / "s3" / "extra" / "deep" / "1.png", np.zeros((6, 4)))
    with pytest.raises(ValueError, match=r"depths \[2, 4\]"):
        load_image_folder(root)
    (root / "s3" / "extra" / "deep" / "1.png").unlink()

    (root / "s2" / "3.png").write_bytes(b"this is not a png")
    with pytest.raises(ValueError, match="Cannot read 's2/3.png'"):
        load_image_folder(root)
    (root / "s2" / "3.png").unlink()

    save_gray(root / "s2" / "big.png", np.zeros((7, 4)))
    with pytest.raises(ValueError, match=r"is \(6, 4\) .* 's2/big.png' is \(7, 4\); pass image_size"):
        load_image_folder(root)
    assert load_image_folder(root, image_size=(6, 4)).data.shape == (7, 6, 4)


def test_merging_several_folders_and_zips(tmp_path):
    make_omniglot_like(tmp_path / "one" / "small1")  # Greek, Latin
    save_gray(tmp_path / "two" / "small2" / "Latin" / "character01" / "0.png", np.zeros((5, 5)))  # a duplicate
    save_gray(tmp_path / "two" / "small2" / "Tagalog" / "character01" / "0.png", np.zeros((5, 5)))
    save_gray(tmp_path / "two" / "small2" / "Tagalog" / "character01" / "1.png", np.zeros((5, 5)))
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted((tmp_path / "two").rglob("*.png")):
            zf.write(f, f.relative_to(tmp_path / "two").as_posix())
    merged = load_image_folder([tmp_path / "one", archive])
    alone = load_image_folder(tmp_path / "one")
    assert len(merged.target) == len(alone.target) + 2
    assert sorted(set(merged.groups)) == ["Greek", "Latin", "Tagalog"]
    # The duplicate Latin image comes from the first folder (white, not the zip's black one).
    first = merged.filenames.tolist().index(f"{tmp_path / 'one'}/small1/Latin/character01/0.png")
    assert merged.data[first].mean() > 0.9
    assert merged.filenames[-1] == f"{archive}/small2/Tagalog/character01/1.png"
    assert merged.target[-1] == "Tagalog/character01"
    with pytest.raises(ValueError, match="empty list"):
        load_image_folder([])
