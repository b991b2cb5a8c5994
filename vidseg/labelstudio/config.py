"""Label config parsing: which tags of a Label Studio config the backend reads and writes.

One task per video frame: an ``<Image>`` shows the frame and one ``<BrushLabels>`` on it holds
the classes; class id = position of the ``<Label>`` in the config. Granularity is chosen by
optional extra controls on the same image:

- **focus control** (rectangle and superpixel granularity): a control named ``focus`` (the
  ``focus_name`` argument) with one ``<Label>``, e.g. "Selected". Predictions show each region
  the annotator should label as a region of that control: a ``<RectangleLabels>`` rectangle for
  rectangle samples, a ``<BrushLabels>`` mask for superpixels (they are not rectangles). The
  annotator paints classes with the class brush; only class pixels inside the focus regions of
  the submitted annotation count as human labels. The focus label is not a class.
- **key points** (pixel granularity): a ``<KeyPointLabels>`` whose labels are class names (a
  subset, same spelling); each clicked point labels one pixel.

A ``Label`` may carry ``alias``: Label Studio writes the alias into results when there is one,
so results are read by value or alias; predictions are written with the value. Attributes
such as ``background`` are ignored.

Frame granularity (the whole submitted mask is ground truth)::

    <View>
      <Image name="image" value="$image" zoom="true"/>
      <BrushLabels name="tag" toName="image">
        <Label value="Sky" background="#808080"/>
        <Label value="Road" background="#800080"/>
        <Label value="Car" background="#400080"/>
      </BrushLabels>
    </View>

Rectangle granularity (a focus rectangle around each selected sample)::

    <View>
      <Image name="image" value="$image" zoom="true"/>
      <BrushLabels name="tag" toName="image">
        <Label value="Sky" background="#808080"/>
        <Label value="Road" background="#800080"/>
        <Label value="Car" background="#400080"/>
      </BrushLabels>
      <RectangleLabels name="focus" toName="image">
        <Label value="Selected" background="#FFFF00"/>
      </RectangleLabels>
    </View>

Superpixel granularity (a focus brush mask over each selected superpixel)::

    <View>
      <Image name="image" value="$image" zoom="true"/>
      <BrushLabels name="tag" toName="image">
        <Label value="Sky" background="#808080"/>
        <Label value="Road" background="#800080"/>
        <Label value="Car" background="#400080"/>
      </BrushLabels>
      <BrushLabels name="focus" toName="image">
        <Label value="Selected" background="#FFFF00"/>
      </BrushLabels>
    </View>

Pixel granularity (key points label single pixels; the brush stays for corrections)::

    <View>
      <Image name="image" value="$image" zoom="true"/>
      <BrushLabels name="tag" toName="image">
        <Label value="Sky" background="#808080"/>
        <Label value="Road" background="#800080"/>
        <Label value="Car" background="#400080"/>
      </BrushLabels>
      <KeyPointLabels name="points" toName="image" strokeWidth="3">
        <Label value="Sky" background="#808080"/>
        <Label value="Road" background="#800080"/>
        <Label value="Car" background="#400080"/>
      </KeyPointLabels>
    </View>
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

FOCUS_TYPES = ("rectanglelabels", "brushlabels")


class LabelConfigError(ValueError):
    """The label config lacks something the backend needs; the message says what to change."""


@dataclass(frozen=True)
class LabelConfig:
    """What the backend needs from a label config. Names are the tags' ``name`` attributes."""

    image_name: str
    image_value: str
    """Task data field of the image, without ``$`` (``"image"`` for ``value="$image"``)."""
    brush_name: str
    class_names: tuple[str, ...]
    """Label values in config order; class id = position."""
    class_aliases: tuple[str | None, ...] = ()
    keypoint_name: str | None = None
    keypoint_labels: tuple[str, ...] = ()
    keypoint_aliases: tuple[str | None, ...] = ()
    focus_name: str | None = None
    focus_type: str | None = None
    """``"rectanglelabels"`` (rectangle granularity) or ``"brushlabels"`` (superpixel granularity)."""
    focus_label: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_id(self, label: str) -> int | None:
        """Class id of a result label (value or alias), None if the config has no such label."""
        for i, name in enumerate(self.class_names):
            if label == name or (i < len(self.class_aliases) and label == self.class_aliases[i]):
                return i
        return None

    def keypoint_class_id(self, label: str) -> int | None:
        """Class id of a key point result label (value or alias of a ``<KeyPointLabels>`` label)."""
        for i, name in enumerate(self.keypoint_labels):
            if label == name or (i < len(self.keypoint_aliases) and label == self.keypoint_aliases[i]):
                return self.class_names.index(name)
        return None


def _tag(el: ET.Element) -> str:
    return el.tag.lower() if isinstance(el.tag, str) else ""


def _points_at(el: ET.Element, image_name: str) -> bool:
    return image_name in [n.strip() for n in el.get("toName", "").split(",")]


def _labels(control: ET.Element) -> tuple[tuple[str, ...], tuple[str | None, ...]]:
    """(values, aliases) of a control's ``<Label>`` children, checked for blanks and clashes."""
    where = f"<{control.tag} name=\"{control.get('name')}\">"
    values: list[str] = []
    aliases: list[str | None] = []
    for label in control.iter():
        if _tag(label) != "label":
            continue
        value = label.get("value")
        if not value:
            raise LabelConfigError(f"a <Label> in {where} has no value: write <Label value=\"ClassName\"/>")
        if value in values:
            raise LabelConfigError(f"duplicate label {value!r} in {where}: keep one <Label value={value!r}/>")
        values.append(value)
        aliases.append(label.get("alias") or None)
    for value, alias in zip(values, aliases, strict=True):
        # results carry the alias, so it must name one label only
        if alias and alias != value and (alias in values or aliases.count(alias) > 1):
            raise LabelConfigError(f"alias {alias!r} of label {value!r} in {where} names another label too")
    return tuple(values), tuple(aliases)


