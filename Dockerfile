# digest: the always-on service (`digest serve`). See compose.yaml.
# A pinned tag, so a rebuild next month gets the same Python and Debian (bump it on purpose).
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# ca-certificates: httpx2 and SMTP use the OS trust store (truststore). tzdata: the schedule's timezone
# (the slim image has none). Non-interactive, so tzdata's configuration never waits for a prompt.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /build
COPY pyproject.toml README.md ./
COPY digest ./digest
COPY prompts ./prompts
COPY templates ./templates
# A regular install, not editable: the wheel carries prompts/ and templates/ inside the package.
RUN pip install . && rm -rf /build

RUN useradd --system --uid 10001 --create-home --home-dir /home/digest digest \
    && mkdir -p /data \
    && chown digest:digest /data
USER digest
WORKDIR /data
# state_dir (SQLite, archive, heartbeat); a new named volume takes this directory's owner.
VOLUME ["/data"]

# Healthy while `digest serve` writes its heartbeat (state_dir/heartbeat.json); `docker run ... digest now`
# one-shots have none, which only matters to whoever watches their health.
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 CMD ["digest", "status", "--check"]

STOPSIGNAL SIGTERM
CMD ["digest", "serve"]
