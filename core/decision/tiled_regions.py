"""Connected regions of a mask that is seen tile by tile, joined across the tiles' seams.

The network's veto is judged by regions of the prior's change (decision.confirmation), but a large scene
is scored tile by tile and never held whole. Each tile's core is labelled on its own (8-connected) and
its regions' sums kept; the labels along the core's four edges are kept too, and at the end the regions
that touch across a seam (also diagonally) are joined, so that a region's sums do not depend on where
the tiles cut it. A tile's mask labelled again (`joined_ids`) names each pixel's joined region, so that a
verdict on whole regions can be written back tile by tile.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..raster.grid import TOUCHING


class TiledRegions:
    """Per-region sums of per-pixel values over a mask given one tile core at a time."""

    def __init__(self) -> None:
        self._count = 0                                  # regions labelled so far, over all tiles
        self._sums: dict[str, list[np.ndarray]] = defaultdict(list)
        self._tops: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)     # row -> (col, labels)
        self._bottoms: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
        self._lefts: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)    # col -> (row, labels)
        self._rights: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
        self._firsts: list[tuple[int, int]] = []         # per tile added: (first region id, its region count)
        self._region: np.ndarray | None = None           # joined region of every region id, once asked
        self._joined_sums: dict[str, np.ndarray] | None = None   # `sums()`, once asked

    def add(self, mask: np.ndarray, at: tuple[int, int], **values: np.ndarray) -> None:
        """One tile core: `mask` (rows, cols) with its top-left pixel at `at` (row, col) of the scene, and the
        per-pixel values to sum over each region (same shape)."""
        labels, count = ndimage.label(mask, structure=TOUCHING)
        self._firsts.append((self._count, count))
        self._region, self._joined_sums = None, None
        for name, value in values.items():
            sums = np.bincount(labels.ravel(), weights=value.ravel(), minlength=count + 1)[1:]
            self._sums[name].append(sums.astype(np.float32))   # exact for counts: a tile holds under 2^24 pixels
        ids = np.where(labels > 0, labels - 1 + self._count, -1)
        self._count += count
        row, col = at   # the edges copied: a view would hold the tile's whole id image (8 MB a 1024² tile)
        self._tops[row].append((col, ids[0].copy()))
        self._bottoms[row + ids.shape[0] - 1].append((col, ids[-1].copy()))
        self._lefts[col].append((row, ids[:, 0].copy()))
        self._rights[col + ids.shape[1] - 1].append((row, ids[:, -1].copy()))

    def _joined(self) -> np.ndarray:
        """The joined region of every region id (joined regions numbered from 0)."""
        if self._region is None:
            pairs = [*_touching(self._bottoms, self._tops), *_touching(self._rights, self._lefts)]
            first = np.concatenate([a for a, _ in pairs]) if pairs else np.zeros(0, int)
            second = np.concatenate([b for _, b in pairs]) if pairs else np.zeros(0, int)
            graph = coo_matrix((np.ones(first.size), (first, second)), shape=(self._count, self._count))
            self._region = connected_components(graph, directed=False)[1]
        return self._region

    def sums(self) -> dict[str, np.ndarray]:
        """Each value's sum per joined region, indexed as `joined_ids` numbers them."""
        if self._joined_sums is None:
            region = self._joined()
            joined = int(region.max()) + 1 if region.size else 0
            self._joined_sums = {name: np.bincount(region, weights=np.concatenate(parts), minlength=joined)
                                 for name, parts in self._sums.items()}
        return self._joined_sums

    def tile_regions(self, tile: int) -> np.ndarray:
        """The joined regions that the `tile`-th core added holds (one entry per region labelled in it)."""
        first, count = self._firsts[tile]
        return self._joined()[first:first + count]

    def joined_ids(self, mask: np.ndarray, tile: int) -> np.ndarray:
        """The joined region of each pixel of the `tile`-th core added (−1 outside the mask): `mask` must be the
        mask that was added for it, labelled again rather than kept, so that no whole-scene label image is held."""
        first, count = self._firsts[tile]
        labels, again = ndimage.label(mask, structure=TOUCHING)
        if again != count:
            raise ValueError(f"tile {tile}: {again} regions labelled again, {count} added")
        region = self._joined()
        return np.where(labels > 0, region[np.maximum(labels - 1 + first, 0)] if region.size else -1, -1)


def _touching(ends: dict, starts: dict):
    """Pairs of region ids facing each other across each seam: the last line of the cores before it and the
    first line of the cores after it, each laid out along the whole seam, joined straight and diagonally."""
    for line, before in ends.items():
        after = starts.get(line + 1)
        if not after:
            continue
        length = max(offset + ids.size for offset, ids in before + after)
        a, b = np.full(length + 2, -1), np.full(length + 2, -1)   # one pixel of padding at each end
        for offset, ids in before:
            a[offset + 1:offset + 1 + ids.size] = ids
        for offset, ids in after:
            b[offset + 1:offset + 1 + ids.size] = ids
        for shift in (-1, 0, 1):
            near = np.roll(b, shift)
            both = (a >= 0) & (near >= 0)
            yield a[both], near[both]
