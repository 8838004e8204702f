# The conformance suite as an image. On Linux, run it as yourself, so the reports it writes into your
# mounted folder are yours and it may write there at all (the image's own user, uid 10001, cannot
# write into a folder owned by your uid):
#   docker run --rm --user "$(id -u):$(id -g)" -e CONFORMANCE_API_KEY -v "$PWD:/work" IMAGE \
#     run goat --base-url https://staging.example.com/v1 --report-dir reports
# Any uid works: HOME and the caches are in /tmp, writable by every user; nothing else is written
# outside /work. Docker Desktop (macOS, Windows) maps file ownership itself: --user is not needed there.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache

# What the build needs (pyproject.toml names README.md, the package and the bundled specs); nothing else.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY conformance ./conformance
COPY specs ./specs
RUN pip install . && rm -rf /src

# An unprivileged default user: the suite needs no root. `--user "$(id -u):$(id -g)"` replaces it (above).
RUN useradd --no-create-home --home-dir /tmp --uid 10001 conformance
USER conformance
WORKDIR /work

ENTRYPOINT ["conformance"]
CMD ["--help"]
