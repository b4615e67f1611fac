# One image for every GridTwin process: `gridtwin gateway`, `gridtwin serve`,
# `gridtwin sim`, `gridtwin db migrate`, ... (see docker-compose.yml).
# Settings come from GRIDTWIN_* environment variables or --config FILE.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
# Every dependency ships binary wheels for this platform: no compiler needed.
RUN pip install /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --create-home --home-dir /var/lib/gridtwin gridtwin
USER gridtwin
# The working directory holds the default SQLite store (sqlite:///gridtwin.db).
WORKDIR /var/lib/gridtwin
EXPOSE 8080
ENTRYPOINT ["gridtwin"]
CMD ["--help"]
