#!/usr/bin/env python3
"""WallFacer's DiT next to PyTorch: a PyTorch module written from the names and shapes of
docs/weights.md.

    python3 tools/dit_torch_check.py weights OUT.h5 --patch-dim 8 --d-model 32 --layers 2 \
        --heads 4 --kv-heads 2 --head-dim 8 --mlp-dim 128 --timestep-dim 32 [--seed 0]
writes the module's PyTorch-initialised state_dict as /params/<name> (float64): a
model.weights_in file.

    python3 tools/dit_torch_check.py check GRADS.h5 --heads H --kv-heads K [--tolerance 1e-9]
loads /params of a gradient dump (model.grads_out) strictly, recomputes the loss on the dump's
inputs (/data/noisy, /data/noise, /data/timestep) in float64 and compares it and every gradient
with /loss and /grads; exits 1 when one differs by more than the tolerance (default 1e-9: a
double run agrees to about 1e-13; use about 1e-3 for a float run).
"""
import argparse
import math
import sys

import h5py
import torch
from torch import nn
import torch.nn.functional as F


def sinusoidal(values, width, cos_first):
    """docs/dit.md: frequencies exp(-ln(10000) j / (width / 2)); cos then sin, or sin then cos."""
    half = width // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half)
    angles = values.to(torch.float64)[:, None] * freqs[None, :]
    parts = (torch.cos(angles), torch.sin(angles)) if cos_first else (torch.sin(angles), torch.cos(angles))
    return torch.cat(parts, dim=1)


def modulate(x, shift, scale):
    return x * (1 + scale) + shift


class Attention(nn.Module):
    def __init__(self, d, heads, kv_heads, head_dim):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
        self.wq = nn.Linear(d, heads * head_dim)
        self.wk = nn.Linear(d, kv_heads * head_dim)
        self.wv = nn.Linear(d, kv_heads * head_dim)
        self.wo = nn.Linear(heads * head_dim, d)

    def forward(self, x):
        n = x.shape[0]
        q = self.wq(x).view(n, self.heads, self.head_dim).transpose(0, 1)
        group = self.heads // self.kv_heads  # query head h reads kv head h // group (repeat_interleave)
        k = self.wk(x).view(n, self.kv_heads, self.head_dim).transpose(0, 1).repeat_interleave(group, dim=0)
        v = self.wv(x).view(n, self.kv_heads, self.head_dim).transpose(0, 1).repeat_interleave(group, dim=0)
        scores = q @ k.transpose(1, 2) / math.sqrt(self.head_dim)
        o = torch.softmax(scores, dim=-1) @ v  # bidirectional
        return self.wo(o.transpose(0, 1).reshape(n, self.heads * self.head_dim))


class Mlp(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, hidden), nn.Linear(hidden, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, d, heads, kv_heads, head_dim, mlp_dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(d, heads, kv_heads, head_dim)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(d, mlp_dim)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))

    def forward(self, x, c):
        shift1, scale1, gate1, shift2, scale2, gate2 = self.adaLN_modulation(c).chunk(6)
        x = x + gate1 * self.attn(modulate(self.norm1(x), shift1, scale1))
        return x + gate2 * self.mlp(modulate(self.norm2(x), shift2, scale2))


class TimestepEmbedder(nn.Module):
    def __init__(self, d, frequencies):
        super().__init__()
        self.frequencies = frequencies
        self.mlp = nn.Sequential(nn.Linear(frequencies, d), nn.SiLU(), nn.Linear(d, d))

    def forward(self, t):
        return self.mlp(sinusoidal(t.reshape(1), self.frequencies, cos_first=True)[0])


