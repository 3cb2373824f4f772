"""CNN trackers as teachers: dense maps and a box for every training pair, on the student's grid.

A ``CnnTeacher`` sees the pair's template and search crops exactly as the student does (after
augmentation, as uint8 pixels) and returns numpy arrays the pair sampler adds to the item:

- ``teacher_score`` (G, G): the teacher's target probability resampled (bilinearly) to the
  student's G x G cells, whose centres sit at (j + 0.5) / G of the crop (a 'ban' student's at
  its points); LightTrack-Mobile's 16 x 16 points sit at j / 16 and NanoTrack v3's 15 x 15 at
  (j - 7) x 16 px from the centre, so both are resampled, not copied;
- ``teacher_size`` (2, G, G) and ``teacher_offset`` (2, G, G): each cell's box from the
  teacher's edge distances (resampled as absolute edges), as a center head's size and offset
  maps, so the dense-to-sparse KL of a token-head student can be built from them;
- ``teacher_box`` (4,): the box at the teacher's peak (cx, cy, w, h in the crop, 0..1), and
  ``teacher_conf``: the peak's probability (guidance is gated on it).

It runs on the fly inside the data workers: each worker process builds its own engine on first
use (OpenVINO and ONNX Runtime sessions are not shared across processes).
"""

from dataclasses import dataclass
import pathlib
from typing import Dict, Optional, Sequence

import cv2
import numpy as np

KINDS = ('lighttrack', 'nanotrack_v3')


@dataclass(frozen=True)
class CnnTeacherConfig:
    """kind: '' (none), 'lighttrack' (LightTrack-Mobile, OpenVINO) or 'nanotrack_v3'.

    folder: its model files (default: the data README's baselines/<kind> folder; NanoTrack v3
    without its ONNX files runs as the network written here, on the shipped weights); threads:
    inference threads per data worker.
    """

    kind: str = ''
    folder: str = ''
    threads: int = 1


def resample(maps: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Bilinear resampling of (C, F, F) maps from grid positions ``src`` to ``dst`` (both axes).

    ``src`` (F,) evenly spaced positions of the maps' rows/columns; ``dst`` (G,) positions
    wanted; outside ``src`` the border values hold.
    """
    t = np.clip((dst - src[0]) / (src[1] - src[0]), 0, len(src) - 1)
    i0 = np.floor(t).astype(int)
    i1 = np.minimum(i0 + 1, len(src) - 1)
    a = (t - i0).astype(maps.dtype)
    rows = maps[:, i0, :] * (1 - a)[None, :, None] + maps[:, i1, :] * a[None, :, None]
    return rows[:, :, i0] * (1 - a)[None, None, :] + rows[:, :, i1] * a[None, None, :]


class CnnTeacher:

    def __init__(self, cfg: CnnTeacherConfig, grid: int, folder: Optional[pathlib.Path] = None,
                 positions: Optional[Sequence[float]] = None):
        """Teach a student whose score map has ``grid`` x ``grid`` cells.

        ``positions``: where its cells sit along either axis (0..1 of the crop; default the
        centres (j + 0.5) / grid, ``ModelConfig.score_positions``).
        """
        if cfg.kind not in KINDS:
            raise ValueError(f'cnn_teacher.kind must be one of {", ".join(KINDS)}, got '
                             f'{cfg.kind!r}')
        from track_core.foreign import siamese
        self.cfg = cfg
        self.grid = grid
        self.folder = pathlib.Path(folder or cfg.folder) if (folder or cfg.folder) else None
        self.settings = siamese.LIGHTTRACK if cfg.kind == 'lighttrack' else siamese.NANOTRACK_V3
        self._engine = None
        s = self.settings
        offsets = (np.arange(s.score_size) - s.score_size // 2) * s.stride
        self.src = (offsets + s.search_size / 2.0) / s.search_size      # normalised positions
        self.dst = (np.arange(grid) + 0.5) / grid if positions is None else \
            np.asarray(positions, np.float64)

    def __getstate__(self):
        state = dict(self.__dict__)
        state['_engine'] = None                 # each process builds its own
        return state

    def load(self) -> None:
        """Build the engine now (raises with the reason when the files or runtime are missing)."""
        self.engine.embed_template(np.zeros((self.settings.template_size,) * 2 + (3,), np.uint8))

    def reset(self) -> None:
        """Drop the engine (a forked data worker builds its own on first use)."""
        self._engine = None

    @property
    def engine(self):
        if self._engine is None:
            from track_core.foreign import siamese
            if self.cfg.kind == 'lighttrack':
                if self.folder is None:
                    raise FileNotFoundError('LightTrack-Mobile needs its folder '
                                            '(cnn_teacher.folder)')
                self._engine = siamese.LightTrackOpenVINO(self.folder, self.cfg.threads)
            elif self.folder is not None and (self.folder / 'nanotrack_head.onnx').is_file():
                self._engine = siamese.NanoTrackV3Onnx(self.folder, self.cfg.threads)
            else:
                import torch
                from track_core.net.nanotrack import load_nanotrack_v3
                torch.set_num_threads(max(1, self.cfg.threads))
                self._engine = siamese.NanoTrackV3Torch(load_nanotrack_v3())
        return self._engine

    def tracker(self):
        """Return a fresh Siamese tracker on this teacher's engine (for pseudo-labelling)."""
        from track_core.foreign.siamese import SiameseTracker
        return SiameseTracker(self.cfg.kind, self.engine, self.settings)

    def __call__(self, template_rgb: np.ndarray, search_rgb: np.ndarray
                 ) -> Dict[str, np.ndarray]:
        s = self.settings
        z = cv2.resize(np.ascontiguousarray(template_rgb[..., ::-1]), (s.template_size,) * 2,
                       interpolation=cv2.INTER_LINEAR)
        x = cv2.resize(np.ascontiguousarray(search_rgb[..., ::-1]), (s.search_size,) * 2,
                       interpolation=cv2.INTER_LINEAR)
        score, ltrb = self.engine.run(self.engine.embed_template(z), x)
        score = np.asarray(score, np.float32)
        ltrb = np.asarray(ltrb, np.float32) / s.search_size
        px, py = np.meshgrid(self.src, self.src)
        edges = np.stack([px - ltrb[0], py - ltrb[1], px + ltrb[2], py + ltrb[3]])
        peak = np.unravel_index(int(np.argmax(score)), score.shape)
        x1, y1, x2, y2 = edges[:, peak[0], peak[1]]
        box = np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], np.float32)
        dense = resample(np.concatenate([score[None], edges]), self.src, self.dst)
        g = self.grid
        cols, rows = np.meshgrid(np.arange(g), np.arange(g))
        cx, cy = (dense[1] + dense[3]) / 2, (dense[2] + dense[4]) / 2
        size = np.stack([dense[3] - dense[1], dense[4] - dense[2]]).clip(1e-3, 1.0)
        offset = np.stack([cx * g - cols, cy * g - rows])
        return {'teacher_score': dense[0].clip(0.0, 1.0).astype(np.float32),
                'teacher_size': size.astype(np.float32),
                'teacher_offset': offset.astype(np.float32),
                'teacher_box': box.clip(0.0, 1.0),
                'teacher_conf': np.float32(score[peak])}
