"""A small model trained with augmentation on the device, inside the training loop.

    python examples/train_gpu_augment.py            # CUDA when present, else CPU
    python examples/train_gpu_augment.py --epochs 1 --samples 64 --device cpu

The images stay uint8 from the DataLoader to the device; ``GPUAugment`` augments each batch in one pass there
(every sample its own drawn values, recorded in ``aug.last.applied``), mixes it with cutmix (soft labels), and the
model normalises on the device. The data is synthetic (a bright square in one of two halves) so the example needs
no download.
"""

from __future__ import annotations

import argparse

import torch

import augment
import augment.torch as at
from augment import ops


def synthetic(n: int, size: int = 32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 60, (n, 3, size, size), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 2, (n,), generator=g)
    for i in range(n):
        left = 2 if labels[i] == 0 else size // 2 + 2
        top = int(torch.randint(2, size - 10, (1,), generator=g))
        images[i, :, top: top + 8, left: left + 8] = 230
    return images, labels


def model_for(num_classes: int) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d((1, 2)),
        torch.nn.Flatten(), torch.nn.Linear(64, num_classes),
    )


def train(epochs: int = 3, samples: int = 512, device: str | None = None, batch_size: int = 64) -> float:
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    images, labels = synthetic(samples)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels),
                                         batch_size=batch_size, shuffle=True)
    pipe = augment.Compose([
        ops.VerticalFlip(p=0.5),                      # a vertical flip keeps the class (left/right half)
        ops.Affine(degrees=(-10, 10), translate=(-0.05, 0.05), scale=(0.9, 1.1)),
        ops.BrightnessContrast(brightness=(0.8, 1.2), contrast=(0.8, 1.2)),
        ops.GaussianNoise(sigma=(2, 8), p=0.5),
    ], seed=7)
    aug = at.GPUAugment(pipe, mix="cutmix", alpha=1.0, num_classes=2).to(device)
    model = model_for(2).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    mean = torch.tensor([0.5, 0.5, 0.5], device=device).view(1, 3, 1, 1)
    for _ in range(epochs):
        aug.train()
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            x, soft = aug(x, y)                            # augmented uint8 batch and soft labels, on the device
            logits = model(x.float() / 255.0 - mean)
            loss = torch.sum(-soft * logits.log_softmax(1), dim=1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    test_x, test_y = synthetic(256, seed=1)
    with torch.no_grad():
        pred = model(test_x.to(device).float() / 255.0 - mean).argmax(1).cpu()
    return float((pred == test_y).float().mean())


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--samples", type=int, default=512)
    ap.add_argument("--device", default=None)
    args = ap.parse_args()
    print(f"held-out accuracy: {train(args.epochs, args.samples, args.device):.3f}")
