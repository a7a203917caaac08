# syntax=docker/dockerfile:1
#
# The reference API image: `docker build -t inventory .` then see docker-compose.yml.
#
# Two stages. The builder turns this source tree into the inventory-core wheel and wheels of every
# dependency of its [http] extra; the runtime stage installs those wheels offline into a virtualenv
# and runs as an unprivileged user. Nothing secret is baked in: every setting (database and Redis
# URLs, cookie policy, ...) comes from INVENTORY_* variables at run time (docs/operations.md).

ARG PYTHON_IMAGE=python:3.11-slim

# ------------------------------------------------------------------------------------------ builder
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# Only what the wheel is made of (.dockerignore keeps the rest of the tree out of the context).
COPY pyproject.toml README.md ./
COPY inventory_core ./inventory_core
COPY inventory_pg ./inventory_pg
COPY inventory_redis ./inventory_redis
COPY inventory_http ./inventory_http

# Our wheel into /dist, then it and every wheel the [http] extra needs into /wheels.
RUN python -m pip wheel --no-deps --wheel-dir /dist . \
 && python -m pip wheel --wheel-dir /wheels "$(ls /dist/inventory_core-*.whl)[http]"

# ------------------------------------------------------------------------------------------ runtime
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="inventory-core" \
      org.opencontainers.image.description="Reference inventory HTTP API (Falcon + gunicorn) on PostgreSQL and Redis" \
      org.opencontainers.image.licenses="MIT"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    INVENTORY_BIND=0.0.0.0:8000

# No system libraries: the [pg] extra's psycopg[binary] wheel brings psycopg's C implementation
# with its own libpq.

# Install from the builder's wheels only (--no-index): no network, no build tools, and the
# wheels themselves never become a layer of this image.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --find-links=/wheels \
        "$(ls /wheels/inventory_core-*.whl)[http]"

RUN groupadd --system --gid 10001 inventory \
 && useradd --system --uid 10001 --gid inventory --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin inventory

WORKDIR /app
# Numeric, so that orchestrators enforcing "run as non-root" can verify it.
USER 10001:10001

EXPOSE 8000

# /healthz answers 200 while the process serves (readiness, with Postgres and Redis, is /readyz).
# slim has no curl: ask with the standard library. The port follows INVENTORY_BIND.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('INVENTORY_BIND', '0.0.0.0:8000').rsplit(':', 1)[-1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]

# Settings come from the environment (INVENTORY_DATABASE_URL, INVENTORY_REDIS_URL, ...);
# INVENTORY_BIND above makes gunicorn listen on every interface of the container.
# Other commands run the same way: `docker run --rm IMAGE inventory migrate`.
CMD ["inventory", "serve"]