def parse_label_config(xml: str, focus_name: str | None = "focus") -> LabelConfig:
    """Parse a Label Studio label config; raise :class:`LabelConfigError` saying what to change.

    ``focus_name`` names the focus control (rectangle/superpixel granularity); None disables it.
    """
    if not isinstance(xml, str) or not xml.strip():
        raise LabelConfigError("the label config is empty: it must be the project's XML, starting with <View>")
    try:
        root = ET.fromstring(xml.strip())
    except ET.ParseError as exc:
        line, column = exc.position
        reason = str(exc).rsplit(": line", 1)[0]
        raise LabelConfigError(
            f"the label config is not well-formed XML ({reason}): fix it at line {line}, column {column}"
        ) from None
    elements = list(root.iter())

    images = [el for el in elements if _tag(el) == "image"]
    if not images:
        raise LabelConfigError('the label config has no <Image>: add <Image name="image" value="$image"/>')
    image_names = [el.get("name", "") for el in images]

    focus = None
    if focus_name:
        focus = next((el for el in elements if el.get("name") == focus_name and _tag(el) != "image"), None)
    brushes = [el for el in elements if _tag(el) == "brushlabels" and el is not focus]
    brushes_on_image = [el for el in brushes if any(_points_at(el, n) for n in image_names if n)]
    if not brushes_on_image:
        hint = ""
        if brushes:
            other = brushes[0]
            hint = f' (<BrushLabels name="{other.get("name")}"> points at toName="{other.get("toName")}")'
        elif focus is not None and _tag(focus) == "brushlabels":
            hint = f' (<BrushLabels name="{focus_name}"> is the focus control, not the classes)'
        raise LabelConfigError(
            f"no <BrushLabels> pointing at the image{hint}: add <BrushLabels name=\"tag\" "
            f"toName=\"{image_names[0] or 'image'}\"> with one <Label value=\"...\"/> per class"
        )
    if len(brushes_on_image) > 1:
        names = ", ".join(repr(el.get("name")) for el in brushes_on_image)
        raise LabelConfigError(
            f"several <BrushLabels> point at the image ({names}): keep one for the classes"
            + (f" and name the focus control {focus_name!r}" if focus_name else "")
        )
    brush = brushes_on_image[0]
    brush_name = brush.get("name")
    if not brush_name:
        raise LabelConfigError('the <BrushLabels> has no name: add name="tag"')
    image = next(el for el in images if el.get("name") and _points_at(brush, el.get("name")))
    image_name = image.get("name")
    value = image.get("value", "")
    if not value.startswith("$") or len(value) < 2:
        raise LabelConfigError(
            f"<Image name=\"{image_name}\"> value must name a task data field, e.g. value=\"$image\" "
            f"(got {value!r})"
        )
    class_names, class_aliases = _labels(brush)
    if not class_names:
        raise LabelConfigError(
            f"<BrushLabels name=\"{brush_name}\"> has no <Label>: add one <Label value=\"...\"/> per class"
        )

    keypoint_name, kp_labels, kp_aliases = None, (), ()
    keypoints = [el for el in elements if _tag(el) == "keypointlabels" and _points_at(el, image_name)]
    if len(keypoints) > 1:
        raise LabelConfigError("several <KeyPointLabels> point at the image: keep one")
    if keypoints:
        keypoint_name = keypoints[0].get("name")
        if not keypoint_name:
            raise LabelConfigError('the <KeyPointLabels> has no name: add name="points"')
        kp_labels, kp_aliases = _labels(keypoints[0])
        for label in kp_labels:
            if label not in class_names:
                raise LabelConfigError(
                    f"key point label {label!r} is not a class of <BrushLabels name=\"{brush_name}\"> "
                    f"(classes: {', '.join(map(repr, class_names))}): spell it as one of them or remove it"
                )

    focus_type = focus_label = None
    if focus is not None:
        focus_type = _tag(focus)
        if focus_type not in FOCUS_TYPES:
            raise LabelConfigError(
                f"the focus control <{focus.tag} name=\"{focus_name}\"> must be a <RectangleLabels> "
                "(rectangle granularity) or a <BrushLabels> (superpixel granularity)"
            )
        if not _points_at(focus, image_name):
            raise LabelConfigError(
                f'the focus control "{focus_name}" must point at the image: toName="{image_name}"'
            )
        focus_values, _ = _labels(focus)
        if not focus_values:
            raise LabelConfigError(
                f'the focus control "{focus_name}" has no <Label>: add <Label value="Selected"/>'
            )
        focus_label = focus_values[0]

    return LabelConfig(
        image_name=image_name,
        image_value=value[1:],
        brush_name=brush_name,
        class_names=class_names,
        class_aliases=class_aliases,
        keypoint_name=keypoint_name,
        keypoint_labels=kp_labels,
        keypoint_aliases=kp_aliases,
        focus_name=focus_name if focus is not None else None,
        focus_type=focus_type,
        focus_label=focus_label,
    )
