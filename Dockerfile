# Bình dân học AI: one image for the web app and the grading worker.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
RUN python -m venv /venv && /venv/bin/pip install --upgrade pip && /venv/bin/pip install .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PATH=/venv/bin:$PATH ENVIRONMENT=production
# Whose X-Forwarded-For / X-Forwarded-Proto uvicorn believes: only the reverse proxy's
# address (uvicorn reads FORWARDED_ALLOW_IPS itself). Set it to the proxy's address where it
# runs (docker-compose.yml does); never "*", or any client picks its own address.
ENV FORWARDED_ALLOW_IPS=127.0.0.1
RUN useradd --create-home --uid 10001 bdhai
WORKDIR /srv
COPY --from=build /venv /venv
COPY alembic.ini ./
COPY app ./app
COPY migrations ./migrations
COPY static ./static
COPY curriculum ./curriculum
RUN mkdir -p /srv/var && chown bdhai:bdhai /srv/var
USER bdhai
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
# Migrations run once per release (`bdhai migrate`, see docker-compose.yml), not in every replica.
CMD ["uvicorn", "app.main:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers", "--no-server-header", "--workers", "2"]
