"""Label Studio formats: label config, brush masks, key points, focus regions, request bodies.

Pure modules (numpy and the standard library): no HTTP, no Redis, no torch.
"""

from .brush import (
    AnnotationFormatError,
    decode_brush_mask,
    decode_rle_values,
    focus_mask_to_results,
    label_map_to_results,
    mask_to_rle,
    results_to_label_map,
)
from .config import LabelConfig, LabelConfigError, parse_label_config
from .payloads import (
    HANDLED_ACTIONS,
    PayloadError,
    PredictRequest,
    SetupRequest,
    WebhookEvent,
    parse_frame_name,
    parse_predict,
    parse_setup,
    parse_webhook,
    project_id_of,
    video_and_frame,
)
from .points import (
    keypoints_to_sparse_labels,
    points_to_results,
    rectangle_results_to_mask,
    rectangles_to_results,
)

__all__ = [
    "HANDLED_ACTIONS",
    "AnnotationFormatError",
    "LabelConfig",
    "LabelConfigError",
    "PayloadError",
    "PredictRequest",
    "SetupRequest",
    "WebhookEvent",
    "decode_brush_mask",
    "decode_rle_values",
    "focus_mask_to_results",
    "keypoints_to_sparse_labels",
    "label_map_to_results",
    "mask_to_rle",
    "parse_frame_name",
    "parse_label_config",
    "parse_predict",
    "parse_setup",
    "parse_webhook",
    "points_to_results",
    "project_id_of",
    "rectangle_results_to_mask",
    "rectangles_to_results",
    "results_to_label_map",
    "video_and_frame",
]
