# Backout as a container. Today it runs the command line (`backout plan …`); the Slack bot's
# `backout serve` and its healthcheck arrive with the bot (see the open issues).
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends graphviz \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 backout
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY planners ./planners
COPY integrations ./integrations
COPY prompts ./prompts
RUN pip install --no-cache-dir .
USER backout
ENTRYPOINT ["backout"]
CMD ["--help"]
