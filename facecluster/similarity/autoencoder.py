"""A small convolutional autoencoder (torch, CPU) trained on a folder; images compared by latent cosine.

Images -> RGB SIZE x SIZE (aspect ignored) in [0, 1]. Encoder: 3 stride-2 4x4 convs (16, 32, 64 channels,
ReLU) and a linear layer to LATENT dims; the decoder mirrors it (sigmoid output); MSE loss, Adam, random
horizontal flips. The saved file (torch.save of plain tensors/numbers, loaded with weights_only=True) also
holds the mean latent of the training images, which is subtracted before the cosine so that the score
reflects what differs between images rather than what all of them share. torch is an optional extra.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DependencyError, InputError, ModelError
from .base import VectorComparator, unit
from .io import as_image, list_images, load_image

log = logging.getLogger("facecluster")
SIZE, LATENT, FORMAT = 64, 64, "facecluster-autoencoder-v1"


def _torch():
    if importlib.util.find_spec("torch") is None:
        raise DependencyError("the autoencoder needs torch; install it with `pip install torch` "
                              "(or `pip install facecluster[torch]`)")
    import torch

    return torch


def build(latent: int = LATENT):
    nn = _torch().nn

    class AutoEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Conv2d(3, 16, 4, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 4, 2, 1), nn.ReLU(),
                nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(64 * (SIZE // 8) ** 2, latent))
            self.decoder = nn.Sequential(
                nn.Linear(latent, 64 * (SIZE // 8) ** 2), nn.ReLU(), nn.Unflatten(1, (64, SIZE // 8, SIZE // 8)),
                nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.ReLU(),
                nn.ConvTranspose2d(16, 3, 4, 2, 1), nn.Sigmoid())

        def forward(self, x):
            return self.decoder(self.encoder(x))

    return AutoEncoder()


def to_array(image) -> np.ndarray:
    """Image -> float32 (3, SIZE, SIZE) RGB in [0, 1]."""
    import cv2

    small = cv2.resize(as_image(image), (SIZE, SIZE), interpolation=cv2.INTER_AREA)[:, :, ::-1]
    return np.ascontiguousarray(small.transpose(2, 0, 1), dtype=np.float32) / 255.0


def train(folder, output, epochs: int = 40, batch_size: int = 16, latent: int = LATENT, seed: int = 0,
          progress=None) -> dict:
    """Train on every readable image under `folder`, save to `output`; returns a summary dict.
    `progress(epoch, epochs, loss)` is called after each epoch."""
    torch = _torch()
    arrays, skipped = [], 0
    for path in list_images(folder):
        try:
            arrays.append(to_array(load_image(path)))
        except InputError as exc:
            skipped += 1
            log.warning("autoencoder: skipping %s", exc)
    if len(arrays) < 2:
        raise InputError(f"need at least 2 readable images under {folder} to train an autoencoder, found "
                         f"{len(arrays)}")
    torch.manual_seed(seed)
    data = torch.from_numpy(np.stack(arrays))
    model = build(latent)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_value = float("nan")
    for epoch in range(epochs):
        model.train()
        order, total = torch.randperm(len(data)), 0.0
        for start in range(0, len(data), batch_size):
            batch = data[order[start:start + batch_size]]
            flip = torch.rand(len(batch)) < 0.5
            batch = torch.where(flip[:, None, None, None], batch.flip(3), batch)
            loss = torch.nn.functional.mse_loss(model(batch), batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        loss_value = total / len(data)
        if progress:
            progress(epoch + 1, epochs, loss_value)
    model.eval()
    with torch.no_grad():
        mean = model.encoder(data).mean(0)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": FORMAT, "size": SIZE, "latent": latent, "epochs": epochs, "images": len(arrays),
                "loss": loss_value, "latent_mean": mean, "state_dict": model.state_dict()}, output)
    return {"output": str(output), "images": len(arrays), "skipped": skipped, "epochs": epochs, "loss": loss_value}


def load(path):
    torch = _torch()
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"autoencoder model not found: {path} (train one with `facecluster autoencoder train "
                         f"DIR -o {path.name}`)")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(saved, dict) or saved.get("format") != FORMAT:
            raise ValueError("not a facecluster autoencoder file")
        model = build(int(saved["latent"]))
        model.load_state_dict(saved["state_dict"])
    except Exception as exc:
        raise ModelError(f"cannot load autoencoder {path}: {exc}") from None
    model.eval()
    return model, saved["latent_mean"]


class AutoencoderComparator(VectorComparator):
    DESCRIPTION = "conv autoencoder latent (minus training mean), cosine"

    def __init__(self, ae_model=None, **options):
        super().__init__(**options)
        if not ae_model:
            raise ConfigError("the autoencoder method needs a trained model: pass --ae-model MODEL.pt "
                              "(train one with `facecluster autoencoder train DIR -o MODEL.pt`)")
        self.path = Path(ae_model)
        self._model, self._mean = load(self.path)

    def cache_key(self) -> str:
        from ..models import sha256_of

        return f"autoencoder-v{self.VERSION}-{sha256_of(self.path)[:16]}"

    def encode_batch(self, images) -> list:
        torch = _torch()
        with torch.no_grad():
            z = self._model.encoder(torch.from_numpy(np.stack([to_array(im) for im in images]))) - self._mean
        return [unit(row) for row in z.numpy()]

    def encode(self, image) -> np.ndarray:
        return self.encode_batch([image])[0]
