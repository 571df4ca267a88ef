# The Bimbing app. Build with `docker compose build` (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BIMBING_DATA_DIR=/var/lib/bimbing \
    BIMBING_RECORDINGS_DIR=/var/lib/bimbing/recordings

RUN useradd --system --home-dir /var/lib/bimbing --shell /usr/sbin/nologin bimbing \
    && mkdir -p /var/lib/bimbing/recordings && chown -R bimbing:bimbing /var/lib/bimbing

WORKDIR /opt/bimbing
# Dependencies first, so that a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir server && touch server/__init__.py && pip install . && pip uninstall -y bimbing && rm -rf server build *.egg-info
COPY setup.py ./
COPY server ./server
COPY webclient ./webclient
# A plain install: the wheel carries webclient/ as server/webclient (see setup.py).
RUN pip install --no-deps . && rm -rf build *.egg-info

USER bimbing
VOLUME ["/var/lib/bimbing"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD python -c "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"
# Migrate, then serve. SIGTERM (docker stop) closes calls' WebSockets cleanly.
CMD ["sh", "-c", "bimbing db upgrade && exec bimbing serve --host 0.0.0.0 --port 8080"]
