"""The trained detector applied to a tile: change probability at pixel resolution."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..integer.loss import probability_128
from .dual_vgg import Spec, quantise_input


class Detector:
    def __init__(self, net, spec: Spec, integer: bool) -> None:
        self.net, self.spec, self.integer = net, spec, integer
        self.context = spec.context

    def predict(self, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        """Normalised (bands, h, w) tiles -> P(changed) float32 (h, w); the only float step of an int8 run."""
        h, w = x1.shape[1:]
        s = self.spec.scale
        pad = (0, (-w) % s, 0, (-h) % s)
        t1 = F.pad(torch.from_numpy(np.nan_to_num(x1, nan=0.0))[None], pad)
        t2 = F.pad(torch.from_numpy(np.nan_to_num(x2, nan=0.0))[None], pad)
        with torch.no_grad():
            if self.integer:
                prob = probability_128(self.net.forward(quantise_input(t1), quantise_input(t2))).float() / 128
            else:
                prob = torch.softmax(self.net(t1, t2), dim=1)[:, 1]
        prob = F.interpolate(prob[:, None], scale_factor=s, mode="bilinear", align_corners=False)[0, 0]
        return prob[:h, :w].numpy().astype(np.float32)
