# churn-serving: the churn model behind its HTTP server, as Elastic Beanstalk's Docker platform builds it.
# Build: podman build -t churn-serving .   (or docker build; `make container-test` builds and checks it)
FROM python:3.11-slim

# Keep equal to PIPENV_VERSION in scripts/lib.sh (tests/system/test_deploy_config.py checks).
ARG PIPENV_VERSION=2026.10.3
# The Pipfile's source is "${PIP_INDEX_URL}", so no registry host is committed. Elastic Beanstalk
# runs a plain `docker build`: without this build-arg the index is pip's own configured one, else
# pip's default.
ARG PIP_INDEX_URL=

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=9696

WORKDIR /app

# Dependencies first, so that a code change reuses this layer. pipenv runs from a throw-away
# virtualenv and is removed in the same layer: only the lock's [packages] stay in the image, what the
# service and the worker import (no scikit-learn, SciPy or Arrow: the service reads the model's fitted
# attributes without scikit-learn); every one a wheel: nothing is compiled. --deploy stops the build when Pipfile.lock is out of date with
# the Pipfile. The local stand-in base image (Debian's python3) carries a PEP 668 marker; the official
# one does not.
COPY Pipfile Pipfile.lock ./
RUN rm -f /usr/lib/python3*/EXTERNALLY-MANAGED \
    && PIP_INDEX_URL="${PIP_INDEX_URL:-$(pip config get global.index-url 2>/dev/null \
        || python -c 'from pip._internal.models.index import PyPI; print(PyPI.simple_url)')}" \
    && export PIP_INDEX_URL \
    && python -m venv /tmp/pipenv \
    && /tmp/pipenv/bin/pip install --quiet "pipenv==${PIPENV_VERSION}" \
    && PIPENV_VERBOSITY=-1 /tmp/pipenv/bin/pipenv install --deploy --system \
    && rm -rf /tmp/pipenv /root/.cache

# The service runs as an unprivileged user that owns nothing it could overwrite.
# (a uid above the system range, so it matches no host account; --no-log-init keeps lastlog small)
RUN groupadd --gid 10001 churn \
    && useradd --no-log-init --uid 10001 --gid churn --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin churn

# The base image's standard library comes without bytecode (the official python images delete every
# .pyc, and the local stand-in does as they do): under PYTHONDONTWRITEBYTECODE every process would
# compile the ~170 modules it imports again at each start (docs/performance.md, "Start-up").
# (site-packages too, but for the installers, which the service never imports: pip compiled what it
# installed, and compileall skips what is up to date.)
RUN python -c 'import compileall, os, re, site, sysconfig; \
skip = re.compile(r"/(test|tests|idlelib|tkinter|turtledemo|lib2to3|pip|setuptools|pkg_resources)/"); \
folders = [d for d in (sysconfig.get_path("stdlib"), *site.getsitepackages()) if os.path.isdir(d)]; \
raise SystemExit(not all([compileall.compile_dir(d, quiet=1, rx=skip, workers=0) for d in folders]))'

COPY churn/ churn/
# worker.py: the same image runs the RQ worker, as its own container (docker-compose.yml) or beside the
# API in this one (supervise.py, CHURN_EMBEDDED_WORKERS: how Elastic Beanstalk runs it)
COPY churn_serving.py worker.py supervise.py churn-model.bin churn-model.json ./
COPY churn-model.html ./
# Bytecode compiled once here: PYTHONDONTWRITEBYTECODE (and a read-only /app for uid 10001) would
# otherwise make every process compile the project's modules again at start-up.
RUN python -m compileall -q churn churn_serving.py worker.py supervise.py

USER 10001:10001
EXPOSE 9696

# Healthy means /readyz answers (the model loaded and its golden self-test passed) and every embedded
# worker is running; python's urllib needs no extra package.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "supervise.py", "--check"]

# supervise.py execs `python churn_serving.py`, so the server is PID 1 (SIGTERM: it finishes requests in
# flight within CHURN_GRACEFUL_TIMEOUT and exits 0), unless CHURN_EMBEDDED_WORKERS asks for RQ workers
# beside it: then supervise.py stays PID 1, restarts a worker that exits and passes SIGTERM on.
ENTRYPOINT ["python", "supervise.py"]
