"""Generated parcels: a photo of a handwritten zone digit and the sender's note (lesson 11).

A sorting station photographs the zone number (0-9) written on each parcel and reads the note
that came with it. The bin depends on both: the zone, which the photo shows and the note rarely
names, and the service (express or standard), which the note usually names and the photo never
shows. So a model that sees only the photo is right about half the time at best, a model that
reads only the note rarely knows the zone, and a model that fuses both can sort most parcels.
The photos are the bundled handwritten digits; deterministic from ``seed``, offline.
"""

from __future__ import annotations

import numpy as np

from course.data import _prep
from course.data.dataset import Dataset
from course.data.digits import load_digits

SERVICES = {
    "express": ("express", "urgent", "priority", "rush", "overnight"),
    "standard": ("standard", "economy", "regular", "ground", "saver"),
}
ZONE_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
FILLER = (
    "please", "handle", "with", "care", "fragile", "gift", "for", "the", "office", "home",
    "books", "parts", "documents", "thanks", "box", "deliver", "to", "front", "door", "leave",
    "at", "reception", "signed", "keep", "dry", "this", "side", "up",
)  # fmt: skip
DESCRIPTION = (
    "the bundled handwritten digits as parcel zone numbers, each with a sender's note that "
    "usually names the service (express or standard); the class is zone + service"
)


def _note(zone: int, service: str, rng: np.random.Generator, names: float, hints: float) -> str:
    words = [str(w) for w in rng.choice(FILLER, size=int(rng.integers(3, 7)))]
    if rng.random() < names:
        words.append(str(rng.choice(SERVICES[service])))
    if rng.random() < hints:
        words.append(ZONE_WORDS[zone])
    rng.shuffle(words)
    return " ".join(words)


def load_parcels(
    *,
    image_size: int = 8,
    channels: int = 1,
    names_service: float = 0.85,
    hints_zone: float = 0.3,
    seed: int = 0,
    limit: int | None = None,
) -> Dataset:
    """Handwritten zone digits with a note each (``ds.texts``); 20 classes, ``"3 express"``.

    Introduced in lesson 11 (architectures), for multimodal fusion.

    The images are ``data.load("digits")`` (``image_size`` and ``channels`` as there). Each
    parcel goes express or standard, half of each digit each. Its note is 3-6 filler words
    (``"please handle with care"``) with, in a share ``names_service`` of the parcels, one word
    naming the service (``"urgent"``, ``"economy"``, ...) and, in a share ``hints_zone``, the
    zone as a word (``"seven"``), in random order. The pixels never show the service.

    Example::

        ds = data.load("parcels", image_size=16)
        ds.texts[0], ds.class_names[ds.labels[0]]   # ('care urgent the for', '0 express')
    """
    for name, share in (("names_service", names_service), ("hints_zone", hints_zone)):
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise ValueError(f"{name} is a share of the parcels, between 0 and 1; got {share!r}")
    digits = load_digits(image_size=image_size, channels=channels, seed=seed)
    services = list(SERVICES)
    rng = np.random.default_rng([seed, 11])
    service = np.empty(len(digits), dtype=np.int64)
    for zone in range(digits.num_classes):  # half of each zone each service
        idx = np.flatnonzero(digits.labels == zone)
        service[idx] = rng.permutation(np.arange(len(idx)) % len(services))
    labels = service * digits.num_classes + digits.labels
    texts = [
        _note(int(z), services[s], rng, names_service, hints_zone)
        for z, s in zip(digits.labels, service, strict=True)
    ]
    keep = _prep.subsample_indices(labels, limit, seed)
    return Dataset(
        name="parcels",
        images=digits.images[keep],
        labels=labels[keep],
        class_names=[f"{zone} {s}" for s in services for zone in range(digits.num_classes)],
        texts=[texts[i] for i in keep],
        description=DESCRIPTION,
    )
