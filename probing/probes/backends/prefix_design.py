"""The design matrix of a k sweep, cut so that every prefix problem reads only its own neurons.

With the ks sorted, columns of Z1 = [1, Z] split into blocks at k_1 + 1, k_2 + 1, ...: block i is
read by problems i, i+1, ... and by no other. The weights of all problems then pack into one flat
vector with no padding (block i holds a dense [n_problems - i, width_i] matrix), and a product of
the design with every problem's weights reads each activation exactly once.
"""

from __future__ import annotations

import numpy as np
import torch


class PrefixDesign:
    """Blocks of Z1 [n, max(ks) + 1] and the flat layout of the weights of every prefix problem."""

    def __init__(self, Z: np.ndarray, ks: list[int], dtype: torch.dtype, device: str):
        if sorted(set(ks)) != list(ks):
            raise ValueError("PrefixDesign needs strictly increasing ks")
        self.ks, self.n_problems, self.n = list(ks), len(ks), Z.shape[0]
        bounds = [0, *(k + 1 for k in ks)]
        self.blocks, self.slices = [], []
        owner, intercept, offset = [], [], 0
        for i, (c0, c1) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            cols = np.ascontiguousarray(Z[:, max(c0 - 1, 0) : c1 - 1])
            block = torch.as_tensor(cols, device=device).to(dtype)
            if i == 0:
                block = torch.cat([torch.ones((self.n, 1), dtype=dtype, device=device), block], 1)
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

    def view(self, theta: torch.Tensor, i: int) -> torch.Tensor:
        """Block i of the flat weights as [n_problems - i, width_i]."""
        offset, rows, width = self.slices[i]
        return theta[offset : offset + rows * width].view(rows, width)

    def matvec(self, theta: torch.Tensor) -> torch.Tensor:
        """Logits [n, n_problems] of every problem: one pass over the activations."""
        out = torch.zeros((self.n, self.n_problems), dtype=theta.dtype, device=theta.device)
        for i, block in enumerate(self.blocks):
            out[:, i:] += block @ self.view(theta, i).T
        return out

    def rmatvec(self, R: torch.Tensor) -> torch.Tensor:
        """Flat Z1^T r_j for every problem j, from residuals R [n, n_problems]."""
        out = torch.empty(self.size, dtype=R.dtype, device=R.device)
        for i, block in enumerate(self.blocks):
            # R.T @ block, not block.T @ R: the former is far faster for few problems on CPU
            self.view(out, i).copy_(R[:, i:].T @ block)
        return out

    def dot(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Per-problem inner products [n_problems] of two flat vectors."""
        out = torch.zeros(self.n_problems, dtype=torch.float64, device=a.device)
        return out.index_add_(0, self.owner, (a * b).double())

    def amax(self, a: torch.Tensor) -> torch.Tensor:
        """Per-problem max |a| [n_problems]."""
        out = torch.zeros(self.n_problems, dtype=a.dtype, device=a.device)
        return out.scatter_reduce_(0, self.owner, a.abs(), reduce="amax")

    def expand(self, v: torch.Tensor) -> torch.Tensor:
        """A per-problem scalar [n_problems] broadcast to the flat layout."""
        return v[self.owner]

    def unpack(self, theta: torch.Tensor) -> list[tuple[np.ndarray, float]]:
        """(coef [k], intercept) per problem, in float64 numpy."""
        blocks = [self.view(theta, i).double().cpu().numpy() for i in range(self.n_problems)]
        fits = []
        for j in range(self.n_problems):
            row = np.concatenate([blocks[i][j - i] for i in range(j + 1)])
            fits.append((row[1:].copy(), float(row[0])))
        return fits
