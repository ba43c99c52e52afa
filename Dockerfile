# augment serve: the HTTP API and the studio, as a non-root service.
#
#   docker build -t augment-serve .
#   docker run --rm -p 8765:8765 -e AUGMENT_TOKEN=$(python -c 'import secrets; print(secrets.token_urlsafe(24))') \
#       -v "$PWD/datasets:/data:ro" -v augment-jobs:/jobs augment-serve
#
# The token comes from the environment (AUGMENT_TOKEN, 16+ characters): the service listens on 0.0.0.0 inside the
# container and refuses to start without one. Datasets are read from /data (mount it read-only; it is the data
# root named "data"), jobs are written to /jobs. Give other data roots as arguments after the
# image name (they replace the default), e.g. `... augment-serve --data-root data=/data --data-root more=/more`.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.cfg README.md CHANGELOG.md ./
COPY augment ./augment
RUN pip install --no-cache-dir build && python -m build --wheel --outdir /dist .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# WordNet for the synonym ops (Apertium for back-translation is left out: add apertium apertium-eng-spa if needed)
RUN apt-get update \
    && apt-get install -y --no-install-recommends wordnet-base wordnet-sense-index \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /dist/*.whl /tmp/
# CPU torch for the eval and search jobs the service runs; then the service, eval, COCO and HF extras
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch torchvision \
    && WHEEL=$(ls /tmp/augment_pipelines-*.whl) \
    && pip install "${WHEEL}[serve,eval,coco,hf]" \
    && rm /tmp/*.whl
RUN useradd --create-home --uid 10001 augment && mkdir -p /data /jobs && chown augment /jobs
USER augment
ENV AUGMENT_CACHE_DIR=/home/augment/.cache/augment
VOLUME ["/data", "/jobs"]
EXPOSE 8765
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD python -c "import os, urllib.request; \
req = urllib.request.Request('http://127.0.0.1:8765/v1/health', headers={'Authorization': 'Bearer ' + os.environ.get('AUGMENT_TOKEN', '')}); \
urllib.request.urlopen(req, timeout=4)"
ENTRYPOINT ["augment", "serve", "--host", "0.0.0.0", "--port", "8765", "--jobs-root", "/jobs"]
CMD ["--data-root", "data=/data"]
