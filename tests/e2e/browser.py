"""Headless Chromium for browser tests: Debian's `chromium` and `chromium-driver`, driven by Selenium.

    with open_browser(1200, 800) as driver:      # skips the test when chromium is not installed
        driver.get(url)
        pixels = screenshot(driver, tmp_path / "page.png")   # (H, W, 3) uint8 RGB

Nothing is downloaded at run time: the browser and its driver come from the system (apt-get install
chromium chromium-driver; .ci/run does it), Selenium is told both paths so its manager stays idle.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest


def chromium_paths() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@contextmanager
def open_browser(width: int, height: int, headers: dict | None = None) -> Iterator:
    """A headless Chromium window of width x height CSS pixels; `headers` go with every request."""
    paths = chromium_paths()
    if paths is None:
        reason = "chromium and chromedriver are not installed: apt-get install chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so the browser tests must run)")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={width},{height}", "--force-device-scale-factor=1", "--hide-scrollbars"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(paths[1]), options=options)
    try:
        driver.set_page_load_timeout(60)
        # --window-size counts the window's frame: pin the viewport itself, so pixels are where rects say
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        if headers:
            driver.execute_cdp_cmd("Network.enable", {})
            driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})
        yield driver
    finally:
        driver.quit()


def screenshot(driver, path: Path) -> np.ndarray:
    """Save the viewport as PNG at `path` and return it as (H, W, 3) uint8 RGB, once the page's latest
    changes (a scroll just set from a script, say) are painted: two animation frames on, so the
    capture never shows the frame before them while rects already answer for after."""
    driver.set_script_timeout(30)
    driver.execute_async_script("const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(done))")
    png = base64.b64decode(driver.get_screenshot_as_base64())
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(png)
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def save_for_readme(source: Path, name: str) -> None:
    """With README_SCREENSHOTS=<folder> set, copy a screenshot there (how docs/img/*.png are refreshed)."""
    folder = os.environ.get("README_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, Path(folder) / name)
