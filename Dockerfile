# Backout: the Slack bot (`backout serve`) in a small image.
# Build: docker build -t backout .
# Run:   docker run -e SLACK_BOT_TOKEN=xoxb-… -e SLACK_SIGNING_SECRET=… \
#          -e BACKOUT_DATABASE_URL=postgresql+psycopg://… -v $PWD/backout.yaml:/app/backout.yaml:ro \
#          -p 3000:3000 backout
#
# The base image is named by tag here: resolve it to a digest before a release build with
# `scripts/pin-base-image` (it rewrites both FROM lines to python:3.11-slim@sha256:…; it needs
# Docker or crane and the registry, which the development machines do not reach).
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
# Dependencies from the lock only, each checked against its hash; then Backout without resolving.
COPY requirements.lock ./
RUN pip install --no-cache-dir --prefix=/install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY planners ./planners
COPY integrations ./integrations
COPY prompts ./prompts
RUN pip install --no-cache-dir --prefix=/install --no-deps .

FROM ${PYTHON_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends graphviz \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 backout
COPY --from=build /install /usr/local
WORKDIR /app
USER backout
ENV BACKOUT_DATABASE_URL=sqlite:////app/data/backout.db
RUN mkdir -p /app/data
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=4)"]
ENTRYPOINT ["backout"]
CMD ["serve", "--host", "0.0.0.0", "--port", "3000"]
