"""Brush results: RLE codec against the sdk, round trips, overlap rule, errors, speed."""


import numpy as np
import pytest
from label_studio_sdk.converter.brush import decode_rle, encode_rle, mask2rle

from propagation.labels import UNKNOWN
from vidseg.labelstudio import (
    AnnotationFormatError,
    LabelConfigError,
    decode_rle_values,
    focus_mask_to_results,
    label_map_to_results,
    mask_to_rle,
    parse_label_config,
    results_to_label_map,
)

LABELS = "".join(f'<Label value="{n}"/>' for n in ("Sky", "Road", "Car", "Tree", "Pole"))
CONFIG = parse_label_config(
    f'<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">{LABELS}'
    '<Label value="Bus" alias="B"/></BrushLabels>'
    '<BrushLabels name="focus" toName="image"><Label value="Selected"/></BrushLabels></View>'
)


def region(mask, label, from_name="tag", **extra):
    h, w = mask.shape
    value = {"format": "rle", "rle": mask2rle((mask * 255).astype(np.uint8)), "brushlabels": [label]}
    return {"id": "r" + label, "from_name": from_name, "to_name": "image", "type": "brushlabels",
            "original_width": w, "original_height": h, "image_rotation": 0, "value": value, **extra}


def write_stream(tokens, word=8, sizes=(3, 4, 8, 16)):
    """Reference RLE writer: tokens are (is_run, size_idx, values); a run repeats values[0] n times."""
    num = sum(n for _, _, n, _ in tokens)
    bits = f"{num:032b}{word - 1:05b}" + "".join(f"{s - 1:04b}" for s in sizes)
    for is_run, idx, n, values in tokens:
        bits += f"{is_run:01b}{idx:02b}{n - 1:0{sizes[idx]}b}" + "".join(f"{v:0{word}b}" for v in values)
    bits += "0" * (-len(bits) % 8)
    return [int(bits[i : i + 8], 2) for i in range(0, len(bits), 8)]


def random_tokens(rng, word, sizes=(3, 4, 8, 16)):
    tokens, expected = [], []
    for _ in range(int(rng.integers(1, 60))):
        idx = int(rng.integers(0, 4))
        n = int(rng.integers(1, min(2 ** sizes[idx], 300) + 1))
        is_run = int(rng.integers(0, 2))
        values = rng.integers(0, 2**word, 1 if is_run else n).tolist()
        tokens.append((is_run, idx, n, values))
        expected += values * n if is_run else values
    return tokens, np.array(expected)


def test_mask_to_rle_is_byte_identical_to_sdk_mask2rle():
    rng = np.random.default_rng(0)
    masks = [rng.random((h, w)) < rng.random() for h, w in rng.integers(1, 30, (60, 2))]
    masks += [np.zeros((5, 7), bool), np.ones((300, 300), bool), np.eye(300, dtype=bool)]
    for mask in masks:
        assert mask_to_rle(mask) == mask2rle((mask * 255).astype(np.uint8))


def test_decoder_matches_sdk_and_reference_streams_with_literals():
    rng = np.random.default_rng(1)
    for _ in range(40):
        mask = rng.random(tuple(rng.integers(1, 30, 2))) < 0.5
        rle = mask_to_rle(mask)
        assert np.array_equal(decode_rle_values(rle), decode_rle(rle))
    for word in (8, 8, 4, 12):
        tokens, expected = random_tokens(rng, word)
        rle = write_stream(tokens, word)
        assert np.array_equal(decode_rle_values(rle), expected)
        if word == 8:
            assert np.array_equal(decode_rle(rle), expected)
    # other run-length size classes in the header
    tokens, expected = random_tokens(rng, 8, sizes=(2, 5, 9, 12))
    assert np.array_equal(decode_rle_values(write_stream(tokens, 8, (2, 5, 9, 12))), expected)


def test_round_trip_is_exact_for_random_label_maps_with_unknown():
    rng = np.random.default_rng(2)
    for h, w in [(1, 1), (7, 13), (64, 64), (31, 200)]:
        label_map = rng.integers(UNKNOWN, CONFIG.num_classes, (h, w))
        results = label_map_to_results(label_map, CONFIG)
        assert len(results) == len(set(label_map[label_map >= 0].tolist()))
        assert np.array_equal(results_to_label_map(results, CONFIG, h, w), label_map)


def test_result_shape_and_interop_with_the_sdk_decoder():
    label_map = np.full((4, 6), UNKNOWN)
    label_map[1:3, 2:5] = 2
    (result,) = label_map_to_results(label_map, CONFIG)
    assert {k: v for k, v in result.items() if k != "value"} == {
        "from_name": "tag", "to_name": "image", "type": "brushlabels",
        "original_width": 6, "original_height": 4, "image_rotation": 0}
    assert result["value"]["format"] == "rle" and result["value"]["brushlabels"] == ["Car"]
    alpha = decode_rle(result["value"]["rle"]).reshape(4, 6, 4)[:, :, 3]
    assert np.array_equal(alpha, (label_map == 2) * 255)
    custom = label_map_to_results(label_map, CONFIG, from_name="other", to_name="img2")[0]
    assert (custom["from_name"], custom["to_name"]) == ("other", "img2")


def test_one_class_and_all_unknown():
    assert label_map_to_results(np.full((8, 8), UNKNOWN), CONFIG) == []
    (result,) = label_map_to_results(np.full((8, 8), 4), CONFIG)
    assert result["value"]["brushlabels"] == ["Pole"]
    assert (results_to_label_map([result], CONFIG, 8, 8) == 4).all()
    assert (results_to_label_map([], CONFIG, 8, 8) == UNKNOWN).all()


