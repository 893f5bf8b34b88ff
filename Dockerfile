# One image for every role: `factory worker`, `factory adapter ingest|commands`, `factory sim`.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/factory
COPY pyproject.toml README.md ./
COPY factory_app ./factory_app
COPY agents ./agents
COPY tables ./tables
COPY adapters ./adapters
RUN /opt/factory/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 factory
COPY --from=build /opt/factory /opt/factory
COPY config /app/config
WORKDIR /app
ENV PATH=/opt/factory/bin:$PATH FACTORY_HOME=/app/data FACTORY_PLANT_CONFIG=/app/config/plant.yaml
RUN mkdir -p /app/data /app/snapshots && chown factory /app/data /app/snapshots
USER factory
# Workers answer /ready/ once their tables are recovered; the adapters set FACTORY_HEALTH_URL
# to their /metrics page (docker-compose.yml); the simulated plant disables the check.
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s \
  CMD python -c "import os,urllib.request; urllib.request.urlopen(os.environ.get('FACTORY_HEALTH_URL','http://127.0.0.1:6066/ready/'))" || exit 1
ENTRYPOINT ["factory"]
CMD ["--help"]
