"""Datasets that are downloaded once (MNIST, Fashion-MNIST, CIFAR-10, flowers) and parsed.

Introduced in lesson 00 (getting-started). Every file goes through :func:`download` (cache,
SHA-256 check, ``$COURSE_DATA_MIRROR``), so offline use fails fast with a clear message.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course.data import _prep
from course.data.dataset import Dataset
from course.data.downloads import DatasetUnavailableError, cache_dir, download

SPLITS = ("train", "test", "all")
_TF_KERAS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


@dataclass
class RemoteFile:
    """One file of a downloadable dataset: where it lives and its SHA-256.

    Introduced in lesson 00 (getting-started).

    Example: ``data.info("mnist").files[0].url``
    """

    filename: str
    url: str
    sha256: str | None
    size: int  # bytes, for the registry table


# URLs and SHA-256 sums: MNIST and CIFAR-10 as in Keras's own loaders
# (keras/src/datasets/mnist.py, cifar10.py); Fashion-MNIST from the Keras loader's URLs with
# the sums TensorFlow Datasets records for these files (url_checksums/fashion_mnist.txt, same
# sizes); flowers as TensorFlow Datasets records it (url_checksums/tf_flowers.txt).
REMOTE_FILES: dict[str, list[RemoteFile]] = {
    "mnist": [
        RemoteFile(
            "mnist.npz",
            _TF_KERAS + "mnist.npz",
            "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
            11_490_434,
        )
    ],
    "fashion_mnist": [
        RemoteFile(
            "train-images-idx3-ubyte.gz",
            _TF_KERAS + "train-images-idx3-ubyte.gz",
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            26_421_880,
        ),
        RemoteFile(
            "train-labels-idx1-ubyte.gz",
            _TF_KERAS + "train-labels-idx1-ubyte.gz",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            29_515,
        ),
        RemoteFile(
            "t10k-images-idx3-ubyte.gz",
            _TF_KERAS + "t10k-images-idx3-ubyte.gz",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            4_422_102,
        ),
        RemoteFile(
            "t10k-labels-idx1-ubyte.gz",
            _TF_KERAS + "t10k-labels-idx1-ubyte.gz",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            5_148,
        ),
    ],
    "cifar10": [
        RemoteFile(
            "cifar-10-python.tar.gz",
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
            "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
            170_498_071,
        )
    ],
    "flowers": [
        RemoteFile(
            "flower_photos.tgz",
            "https://storage.googleapis.com/download.tensorflow.org/example_images/"
            "flower_photos.tgz",
            "4c54ace7911aaffe13a365c34f650e71dd5bf1be0a58b464e5a7183e3e595d9c",
            228_813_984,
        )
    ],
}

FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip


def _fetch_all(name: str, timeout: float, progress: bool) -> list[Path]:
    folder = cache_dir() / name
    return [
        download(
            f.url,
            f.sha256,
            filename=f.filename,
            cache_dir=folder,
            timeout=timeout,
            progress=progress,
        )
        for f in REMOTE_FILES[name]
    ]


def _check_split(split: str, name: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} for {name}; got {split!r}")
    return split


def _pick(split: str, train: tuple, test: tuple) -> tuple[np.ndarray, np.ndarray]:
    if split == "train":
        return train
    if split == "test":
        return test
    return np.concatenate([train[0], test[0]]), np.concatenate([train[1], test[1]])


def _damaged(path: Path, error: Exception) -> DatasetUnavailableError:
    return DatasetUnavailableError(
        f"{path} could not be read ({type(error).__name__}: {error}); delete it and load again"
    )


def load_mnist(
    *,
    split: str = "all",
    image_size: int | None = None,
    channels: int = 1,
    limit: int | None = None,
    seed: int = 0,
    timeout: float = 10.0,
    progress: bool = True,
) -> Dataset:
    """Download (once) and load MNIST: 70,000 handwritten digits, 28x28 grey.

    Introduced in lesson 00 (getting-started).

    ``split`` is ``"train"`` (60,000), ``"test"`` (10,000) or ``"all"`` (train then test).
    ``image_size`` resizes, ``channels=3`` repeats the grey channel, ``limit`` keeps a
    balanced subsample.

    Example: ``X, y = data.load("mnist", split="test", limit=1000)``
    """
    _check_split(split, "mnist")
    (path,) = _fetch_all("mnist", timeout, progress)
    try:
        with np.load(path, allow_pickle=False) as f:
            train = (f["x_train"], f["y_train"])
            test = (f["x_test"], f["y_test"])
    except Exception as error:
        raise _damaged(path, error) from error
    images, labels = _pick(split, train, test)
    images, labels = _prep.finish(
        images,
        labels.astype(np.int64),
        image_size=image_size,
        channels=channels,
        limit=limit,
        seed=seed,
    )
    return Dataset(
        "mnist",
        images,
        labels,
        [str(d) for d in range(10)],
        description="MNIST handwritten digits, 28x28 grey",
    )


def _read_idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def load_fashion_mnist(
    *,
    split: str = "all",
    image_size: int | None = None,
    channels: int = 1,
    limit: int | None = None,
    seed: int = 0,
    timeout: float = 10.0,
    progress: bool = True,
) -> Dataset:
    """Download (once) and load Fashion-MNIST: 70,000 clothing images, 28x28 grey, 10 classes.

    Introduced in lesson 00 (getting-started).

    Options as for ``mnist``: ``split``, ``image_size``, ``channels``, ``limit``, ``seed``.

    Example: ``ds = data.load("fashion_mnist", split="train", limit=2000)``
    """
    _check_split(split, "fashion_mnist")
    paths = _fetch_all("fashion_mnist", timeout, progress)
    try:
        y_train = _read_idx(paths[1], 8)
        x_train = _read_idx(paths[0], 16).reshape(len(y_train), 28, 28)
        y_test = _read_idx(paths[3], 8)
        x_test = _read_idx(paths[2], 16).reshape(len(y_test), 28, 28)
    except Exception as error:
        raise _damaged(paths[0].parent, error) from error
    images, labels = _pick(split, (x_train, y_train), (x_test, y_test))
    images, labels = _prep.finish(
        images,
        labels.astype(np.int64),
        image_size=image_size,
        channels=channels,
        limit=limit,
        seed=seed,
    )
    return Dataset(
        "fashion_mnist",
        images,
        labels,
        list(FASHION_CLASSES),
        description="Fashion-MNIST clothing images (Zalando), 28x28 grey",
    )


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays and plain Python values only: a tampered file cannot run code."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset file")


def _cifar_batch(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    batch = _ArrayUnpickler(io.BytesIO(data), encoding="bytes").load()
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    images = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return images.transpose(0, 2, 3, 1), np.asarray(batch["labels"], dtype=np.int64)


def load_cifar10(
    *,
    split: str = "all",
    image_size: int | None = None,
    channels: int = 3,
    limit: int | None = None,
    seed: int = 0,
    timeout: float = 10.0,
    progress: bool = True,
) -> Dataset:
    """Download (once, 170 MB) and load CIFAR-10: 60,000 colour photos, 32x32, 10 classes.

    Introduced in lesson 00 (getting-started).

    ``split`` is ``"train"`` (50,000), ``"test"`` (10,000) or ``"all"``; ``image_size``,
    ``channels``, ``limit`` and ``seed`` as for the other sets.

    Example: ``ds = data.load("cifar10", split="test", limit=1000)``
    """
    _check_split(split, "cifar10")
    (path,) = _fetch_all("cifar10", timeout, progress)
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                base = os.path.basename(member.name)
                if member.isfile() and (base.startswith("data_batch_") or base == "test_batch"):
                    parts[base] = _cifar_batch(tar.extractfile(member).read())
    except Exception as error:
        raise _damaged(path, error) from error
    train_names = sorted(k for k in parts if k.startswith("data_batch_"))
    if not train_names or "test_batch" not in parts:
        raise _damaged(path, ValueError("no data_batch_* or test_batch inside"))
    train = (
        np.concatenate([parts[k][0] for k in train_names]),
        np.concatenate([parts[k][1] for k in train_names]),
    )
    images, labels = _pick(split, train, parts["test_batch"])
    images, labels = _prep.finish(
        images, labels, image_size=image_size, channels=channels, limit=limit, seed=seed
    )
    return Dataset(
        "cifar10",
        images,
        labels,
        list(CIFAR10_CLASSES),
        description="CIFAR-10 colour photos, 32x32",
    )


def _safe_extract(archive: Path, dest: Path) -> None:
    """Extract a tar archive into ``dest`` refusing links, devices and paths that leave it."""
    dest = dest.resolve()
    with tarfile.open(archive, "r:*") as tar:
        members = []
        for member in tar.getmembers():
            target = (dest / member.name).resolve()
            if not (member.isfile() or member.isdir()):
                continue  # links, devices, fifos: not needed for images
            if os.path.isabs(member.name) or not target.is_relative_to(dest):
                raise DatasetUnavailableError(
                    f"{archive} contains an unsafe path {member.name!r}; it was not extracted"
                )
            members.append(member)
        tar.extractall(dest, members=members, filter="data")


def load_flowers(
    *,
    split: str = "all",
    image_size: int | tuple[int, int] = 64,
    channels: int = 3,
    fit: str = "pad",
    limit: int | None = None,
    seed: int = 0,
    timeout: float = 10.0,
    progress: bool = True,
    verbose: bool = True,
) -> Dataset:
    """Download (once, 220 MB) and load TensorFlow's flower photos: 3,670 photos, 5 classes.

    Introduced in lesson 00 (getting-started).

    The archive is extracted into the cache and read with the folder loader, so
    ``image_size`` (default 64), ``fit``, ``channels``, ``limit`` and ``seed`` work as for
    ``data.load('path/to/folder')``. There is one split only (``"all"``): split it with
    ``data.split``.

    Example: ``ds = data.load("flowers", image_size=96, limit=500)``
    """
    from course.data.folder import load_folder

    if split != "all":
        raise ValueError(
            f"flowers has a single split; got split={split!r}. Load it with split='all' and "
            "make your own with data.split(X, y)"
        )
    (archive,) = _fetch_all("flowers", timeout, progress)
    folder = archive.parent / "flower_photos"
    marker = folder / ".complete"
    if not marker.exists():
        tmp = Path(tempfile.mkdtemp(dir=archive.parent, prefix=".extract-"))
        try:
            _safe_extract(archive, tmp)
            inner = tmp / "flower_photos"
            if not inner.is_dir():
                raise DatasetUnavailableError(f"{archive} has no flower_photos folder inside")
            (inner / ".complete").touch()
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(inner, folder)
        except (tarfile.TarError, EOFError, OSError) as error:
            raise _damaged(archive, error) from error
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    ds = load_folder(
        folder,
        image_size=image_size,
        channels=channels,
        fit=fit,
        limit=limit,
        seed=seed,
        verbose=verbose,
    )
    ds.name = "flowers"
    ds.description = "TensorFlow flower photos (daisy, dandelion, roses, sunflowers, tulips)"
    return ds
