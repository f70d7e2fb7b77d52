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

# Leading blocks narrower than this merge into one group, multiplied as one dense matrix whose
# entries past a problem's k are zero: the paper's ks 1-8, 10, 12, 16 are 11 blocks of 1-4
# columns, each a matmul and a few index ops per pass, where one 17-column product costs less
# than their Python overhead (measured: the N=4000, d=4096, 15-k sweep of
# benchmarks.vs_transformer_lens solved ~1.3x faster).
GROUP_WIDTH = 32


class PrefixDesign:
    """Groups of columns of Z1 [(F,) n, max(ks) + 1] and the flat layout of the weights of every
    prefix problem: theta [(F,) size]."""

    def __init__(
        self, Z, ks: list[int], dtype: torch.dtype, device, group_width: int = GROUP_WIDTH
    ):
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
        bounds = [0, *(k + 1 for k in ks)]  # block i: columns bounds[i]:bounds[i + 1] of Z1
        block_of_column = np.repeat(np.arange(self.n_problems), np.diff(bounds))
        self.blocks, self.groups = [], []
        problem_parts: list[np.ndarray] = []
        column_parts: list[np.ndarray] = []
        offset = 0
        for b0, b1 in _group_blocks(bounds, group_width):
            c0, c1 = bounds[b0], bounds[b1]
            problems = np.arange(b0, self.n_problems)[:, None]
            columns = np.arange(c0, c1)[None, :]
            valid = block_of_column[columns] <= problems  # [rows, width]: problem reads column
            index = np.flatnonzero(valid)
            dense = bool(valid.all())
            block = self._columns(Z, max(c0 - 1, 0), c1 - 1, dtype, device)
            if c0 == 0:
                ones = torch.ones((*self.batch, self.n, 1), dtype=dtype, device=device)
                block = torch.cat([ones, block], -1)
            self.blocks.append(block)
            self.groups.append(
                _Group(
                    b0,
                    offset,
                    valid.shape,
                    None if dense else torch.as_tensor(index, device=device),
                )
            )
            problem_parts.append(np.broadcast_to(problems, valid.shape)[valid])
            column_parts.append(np.broadcast_to(columns, valid.shape)[valid])
            offset += len(index)
        self.size = offset
        problem_of, column_of = np.concatenate(problem_parts), np.concatenate(column_parts)
        self.owner = torch.as_tensor(problem_of, device=device)
        # One gather places every group's weights in its dense [rows, width] matrix (index
        # `size` reads the zero appended to theta), one index_select takes the flat weights
        # back out of the groups' dense products: two ops per product instead of a few per group.
        dense_at = np.cumsum([0] + [g.shape[0] * g.shape[1] for g in self.groups])
        places, takes = [], []
        for group, at in zip(self.groups, dense_at, strict=False):
            count = group.shape[0] * group.shape[1]
            index = np.arange(count) if group.index is None else group.index.cpu().numpy()
            place = np.full(count, self.size)
            place[index] = group.offset + np.arange(group.count)
            places.append(place)
            takes.append(at + index)
        self.dense_at = dense_at.tolist()
        self.gather = torch.as_tensor(np.concatenate(places), device=device)
        self.take = torch.as_tensor(np.concatenate(takes), device=device)
        # member[i, j] = 1 where flat entry i belongs to problem j: per-problem sums are products
        self.member = torch.zeros((self.size, self.n_problems), dtype=dtype, device=device)
        self.member[torch.arange(self.size, device=device), self.owner] = 1
        self.member64 = self.member.double()
        self.is_intercept = torch.as_tensor(column_of == 0, device=device)
        order = np.lexsort((column_of, problem_of))  # by problem, then column
        self.entries = np.split(
            order, np.cumsum(np.bincount(problem_of, minlength=self.n_problems))[:-1]
        )

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

    def matvec(self, theta: torch.Tensor) -> torch.Tensor:
        """Logits [(F,) n, n_problems] of every problem: one pass over the activations."""
        dense = torch.nn.functional.pad(theta, (0, 1)).index_select(-1, self.gather)
        out = None
        for group, block, at in zip(self.groups, self.blocks, self.dense_at, strict=False):
            W = dense[..., at : at + group.shape[0] * group.shape[1]].unflatten(-1, group.shape)
            part = block @ W.mT
            if out is None:  # the first group is read by every problem
                out = part
            else:
                out[..., group.first :] += part
        assert out is not None
        return out

    def rmatvec(self, R: torch.Tensor) -> torch.Tensor:
        """Flat Z1^T r_j for every problem j, from residuals R [(F,) n, n_problems]."""
        # R.T @ block, not block.T @ R: the former is far faster for few problems on CPU
        parts = [
            (R[..., group.first :].mT @ block).flatten(-2)
            for group, block in zip(self.groups, self.blocks, strict=True)
        ]
        return torch.cat(parts, -1).index_select(-1, self.take)

    def dot(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Per-problem inner products [..., n_problems] of flat vectors, in their dtype."""
        return (a * b) @ self.member

    def dot64(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """dot, summed in float64."""
        return (a * b).double() @ self.member64

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
        flat = theta.double().cpu().numpy()
        return [(flat[idx[1:]].copy(), float(flat[idx[0]])) for idx in self.entries]


class _Group:
    """Consecutive blocks multiplied together: read by problems `first`.. (rows), their weights
    at flat[offset : offset + count]; `index` places them in the dense [rows, width] matrix
    (None: every entry is a weight, the layout is the matrix itself)."""

    def __init__(self, first: int, offset: int, shape: tuple[int, int], index):
        self.first, self.offset, self.shape, self.index = first, offset, shape, index
        self.count = shape[0] * shape[1] if index is None else len(index)


def _group_blocks(bounds: list[int], width: int) -> list[tuple[int, int]]:
    """(first, stop) ranges of consecutive blocks, each group at most `width` columns wide
    unless a single block is wider."""
    groups, first = [], 0
    for i in range(1, len(bounds) - 1):  # may block i join the group that starts at `first`?
        if bounds[i + 1] - bounds[first] > width:
            groups.append((first, i))
            first = i
    groups.append((first, len(bounds) - 1))
    return groups
