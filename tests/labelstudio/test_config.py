"""Label config parsing: the documented examples, aliases, the focus control, every error."""

import re
import textwrap

import pytest

from vidseg.granularities import granularity_of
from vidseg.labelstudio import LabelConfigError, config, parse_label_config

CLASSES = '<Label value="Sky" background="#808080"/><Label value="Road"/><Label value="Car" background="red"/>'


def view(*controls: str, image: str = '<Image name="image" value="$image"/>') -> str:
    return f"<View>{image}{''.join(controls)}</View>"


def brush(name: str = "tag", to: str = "image", labels: str = CLASSES) -> str:
    return f'<BrushLabels name="{name}" toName="{to}">{labels}</BrushLabels>'


def documented_examples() -> list[str]:
    return [textwrap.dedent(block) for block in re.findall(r"::\n\n((?:    .*\n|\n)+)", config.__doc__)]


def test_each_documented_example_parses_to_its_granularity():
    examples = documented_examples()
    assert len(examples) == 4
    parsed = [parse_label_config(xml) for xml in examples]
    assert [granularity_of(c).name for c in parsed] == ["frame", "rectangle", "superpixel", "pixel"]
    for c in parsed:
        assert (c.image_name, c.image_value, c.brush_name) == ("image", "image", "tag")
        assert c.class_names == ("Sky", "Road", "Car") and c.num_classes == 3
    assert parsed[0].focus_name is None and parsed[0].keypoint_name is None
    assert (parsed[1].focus_name, parsed[1].focus_type, parsed[1].focus_label) == (
        "focus", "rectanglelabels", "Selected")
    assert (parsed[2].focus_name, parsed[2].focus_type, parsed[2].focus_label) == ("focus", "brushlabels", "Selected")
    assert parsed[3].keypoint_name == "points" and parsed[3].keypoint_labels == ("Sky", "Road", "Car")


def test_label_studio_style_config_with_comment_data_and_extra_tags():
    xml = """
    <View>
      <Header value="Paint every pixel"/>
      <Image name="frame" value="$img" zoomControl="true"/>
      <BrushLabels name="classes" toName="frame">
        <Label value="Road" background="rgba(128, 64, 128, 0.7)"/>
        <Label value="Car" alias="C" background="#400080"/>
      </BrushLabels>
      <Choices name="quality" toName="frame"><Choice value="blurry"/></Choices>
    </View>
    <!-- {"data": {"img": "/data/local-files/?d=a_1.png"}} -->
    """
    c = parse_label_config(xml)
    assert (c.image_name, c.image_value, c.brush_name) == ("frame", "img", "classes")
    assert c.class_names == ("Road", "Car") and c.class_aliases == (None, "C")
    assert c.class_id("Car") == 1 and c.class_id("C") == 1 and c.class_id("Road") == 0
    assert c.class_id("Sky") is None


def test_focus_control_name_is_a_parameter():
    rect = '<RectangleLabels name="ask" toName="image"><Label value="Please label"/></RectangleLabels>'
    c = parse_label_config(view(brush(), rect), focus_name="ask")
    assert (c.focus_name, c.focus_type, c.focus_label, granularity_of(c).name) == (
        "ask", "rectanglelabels", "Please label", "rectangle")
    assert parse_label_config(view(brush(), rect)).focus_name is None  # default name "focus" absent


def test_focus_disabled_makes_a_second_brush_ambiguous():
    xml = documented_examples()[2]
    with pytest.raises(LabelConfigError, match="several <BrushLabels>.*'tag', 'focus'"):
        parse_label_config(xml, focus_name=None)


def test_keypoints_with_alias_map_to_classes():
    kp = '<KeyPointLabels name="kp" toName="image"><Label value="Car" alias="c"/><Label value="Sky"/></KeyPointLabels>'
    c = parse_label_config(view(brush(), kp))
    assert c.keypoint_labels == ("Car", "Sky")
    assert c.keypoint_class_id("c") == 2 and c.keypoint_class_id("Car") == 2 and c.keypoint_class_id("Sky") == 0
    assert c.keypoint_class_id("Road") is None


def test_brush_with_several_target_names():
    c = parse_label_config(view(brush(to="other, image")))
    assert c.image_name == "image"


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<View>" + brush() + "</View>", r'has no <Image>: add <Image name="image" value="\$image"/>'),
        (view(), "no <BrushLabels> pointing at the image"),
        (view(brush(to="picture")), 'no <BrushLabels> pointing at the image .*toName="picture"'),
        (view(brush(labels=CLASSES + '<Label value="Car"/>')), "duplicate label 'Car'"),
        (view(brush(labels="")), "has no <Label>"),
        (view(brush(labels='<Label background="red"/>')), "has no value"),
        (view(brush(labels='<Label value="A" alias="B"/><Label value="B"/>')), "alias 'B' of label 'A'"),
        (view(brush(), image='<Image name="image" value="image"/>'), r'value="\$image"'),
        (view(brush(), brush(name="second")), "several <BrushLabels>"),
        (view(brush(), '<KeyPointLabels name="kp" toName="image"><Label value="Bus"/></KeyPointLabels>'),
         "key point label 'Bus' is not a class"),
        (view(brush(), '<Choices name="focus" toName="image"><Choice value="x"/></Choices>'),
         "must be a <RectangleLabels>"),
        (view(brush(), '<RectangleLabels name="focus" toName="image"></RectangleLabels>'),
         'add <Label value="Selected"/>'),
        (view(brush(), '<RectangleLabels name="focus" toName="elsewhere"><Label value="S"/></RectangleLabels>'),
         "must point at the image"),
        (view('<BrushLabels name="focus" toName="image"><Label value="S"/></BrushLabels>'),
         "is the focus control, not the classes"),
    ],
)
def test_errors_say_what_to_change(xml, message):
    with pytest.raises(LabelConfigError, match=message):
        parse_label_config(xml)


def test_malformed_xml_reports_the_parser_position():
    with pytest.raises(LabelConfigError, match=r"not well-formed XML \(mismatched tag\).*line 2, column 2"):
        parse_label_config('<View><Image name="image" value="$image">\n</View>')
    assert issubclass(LabelConfigError, ValueError)
    with pytest.raises(LabelConfigError, match="is empty"):
        parse_label_config("  ")
