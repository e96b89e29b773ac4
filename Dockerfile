# One image for every role of the collector cluster: collector/control workers, beat, Flower,
# the registry CLI and the OKX simulator (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONPATH=/app

WORKDIR /app

# Dependencies first, so that code changes do not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p collectors tasks storage && touch beat_schedule.py \
    && pip install --upgrade pip \
    && pip install -e . \
    && rm -rf collectors tasks storage beat_schedule.py

COPY . .
RUN pip install --no-deps -e . \
    && useradd --create-home --uid 10001 app \
    && mkdir -p /data/logs /data/spill /data/flower \
    && chown -R app:app /data

# Celery refuses nothing as root, but warns: run as an unprivileged user.
USER app
VOLUME ["/data"]
CMD ["celery", "-A", "tasks.app", "worker", "-Q", "collectors", "-n", "collectors@%h", "-l", "info"]