def test_later_region_wins_where_strokes_overlap():
    a, b = np.zeros((6, 6), bool), np.zeros((6, 6), bool)
    a[:, :4], b[:, 2:] = True, True
    first = results_to_label_map([region(a, "Sky"), region(b, "Road")], CONFIG, 6, 6)
    assert (first[:, 2:] == 1).all() and (first[:, :2] == 0).all()
    swapped = results_to_label_map([region(b, "Road"), region(a, "Sky")], CONFIG, 6, 6)
    assert (swapped[:, :4] == 0).all() and (swapped[:, 4:] == 1).all()


def test_antialiased_stroke_alpha_counts_and_alias_is_read():
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[1, 1:3] = (255, 0, 0, 128)  # a half-transparent stroke edge
    result = region(np.zeros((3, 4), bool), "B")
    result["value"]["rle"] = encode_rle(rgba.ravel().astype(int))
    label_map = results_to_label_map([result], CONFIG, 3, 4)
    assert (label_map[1, 1:3] == 5).all() and (label_map == 5).sum() == 2


def test_other_controls_types_and_unlabelled_regions_are_skipped():
    mask = np.ones((4, 4), bool)
    results = [
        region(mask, "Selected", from_name="focus"),
        {"from_name": "tag", "to_name": "image", "type": "rectanglelabels",
         "value": {"x": 0, "y": 0, "width": 50, "height": 50, "rectanglelabels": ["Car"]}},
        {**region(mask, "Sky"), "value": {**region(mask, "Sky")["value"], "brushlabels": []}},
    ]
    assert (results_to_label_map(results, CONFIG, 4, 4) == UNKNOWN).all()


def test_label_not_in_config_names_it_and_lists_known_labels():
    with pytest.raises(AnnotationFormatError, match=r"label 'Bicycle'.*known labels: 'Sky', 'Road', 'Car'"):
        results_to_label_map([region(np.ones((2, 2), bool), "Bicycle")], CONFIG, 2, 2)
    several = region(np.ones((2, 2), bool), "Sky")
    several["value"]["brushlabels"] = ["Sky", "Road"]
    with pytest.raises(AnnotationFormatError, match="several labels"):
        results_to_label_map([several], CONFIG, 2, 2)


def test_size_mismatch_rescales_same_aspect_and_rejects_others():
    small = np.zeros((3, 4), bool)
    small[1, 2] = True
    label_map = results_to_label_map([region(small, "Car")], CONFIG, 6, 8)  # drawn at half size
    expected = np.full((6, 8), UNKNOWN)
    expected[2:4, 4:6] = 2
    assert np.array_equal(label_map, expected)
    with pytest.raises(AnnotationFormatError, match="4x3 image but the frame is 5x3"):
        results_to_label_map([region(small, "Car")], CONFIG, 3, 5)


@pytest.mark.parametrize(
    "rle", [[1, 2, 3], [0, 0, 0, 200, 7, 39, 255, 8], "abc", [[1, 2]], [1.5] * 8, [300] * 8, []]
)
def test_undecodable_rle_is_an_annotation_format_error(rle):
    result = region(np.ones((2, 2), bool), "Sky")
    result["value"]["rle"] = rle
    with pytest.raises(AnnotationFormatError, match="result #0 id='rSky'"):
        results_to_label_map([result], CONFIG, 2, 2)


def test_rle_of_the_wrong_length_is_rejected():
    result = region(np.ones((2, 2), bool), "Sky")
    result["value"]["rle"] = mask_to_rle(np.ones((3, 3), bool))
    with pytest.raises(AnnotationFormatError, match="holds 36 values, expected 2x2x4 = 16"):
        results_to_label_map([result], CONFIG, 2, 2)


def test_bad_label_map_values_are_rejected():
    with pytest.raises(ValueError, match=r"values \[-3, 6\]"):
        label_map_to_results(np.array([[0, -3], [6, UNKNOWN]]), CONFIG)
    with pytest.raises(ValueError, match="int array"):
        label_map_to_results(np.zeros((2, 2), np.float32), CONFIG)


def test_focus_mask_round_trip_and_config_check():
    mask = np.zeros((5, 5), bool)
    mask[1:3, 2:5] = True
    (result,) = focus_mask_to_results(mask, CONFIG)
    assert (result["from_name"], result["value"]["brushlabels"]) == ("focus", ["Selected"])
    assert focus_mask_to_results(np.zeros((5, 5), bool), CONFIG) == []
    frame_config = parse_label_config('<View><Image name="image" value="$image"/>'
                                      f'<BrushLabels name="tag" toName="image">{LABELS}</BrushLabels></View>')
    with pytest.raises(LabelConfigError, match="needs a focus brush"):
        focus_mask_to_results(mask, frame_config)


def test_a_busy_1080p_map_of_ten_classes_round_trips():
    rng = np.random.default_rng(3)
    blocks = rng.integers(0, 10, (68, 120))  # 16 px blocks: far busier than real label maps
    label_map = np.kron(blocks, np.ones((16, 16), np.int64))[:1080, :1920]
    config = parse_label_config('<View><Image name="image" value="$image"/><BrushLabels name="tag" '
                                'toName="image">' + "".join(f'<Label value="c{i}"/>' for i in range(10)) +
                                "</BrushLabels></View>")
    results = label_map_to_results(label_map, config)
    assert len(results) == 10
    assert np.array_equal(results_to_label_map(results, config, 1080, 1920), label_map)
