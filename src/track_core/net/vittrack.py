"""VitTrack's token stems, written here (the network around them is ``OneStreamTracker``).

VitTrack (OpenCV Model Zoo, Apache-2.0; the model behind ``cv2.TrackerVit``) is a one-stream
ViT tracker: each crop goes through its own small convolutional stem (template and search have
separate weights), the tokens of both, with learnt position embeddings, through three joint
attention blocks of width 48 with one head, a final LayerNorm, and an OSTrack center head
(towers 48 -> 32 -> 16 -> 8 -> 4 -> 1x1) on the 16 x 16 search grid. Its BatchNorm layers were
folded into the convolutions before publication, so the stems and the head here have none
(``HeadKind('vit_center')``). ``track-import vittrack`` reads the published ONNX graph into
this layout (``track_core.importers.vittrack``).
"""

from torch import nn

# Channels of the four stride-2 3x3 convolutions: 3 -> 6 -> 12 -> 24 -> width (stride 16).
STEM_CHANNELS = (6, 12, 24)


def conv_stem(dim: int) -> nn.Sequential:
    """Four stride-2 3x3 convolutions to ``dim`` channels, hard-swish between them."""
    layers, cin = [], 3
    for cout in STEM_CHANNELS:
        layers += [nn.Conv2d(cin, cout, 3, 2, 1), nn.Hardswish()]
        cin = cout
    layers.append(nn.Conv2d(cin, dim, 3, 2, 1))
    return nn.Sequential(*layers)


class VitTrackStem(nn.Module):
    """Two conv stems: ``stem(image, template)`` -> (B, dim, H/16, W/16)."""

    def __init__(self, dim: int):
        super().__init__()
        self.template = conv_stem(dim)
        self.search = conv_stem(dim)

    def forward(self, x, template: bool = False):
        return self.template(x) if template else self.search(x)
