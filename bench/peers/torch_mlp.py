#!/usr/bin/python3
"""PyTorch 1.13 peer of bench/compare_bench.cc: trains the seed's models with flowgraph's protocol.

Protocol (identical to the flowgraph trainer, see bench/README.md):
  MNIST from the IDX files in $FG_MNIST_DIR (else $FG_DATA_DIR/mnist, else ~/.cache/flowgraph/mnist),
  pixels / 255 as float32, the first 5,000 training images held out for validation, Glorot-uniform
  weights, zero biases, plain SGD lr 0.01, each epoch a fresh permutation split into
  len(X) // batch nearly equal batches (the seed's shuffle_batch, np.array_split).
Models: plain200 / plain50 (ReLU 784-300-100-10), batch_norm (dense 300 -> BN -> ELU -> dense 100
  -> BN -> ELU -> dense 10 -> BN; TF momentum 0.9 is PyTorch momentum 0.1, eps 1e-3), train_dnn
  (four ReLU hidden layers of 300 + outputs).

Prints one JSON line per epoch and a final summary line; the epoch time covers the training loop only
(batch gathering included, validation excluded), as in the flowgraph trainer.

Run it with /usr/bin/python3 (Debian's python3-torch) at PyTorch's best thread setting:
  OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/peers/torch_mlp.py --model plain200 --epochs 3
"""
import argparse
import json
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
from torch import nn

MODELS = {"plain200": ("plain", 200), "plain50": ("plain", 50), "batch_norm": ("batch_norm", 200),
          "train_dnn": ("train_dnn", 200)}


def mnist_dir():
    if os.environ.get("FG_MNIST_DIR"):
        return os.environ["FG_MNIST_DIR"]
    if os.environ.get("FG_DATA_DIR"):
        return os.path.join(os.environ["FG_DATA_DIR"], "mnist")
    return os.path.expanduser("~/.cache/flowgraph/mnist")


def read_idx(path, magic, dims):
    data = bytearray(os.path.getsize(path))  # writable, so torch.from_numpy needs no copy
    with open(path, "rb") as f:
        f.readinto(data)
    got_magic, = struct.unpack(">I", data[:4])
    if got_magic != magic:
        sys.exit(f"{path}: bad magic {got_magic:#x}")
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_mnist(d, validation=5000):
    images = read_idx(os.path.join(d, "train-images-idx3-ubyte"), 0x803, 3).reshape(-1, 784)
    labels = read_idx(os.path.join(d, "train-labels-idx1-ubyte"), 0x801, 1)
    # One float32 copy, scaled in place: no second full-size temporary inflating the peak RSS.
    x = torch.from_numpy(images).float().div_(255.0)
    y = torch.from_numpy(labels.astype(np.int64))
    return (x[validation:], y[validation:]), (x[:validation], y[:validation])


def dense(n_in, n_out):
    layer = nn.Linear(n_in, n_out)
    nn.init.xavier_uniform_(layer.weight)  # Glorot uniform: limit sqrt(6 / (fan_in + fan_out))
    nn.init.zeros_(layer.bias)
    return layer


def build(kind):
    if kind == "plain":
        return nn.Sequential(dense(784, 300), nn.ReLU(), dense(300, 100), nn.ReLU(), dense(100, 10))
    if kind == "train_dnn":
        layers, n_in = [], 784
        for _ in range(4):  # the seed passes n_hidden1 = 300 to every hidden layer
            layers += [dense(n_in, 300), nn.ReLU()]
            n_in = 300
        return nn.Sequential(*layers, dense(300, 10))
    if kind == "batch_norm":
        def bn(c):
            # TF's moving = moving * 0.9 + batch * 0.1 is PyTorch's momentum 0.1. TF1's layer keeps the
            # *biased* batch variance in the moving average where PyTorch keeps the unbiased one; at
            # batch 200 the difference (x 200/199) does not matter for speed.
            return nn.BatchNorm1d(c, eps=1e-3, momentum=0.1)
        return nn.Sequential(dense(784, 300), bn(300), nn.ELU(), dense(300, 100), bn(100), nn.ELU(),
                             dense(100, 10), bn(10))
    raise ValueError(kind)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=sorted(MODELS), required=True)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--data", default=mnist_dir())
    a = p.parse_args()
    kind, batch = MODELS[a.model]
    torch.manual_seed(a.seed)
    rng = np.random.RandomState(a.seed)
    (x_train, y_train), (x_val, y_val) = load_mnist(a.data)
    rss_after_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # torch + the dataset
    model = build(kind)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    n = x_train.shape[0]
    times, cpu_times, acc = [], [], 0.0
    for epoch in range(a.epochs):
        model.train()
        c0, t0 = time.process_time(), time.perf_counter()  # process_time: CPU of every thread
        perm = torch.from_numpy(rng.permutation(n))
        for idx in torch.tensor_split(perm, n // batch):  # np.array_split's nearly equal batches
            xb, yb = x_train[idx], y_train[idx]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(xb), yb).backward()
            opt.step()
        seconds = time.perf_counter() - t0
        times.append(seconds)
        cpu_times.append(time.process_time() - c0)
        model.eval()
        with torch.no_grad():
            acc = (model(x_val).argmax(1) == y_val).float().mean().item()
        print(json.dumps({"framework": "pytorch", "model": a.model, "epoch": epoch, "seconds": seconds,
                          "cpu_seconds": cpu_times[-1], "accuracy": acc}), flush=True)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"framework": "pytorch", "model": a.model, "summary": True, "epoch_seconds": times,
                      "epoch_cpu_seconds": cpu_times, "accuracy": acc, "peak_rss_mb": rss_mb,
                      "peak_rss_after_load_mb": rss_after_load, "threads": torch.get_num_threads(),
                      "version": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
