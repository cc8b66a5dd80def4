"""Downloads: cache with SHA-256, fail fast offline, never leave half a file; remote parsers.

Every server here is a local http.server on 127.0.0.1 that the test starts and stops.
"""

import gzip
import hashlib
import io
import pickle
import socket
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from course import data
from course.data import downloads as download_module


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        server = self.server
        server.requests.append(self.path)
        name = self.path.lstrip("/")
        if name not in server.files:
            self.send_error(404)
            return
        body = server.files[name]
        self.send_response(200)
        claimed = len(body) * 2 if name in server.truncate else len(body)
        self.send_header("Content-Length", str(claimed))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture
def server():
    """A local HTTP server: set .files[name] = bytes; .requests lists the paths asked for."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.requests, httpd.truncate = {}, [], set()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    return folder


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _files(folder):
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


PAYLOAD = b"course data " * 1000


def test_cache_dir_follows_the_environment_variable(cache):
    assert data.cache_dir() == cache


def test_download_with_good_checksum_lands_in_the_cache(server, cache):
    server.files["file.bin"] = PAYLOAD
    path = data.download(f"{server.url}/file.bin", _sha(PAYLOAD), progress=False)
    assert path == cache / "file.bin"
    assert path.read_bytes() == PAYLOAD


def test_second_download_is_served_from_the_cache_without_the_network(server, cache):
    server.files["file.bin"] = PAYLOAD
    data.download(f"{server.url}/file.bin", _sha(PAYLOAD), progress=False)
    data.download(f"{server.url}/file.bin", _sha(PAYLOAD), progress=False)
    assert server.requests == ["/file.bin"]


def test_cached_file_with_a_wrong_checksum_is_downloaded_again(server, cache, capsys):
    server.files["file.bin"] = PAYLOAD
    cache.mkdir()
    (cache / "file.bin").write_bytes(b"stale")
    path = data.download(f"{server.url}/file.bin", _sha(PAYLOAD), progress=False)
    assert path.read_bytes() == PAYLOAD
    assert server.requests == ["/file.bin"]


def test_bad_checksum_raises_and_leaves_no_file(server, cache):
    server.files["file.bin"] = PAYLOAD
    with pytest.raises(data.ChecksumError) as info:
        data.download(f"{server.url}/file.bin", "0" * 64, progress=False)
    message = str(info.value)
    assert "0" * 64 in message and _sha(PAYLOAD) in message and "discarded" in message
    assert _files(cache) == []


def test_bad_checksum_is_a_dataset_unavailable_error(server, cache):
    server.files["file.bin"] = PAYLOAD
    with pytest.raises(data.DatasetUnavailableError):
        data.download(f"{server.url}/file.bin", "1" * 64, progress=False)


def test_unreachable_server_fails_fast_naming_the_offline_alternatives(cache):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(data.DatasetUnavailableError) as info:
        data.download(f"http://127.0.0.1:{port}/mnist.npz", "0" * 64, progress=False)
    assert time.monotonic() - start < 5
    message = str(info.value)
    for word in ("mnist.npz", f"127.0.0.1:{port}", "offline", "digits", "shapes", "folder"):
        assert word in message
    assert _files(cache) == []


def test_silent_server_times_out_within_the_timeout(cache):
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(data.DatasetUnavailableError, match="within 0.5 s"):
            data.download(f"http://127.0.0.1:{port}/x.bin", "0" * 64, timeout=0.5, progress=False)
        assert time.monotonic() - start < 5
    assert _files(cache) == []


def test_server_dying_midway_leaves_no_half_file(server, cache):
    server.files["file.bin"] = PAYLOAD
    server.truncate.add("file.bin")
    with pytest.raises(data.DatasetUnavailableError, match="before the whole file"):
        data.download(f"{server.url}/file.bin", _sha(PAYLOAD), progress=False)
    assert _files(cache) == []


def test_missing_file_on_the_server_is_unavailable(server, cache):
    with pytest.raises(data.DatasetUnavailableError, match="404"):
        data.download(f"{server.url}/nothing.bin", "0" * 64, progress=False)
    assert _files(cache) == []


def test_interrupted_download_leaves_no_partial_file(cache, monkeypatch):
    class Interrupted:
        headers = {"Content-Length": "100"}

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self, n):
            raise KeyboardInterrupt

    monkeypatch.setattr(download_module.urllib.request, "urlopen", lambda *a, **k: Interrupted())
    with pytest.raises(KeyboardInterrupt):
        data.download("http://127.0.0.1:9/x.bin", "0" * 64, progress=False)
    assert _files(cache) == []


def test_mirror_replaces_the_canonical_url(server, cache, monkeypatch):
    server.files["file.bin"] = PAYLOAD
    monkeypatch.setenv("COURSE_DATA_MIRROR", server.url + "/")
    path = data.download("https://example.invalid/a/file.bin", _sha(PAYLOAD), progress=False)
    assert path.read_bytes() == PAYLOAD
    assert server.requests == ["/file.bin"]


def test_progress_bar_goes_to_stdout_not_stderr(server, cache, capfd):
    server.files["file.bin"] = PAYLOAD
    data.download(f"{server.url}/file.bin", _sha(PAYLOAD), progress=True)
    assert capfd.readouterr().err == ""


def test_malformed_sha256_is_rejected_before_downloading(cache):
    with pytest.raises(ValueError, match="64 hex digits"):
        data.download("http://127.0.0.1:9/x.bin", "abc", progress=False)


# --- the remote datasets, parsed from small generated files served through the mirror ---


def _serve(server, monkeypatch, name, files: dict[str, bytes]):
    """Serve ``files`` as the mirror of dataset ``name``, with their checksums patched in."""
    monkeypatch.setenv("COURSE_DATA_MIRROR", server.url)
    for remote in data.info(name).files:
        server.files[remote.filename] = files[remote.filename]
        monkeypatch.setattr(remote, "sha256", _sha(files[remote.filename]))


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_mnist_loads_through_the_mirror(server, cache, monkeypatch):
    rng = np.random.default_rng(0)
    npz = _npz(
        x_train=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        y_train=np.arange(20, dtype=np.uint8) % 10,
        x_test=rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        y_test=np.arange(10, dtype=np.uint8),
    )
    _serve(server, monkeypatch, "mnist", {"mnist.npz": npz})
    ds = data.load("mnist", progress=False)
    assert ds.images.shape == (30, 28, 28, 1)
    assert ds.class_names == [str(d) for d in range(10)]
    assert data.load("mnist", split="test", progress=False).labels.tolist() == list(range(10))
    assert server.requests == ["/mnist.npz"]


def test_fashion_mnist_loads_its_four_idx_files(server, cache, monkeypatch):
    def idx(header: bytes, values: np.ndarray) -> bytes:
        return gzip.compress(header + values.astype(np.uint8).tobytes())

    files = {
        "train-images-idx3-ubyte.gz": idx(b"\0" * 16, np.full((6, 28, 28), 7)),
        "train-labels-idx1-ubyte.gz": idx(b"\0" * 8, np.arange(6)),
        "t10k-images-idx3-ubyte.gz": idx(b"\0" * 16, np.full((4, 28, 28), 9)),
        "t10k-labels-idx1-ubyte.gz": idx(b"\0" * 8, np.arange(4)),
    }
    _serve(server, monkeypatch, "fashion_mnist", files)
    ds = data.load("fashion_mnist", image_size=14, progress=False)
    assert ds.images.shape == (10, 14, 14, 1)
    assert ds.labels.tolist() == [0, 1, 2, 3, 4, 5, 0, 1, 2, 3]
    assert ds.class_names[0] == "T-shirt/top"


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def test_cifar10_loads_its_pickled_batches(server, cache, monkeypatch):
    def batch(value: int, n: int = 2) -> bytes:
        pixels = np.full((n, 3 * 32 * 32), value, np.uint8)
        pixels[:, 1024:2048] = 1  # the green plane
        return pickle.dumps({b"data": pixels, b"labels": [value % 10] * n})

    members = {f"cifar-10-batches-py/data_batch_{i}": batch(i) for i in range(1, 6)}
    members["cifar-10-batches-py/test_batch"] = batch(9)
    _serve(server, monkeypatch, "cifar10", {"cifar-10-python.tar.gz": _tar_gz(members)})
    ds = data.load("cifar10", progress=False)
    assert ds.images.shape == (12, 32, 32, 3)
    assert ds.labels.tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 9, 9]
    assert (ds.images[..., 1] == 1).all() and (ds.images[0, ..., 0] == 1).all()
    assert data.load("cifar10", split="test", progress=False).class_names[9] == "truck"


def test_cifar10_refuses_a_pickle_that_would_run_code(server, cache, monkeypatch):
    evil = pickle.dumps({b"data": __import__("os").getcwd, b"labels": []})
    members = {"cifar-10-batches-py/data_batch_1": evil, "cifar-10-batches-py/test_batch": evil}
    _serve(server, monkeypatch, "cifar10", {"cifar-10-python.tar.gz": _tar_gz(members)})
    with pytest.raises(data.DatasetUnavailableError, match="refusing"):
        data.load("cifar10", progress=False)


def _jpeg(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def test_flowers_extracts_and_loads_through_the_folder_loader(server, cache, monkeypatch):
    members = {
        "flower_photos/LICENSE.txt": b"CC-BY",
        "flower_photos/daisy/1.jpg": _jpeg((250, 250, 250)),
        "flower_photos/roses/1.jpg": _jpeg((200, 0, 0)),
        "flower_photos/roses/2.jpg": _jpeg((180, 0, 0)),
    }
    _serve(server, monkeypatch, "flowers", {"flower_photos.tgz": _tar_gz(members)})
    ds = data.load("flowers", image_size=16, progress=False)
    assert ds.name == "flowers"
    assert ds.class_names == ["daisy", "roses"]
    assert ds.images.shape == (3, 16, 16, 3)
    again = data.load("flowers", image_size=8, progress=False)
    assert again.images.shape == (3, 8, 8, 3)
    assert server.requests == ["/flower_photos.tgz"]


def test_flowers_refuses_an_archive_that_escapes_the_cache(server, cache, monkeypatch):
    members = {"flower_photos/daisy/1.jpg": _jpeg((1, 2, 3)), "../../evil.txt": b"x"}
    _serve(server, monkeypatch, "flowers", {"flower_photos.tgz": _tar_gz(members)})
    with pytest.raises(data.DatasetUnavailableError, match="unsafe"):
        data.load("flowers", progress=False)
    assert not (cache.parent / "evil.txt").exists()
    assert not (cache / "flowers" / "flower_photos").exists()


def test_remote_dataset_offline_names_the_offline_alternatives(cache, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("COURSE_DATA_MIRROR", f"http://127.0.0.1:{port}")
    with pytest.raises(data.DatasetUnavailableError, match="digits"):
        data.load("cifar10", progress=False)
