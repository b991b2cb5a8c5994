"""How good are labels carried along the optical flow, by distance from the labelled frame?

    .venv/bin/python benchmarks/bench_warp_distance.py

On the CamVid clip, with every 10th / 20th frame labelled, prints coverage, pixel accuracy and mIoU
of the carried labels at each distance, with chains carried through occlusions or stopped there
(`drop_occluded`). This is the evidence behind carrying through occlusions (at reduced weight, `propagation.fusion`).
"""

from pathlib import Path

import numpy as np

from propagation import compute_flows, propagate_labels
from propagation.labels import UNKNOWN
from vidseg.simulation.dataset import CAMVID_CLASSES, load_video
from vidseg.simulation.metrics import label_quality

CAMVID = Path(__file__).resolve().parents[2] / "shared" / "data" / "camvid"


def main() -> None:
    video = load_video(CAMVID / "val", CAMVID / "valannot", ignore_index=11, class_names=CAMVID_CLASSES)
    flows = compute_flows(video.frames)
    for step in (10, 20):
        human = np.full(video.labels.shape, UNKNOWN, np.int16)
        human[step // 2::step] = video.labels[step // 2::step]
        for drop in (False, True):
            warped, distance = propagate_labels(human, flows, drop_occluded=drop)
            for d in (1, 2, 3, 5, 8, 10):
                chosen = distance == d
                if not chosen.any():
                    continue
                quality = label_quality(np.where(chosen, warped, UNKNOWN), np.where(chosen, video.labels, UNKNOWN),
                                        video.n_classes)
                print(f"every {step:2}th frame labelled, stop at occlusions={drop!s:5} distance {d:2}: "
                      f"coverage {100 * chosen.mean():4.1f}%, pixel acc {100 * quality['pixel_accuracy']:.1f}, "
                      f"mIoU {100 * quality['miou']:.1f}")


if __name__ == "__main__":
    main()
