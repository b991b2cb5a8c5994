# Label Studio ML backend for video semantic segmentation: web (default CMD) and RQ worker, one image.
#   docker build -t vidseg-backend .                                   # CPU (slim Python, CPU torch)
#   docker build -t vidseg-backend:cuda --build-arg BASE_IMAGE=pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime \
#       --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu124 .   # GPU
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# The CPU index keeps the slim image free of several GB of CUDA libraries.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MODEL_DIR=/data/models \
    PORT=9090

WORKDIR /app

# Dependencies first: this layer is rebuilt only when pyproject.toml changes.
COPY pyproject.toml README.md ./
RUN mkdir -p selection propagation vidseg \
    && touch selection/__init__.py propagation/__init__.py vidseg/__init__.py \
    && pip install --extra-index-url "${TORCH_INDEX_URL}" . \
    && pip uninstall -y vidseg \
    && rm -rf selection propagation vidseg build

# The two cores, the application around them, the web face on top.
COPY selection ./selection
COPY propagation ./propagation
COPY vidseg ./vidseg
COPY model.py _wsgi.py ./
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 vidseg \
    && mkdir -p /data/models \
    && chown -R vidseg:vidseg /data

USER 10001
VOLUME ["/data/models"]
EXPOSE 9090

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '9090') + '/health', timeout=4)"]

# gunicorn drains requests on SIGTERM; its config gives /metrics the totals of all its processes.
# The worker service overrides CMD with `python -m vidseg worker`.
CMD ["gunicorn", "--bind", "0.0.0.0:9090", "--workers", "4", "--threads", "2", "--timeout", "120", "--graceful-timeout", "30", "--config", "python:vidseg.gunicorn_config", "_wsgi:app"]
