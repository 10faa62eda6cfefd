# The web service: Daphne serving Django Channels, with the embedded offline engine.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        espeak-ng sox ffmpeg apertium apertium-eng-spa apertium-eng-cat apertium-en-gl apertium-eo-en \
        apertium-fr-es apertium-spa-ita apertium-es-pt apertium-es-ro \
        curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY captions ./captions
COPY presenter_site ./presenter_site
RUN pip install ".[offline]"
COPY . .

RUN useradd --create-home captions && mkdir -p -m 0700 /app/var && chown captions /app/var
USER captions
ENV CAPTIONS_VAR_DIR=/app/var STATIC_ROOT=/app/var/staticfiles
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
# No --proxy-headers here: Daphne would take X-Forwarded-* from any client. docker-compose.yml
# adds it for the web service, which only its proxy reaches.
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "--websocket-max-message-size", "65536", \
     "--websocket-max-frame-size", "65536", "presenter_site.asgi:application"]
