"""The design matrix of a k sweep, cut so that every prefix problem reads only its own neurons.

With the ks sorted, columns of Z1 = [1, Z] split into blocks at k_1 + 1, k_2 + 1, ...: block i is
read by problems i, i+1, ... and by no other. The weights of all problems then pack into one flat
vector with no padding (block i holds a dense [n_problems - i, width_i] matrix), and a product of
the design with every problem's weights reads each activation exactly once.

Z may also be a stack [F, n, K] of the sweeps of F features (zero rows pad the shorter training
splits): weights are then [F, size] and every product is one batched matmul per block, so a layer's
features share each Python-level step instead of paying it once per feature. All methods work on
an optional leading batch dimension, the same code for one sweep and for a stack.
"""

from __future__ import annotations

import numpy as np
import torch


class PrefixDesign:
    """Blocks of Z1 [(F,) n, max(ks) + 1] and the flat layout of the weights of every prefix
    problem: theta [(F,) size]."""

    def __init__(self, Z, ks: list[int], dtype: torch.dtype, device):
        """Z: one sweep's [n, >= max(ks)], a stack [F, n, >= max(ks)], or a list of F sweeps
        [n_f, >= max(ks)] (stacked block by block, zero rows padding the shorter ones)."""
        if sorted(set(ks)) != list(ks):
            raise ValueError("PrefixDesign needs strictly increasing ks")
        if isinstance(Z, list | tuple):
            self.n, self.batch = max(len(z) for z in Z), (len(Z),)
        else:
            Z = torch.as_tensor(Z)
            self.n, self.batch = Z.shape[-2], tuple(Z.shape[:-2])  # batch: () or (F,)
        self.ks, self.n_problems = list(ks), len(ks)
        bounds = [0, *(k + 1 for k in ks)]
        self.blocks, self.slices = [], []
        owner, intercept, offset = [], [], 0
        for i, (c0, c1) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            block = self._columns(Z, max(c0 - 1, 0), c1 - 1, dtype, device)
            if i == 0:
                ones = torch.ones((*self.batch, self.n, 1), dtype=dtype, device=device)
                block = torch.cat([ones, block], -1)
            rows = self.n_problems - i
            self.blocks.append(block)
            self.slices.append((offset, rows, c1 - c0))
            owner.append(np.repeat(np.arange(i, self.n_problems), c1 - c0))
            is_b = np.zeros((rows, c1 - c0), bool)
            if i == 0:
                is_b[:, 0] = True
            intercept.append(is_b.ravel())
            offset += rows * (c1 - c0)
        self.size = offset
        self.owner = torch.as_tensor(np.concatenate(owner), device=device)
        self.is_intercept = torch.as_tensor(np.concatenate(intercept), device=device)

    def _columns(self, Z, start: int, stop: int, dtype: torch.dtype, device) -> torch.Tensor:
        """Columns start:stop of Z as one contiguous [(F,) n, stop - start] tensor."""
        if not isinstance(Z, list | tuple):
            return Z[..., start:stop].to(device=device, dtype=dtype).contiguous()
        out = torch.zeros((len(Z), self.n, stop - start), dtype=dtype)
        for f, z in enumerate(Z):
            out[f, : len(z)] = torch.as_tensor(np.asarray(z)[:, start:stop])
        return out.to(device)

    def select(self, keep: torch.Tensor) -> PrefixDesign:
        """The same design restricted to the stacked sweeps `keep` (indices into the batch)."""
        out = object.__new__(PrefixDesign)
        out.__dict__.update(self.__dict__)
        out.blocks = [block[keep] for block in self.blocks]
        out.batch = (len(keep),)
        return out

    def view(self, theta: torch.Tensor, i: int) -> torch.Tensor:
        """Block i of the flat weights as [(F,) n_problems - i, width_i]."""
        offset, rows, width = self.slices[i]
        return theta[..., offset : offset + rows * width].unflatten(-1, (rows, width))

    def matvec(self, theta: torch.Tensor) -> torch.Tensor:
        """Logits [(F,) n, n_problems] of every problem: one pass over the activations."""
        shape = (*theta.shape[:-1], self.n, self.n_problems)
        out = torch.zeros(shape, dtype=theta.dtype, device=theta.device)
        for i, block in enumerate(self.blocks):
            out[..., i:] += block @ self.view(theta, i).mT
        return out

    def rmatvec(self, R: torch.Tensor) -> torch.Tensor:
        """Flat Z1^T r_j for every problem j, from residuals R [(F,) n, n_problems]."""
        out = torch.empty((*R.shape[:-2], self.size), dtype=R.dtype, device=R.device)
        for i, block in enumerate(self.blocks):
            # R.T @ block, not block.T @ R: the former is far faster for few problems on CPU
            self.view(out, i).copy_(R[..., i:].mT @ block)
        return out

    def dot(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Per-problem inner products [(F,) n_problems] of two flat vectors."""
        prod = (a * b).double()
        out = torch.zeros((*prod.shape[:-1], self.n_problems), dtype=torch.float64, device=a.device)
        return out.index_add_(-1, self.owner, prod)

    def amax(self, a: torch.Tensor) -> torch.Tensor:
        """Per-problem max |a| [(F,) n_problems]."""
        out = torch.zeros((*a.shape[:-1], self.n_problems), dtype=a.dtype, device=a.device)
        index = self.owner.expand(a.shape)
        return out.scatter_reduce_(-1, index, a.abs(), reduce="amax")

    def expand(self, v: torch.Tensor) -> torch.Tensor:
        """A per-problem scalar [(F,) n_problems] broadcast to the flat layout."""
        return torch.index_select(v, -1, self.owner)  # several times faster than v[..., owner]

    def unpack(self, theta: torch.Tensor) -> list[tuple[np.ndarray, float]]:
        """(coef [k], intercept) per problem, in float64 numpy, of one sweep's theta [size]."""
        blocks = [self.view(theta, i).double().cpu().numpy() for i in range(self.n_problems)]
        fits = []
        for j in range(self.n_problems):
            row = np.concatenate([blocks[i][j - i] for i in range(j + 1)])
            fits.append((row[1:].copy(), float(row[0])))
        return fits