class FinalLayer(nn.Module):
    def __init__(self, d, patch_dim):
        super().__init__()
        self.norm_final = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(d, patch_dim)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class DiT(nn.Module):
    """Names and shapes as docs/weights.md; the position embedding is a constant (not saved)."""

    def __init__(self, patch_dim, d, layers, heads, kv_heads, head_dim, mlp_dim, frequencies):
        super().__init__()
        self.x_embedder = nn.Linear(patch_dim, d)
        self.t_embedder = TimestepEmbedder(d, frequencies)
        self.blocks = nn.ModuleList(Block(d, heads, kv_heads, head_dim, mlp_dim) for _ in range(layers))
        self.final_layer = FinalLayer(d, patch_dim)

    def forward(self, x, t):
        positions = torch.arange(x.shape[0], dtype=torch.float64)
        x = self.x_embedder(x) + sinusoidal(positions, self.x_embedder.out_features, cos_first=False)
        c = self.t_embedder(t)  # every adaLN_modulation applies SiLU to it
        for block in self.blocks:
            x = block(x, c)
        return self.final_layer(x, c)


def build(params, heads, kv_heads):
    d, patch_dim = params["x_embedder.weight"].shape
    frequencies = params["t_embedder.mlp.0.weight"].shape[1]
    layers = sum(1 for k in params if k.endswith("attn.wq.weight"))
    head_dim = params["blocks.0.attn.wq.weight"].shape[0] // heads
    mlp_dim = params["blocks.0.mlp.fc1.weight"].shape[0]
    return DiT(patch_dim, d, layers, heads, kv_heads, head_dim, mlp_dim, frequencies).double()


def write_weights(args):
    torch.manual_seed(args.seed)
    model = DiT(args.patch_dim, args.d_model, args.layers, args.heads, args.kv_heads, args.head_dim, args.mlp_dim,
                args.timestep_dim).double()
    with h5py.File(args.out, "w") as f:
        for name, value in model.state_dict().items():
            f["params/" + name] = value.numpy()
    print(f"wrote {args.out}: {len(model.state_dict())} tensors")
    return 0


def check(args):
    with h5py.File(args.grads, "r") as f:
        params = {k: torch.from_numpy(f["params"][k][()]).double() for k in f["params"]}
        grads = {k: torch.from_numpy(f["grads"][k][()]).double() for k in f["grads"]}
        loss_file = float(f["loss"][()])
        noisy = torch.from_numpy(f["data/noisy"][()]).double()
        noise = torch.from_numpy(f["data/noise"][()]).double()
        timestep = torch.tensor(float(f["data/timestep"][()]), dtype=torch.float64)
    model = build(params, args.heads, args.kv_heads)
    model.load_state_dict(params, strict=True)  # a missing, extra or misshapen name fails here
    loss = F.mse_loss(model(noisy, timestep), noise)
    loss.backward()
    worst = abs(loss.item() - loss_file) / abs(loss.item())
    print(f"loss: pytorch {loss.item():.15g}, wallfacer {loss_file:.15g}, relative error {worst:.2e}")
    largest = max(g.norm().item() for g in grads.values())
    for name, p in model.named_parameters():
        # The key biases' gradients vanish in exact arithmetic (softmax is shift-invariant).
        scale = max(p.grad.norm().item(), 1e-6 * largest)
        error = (p.grad - grads[name]).norm().item() / scale
        worst = max(worst, error)
        print(f"{name:40s} |grad| {p.grad.norm().item():.3e}  relative error {error:.2e}")
    ok = worst <= args.tolerance
    print(f"dit_torch_check: {'passed' if ok else 'FAILED'}: worst {worst:.2e}, tolerance {args.tolerance:.1e}")
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    weights = commands.add_parser("weights", help="write PyTorch-initialised weights")
    weights.add_argument("out")
    for name in ("patch-dim", "d-model", "layers", "heads", "kv-heads", "head-dim", "mlp-dim", "timestep-dim"):
        weights.add_argument("--" + name, type=int, required=True)
    weights.add_argument("--seed", type=int, default=0)
    compare = commands.add_parser("check", help="compare a gradient dump with PyTorch")
    compare.add_argument("grads")
    compare.add_argument("--heads", type=int, required=True)
    compare.add_argument("--kv-heads", type=int, required=True)
    compare.add_argument("--tolerance", type=float, default=1e-9)
    args = parser.parse_args()
    return write_weights(args) if args.command == "weights" else check(args)


if __name__ == "__main__":
    sys.exit(main())
