"""`make demo` / `python -m vidseg.demo`: a local Label Studio, the backend and a project to open in a browser.

    clip.py          the video to label: the one named, else a short generated clip
    label_studio.py  a Label Studio 1.23.2 process with the settings the backend needs
    run.py           starts everything, sets the project up, waits for Ctrl-C, stops everything
"""
