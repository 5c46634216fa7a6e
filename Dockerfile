# mockllm as a container: `mockllm serve` on port 8000 for apps written in any language.
# Build:  docker build -t mockllm .      (podman build --format docker keeps the HEALTHCHECK)
# Run:    docker run --rm -p 127.0.0.1:8000:8000 -e MOCKLLM_ADMIN_TOKEN=secret mockllm
# Everything else (README "Use from any language"): settings are MOCKLLM_* variables,
# scenario files are mounted at /scenarios.

# The base is a build argument: an official Python image by default; CI builds on one made
# from Debian's packages (debootstrap), as no container registry is reachable there.
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

# Build-only: a CA bundle for pip (mounted by the build, never copied in) and an index.
ARG PIP_CERT=
ARG PIP_INDEX_URL=
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

RUN python3 -m venv /opt/mockllm
ENV PATH=/opt/mockllm/bin:$PATH

# The dependencies first, in a layer keyed on the packaging files alone: a change to the
# source rebuilds in seconds, without reinstalling them. They are read from setup.cfg, so
# the list lives in one place.
WORKDIR /src
COPY setup.cfg pyproject.toml ./
RUN python -c "import configparser; c = configparser.ConfigParser(); c.read('setup.cfg'); print(c['options']['install_requires'])" > /tmp/requirements.txt \
 && pip install ${PIP_CERT:+--cert "$PIP_CERT"} ${PIP_INDEX_URL:+--index-url "$PIP_INDEX_URL"} \
      -r /tmp/requirements.txt setuptools wheel \
 && rm /tmp/requirements.txt

# Then mockllm itself (not editable: the source folder goes once it is installed).
COPY README.md ./
COPY mockllm ./mockllm
COPY schemas ./schemas
COPY scenarios ./scenarios
RUN pip install ${PIP_CERT:+--cert "$PIP_CERT"} --no-deps --no-build-isolation . \
 && rm -rf /src

# Not root: the server needs no privilege, and a mounted folder stays the owner's.
RUN groupadd --system --gid 10001 mockllm \
 && useradd --system --uid 10001 --gid mockllm --create-home --home-dir /home/mockllm mockllm \
 && mkdir /scenarios
USER mockllm
WORKDIR /home/mockllm

# Bound to 0.0.0.0 (the port is published), the control API (/__mockllm/...) answers only
# with MOCKLLM_ADMIN_TOKEN set, as `Authorization: Bearer <token>`. The chat API needs none.
# Scenario files: mount a folder at /scenarios and set MOCKLLM_SCENARIO_PATHS=/scenarios
# (MOCKLLM_RELOAD=true picks up changes while it runs).
ENV PYTHONUNBUFFERED=1 MOCKLLM_HOST=0.0.0.0 MOCKLLM_PORT=8000
EXPOSE 8000

# The probe needs no token and learns nothing but "ok" (503 while the state store is down).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('MOCKLLM_PORT', '8000') + '/__mockllm/health', timeout=2)"]

# mockllm is process 1 and handles SIGTERM itself: `docker stop` ends it at once.
ENTRYPOINT ["mockllm"]
CMD ["serve", "--host", "0.0.0.0"]
