"""A round on a video larger than the memory it is allowed completes (issue: long HD videos in
bounded memory).

A child process imports everything and runs a tiny round first (torch, OpenCV and the allocator
take what they keep for the process's life), then caps its own data segment (RLIMIT_DATA: heap and
private anonymous mappings; files read a frame at a time through the page cache do not count) at
what it uses then plus HEADROOM. Then it runs one round through the worker's code path on a video
whose frames alone are larger than HEADROOM: flows cached on disk, `run_round` with its arrays on
disk, every delivered frame fused at full resolution and encoded as Label Studio brush results.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEADROOM_MB = 200
FRAMES, HEIGHT, WIDTH = 100, 720, 1280
SLACK = 1.25
"""The frames exceed the headroom by a quarter: the allocator may keep tens of MB free inside the
data segment after the warm-up (37 MB measured), which an allocation reuses before growing it."""

CHILD = r"""
import json, resource, sys
from pathlib import Path

import numpy as np
import torch

from propagation import DiskArray, NetworkSpec, SparseLabels, on_disk, starting_network
from propagation.training import FinetuneConfig
from selection import FrameUnits
from vidseg.artifacts import cached_flows
from vidseg.engine import RoundConfig, flow_size, labelled_samples, run_round
from vidseg.labelstudio.config import parse_label_config
from vidseg.labelstudio.predictions import frame_results

folder, headroom_mb, n, height, width = Path(sys.argv[1]), int(sys.argv[2]), *map(int, sys.argv[3:6])
torch.set_num_threads(1)
CLASSES = ("ground", "box", "bar")
CONFIG = parse_label_config('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
                            + "".join(f'<Label value="{c}"/>' for c in CLASSES) + "</BrushLabels></View>")
SPEC = NetworkSpec(classes=CLASSES, height=64, width=96)
CONFIG_ROUND = RoundConfig(budget=2, finetune=FinetuneConfig(steps=2, batch_size=2, pairs_per_step=1))


def video(where, n, height, width):
    # A textured background, a box moving right and a thin bar moving down; every 8th frame labelled.
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    frames = DiskArray.create(where / "frames.npy", (n, height, width, 3), np.uint8)
    labels = SparseLabels(n, (height, width))
    for t in range(n):
        label = np.zeros((height, width), np.int16)
        x, y = (t * width) // (2 * n), (t * height) // (2 * n)
        label[height // 4: height // 2, x: x + width // 5] = 1
        label[y: y + 6, :] = 2
        frames[t] = texture // 2 + (label[..., None] * 60).astype(np.uint8)
        if t % 8 == 3:
            labels[t] = label
    return DiskArray.open(where / "frames.npy"), labels


def round_on(where, n, height, width):
    where.mkdir()
    frames, labels = video(where, n, height, width)
    units = FrameUnits(n, height, width)
    flows = cached_flows(where / "flows", frames, flow_size(height, width, 640))
    result = run_round(starting_network(SPEC, seed=0), frames, labels, units, labelled_samples(units, labels),
                       flows, SPEC, CONFIG_ROUND, scratch=on_disk(where / "scratch"))
    tasks = [{"id": t} for t in range(n)]
    return sum(len(entry["result"]) > 0 for entry in frame_results(tasks, CONFIG, units, result.selection, labels,
                                                                  result.delivered))


def data_mb():
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmData:")) / 1024


round_on(folder / "warm-up", 16, 64, 96)  # the shapes the round uses: a batch of 8, frame pairs
limit_mb = data_mb() + headroom_mb
resource.setrlimit(resource.RLIMIT_DATA, (int(limit_mb * 2**20), resource.RLIM_INFINITY))
try:  # the limit is real: the video's frames could not be held at once
    np.ones((n, height, width, 3), np.uint8)
    refused = False
except MemoryError:
    refused = True
delivered = round_on(folder / "video", n, height, width)
print(json.dumps({"limit_mb": limit_mb, "data_mb": data_mb(), "refused": refused, "delivered": delivered}))
"""


def test_a_round_on_a_video_larger_than_its_memory_limit_completes(tmp_path):
    frames_mb = FRAMES * HEIGHT * WIDTH * 3 / 2**20
    assert frames_mb > SLACK * HEADROOM_MB  # the frames alone could not be held in the memory allowed
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), str(HEADROOM_MB), str(FRAMES), str(HEIGHT),
                           str(WIDTH)], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["refused"], "the memory limit did not stop an allocation of the whole video's frames"
    assert outcome["delivered"] == FRAMES  # every frame got a prediction
    assert outcome["data_mb"] <= outcome["limit_mb"]

