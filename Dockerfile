FROM python:3.11-slim
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir -e . && useradd --system --home /app fireroom \
    && mkdir -p /data && chown fireroom /data
USER fireroom
ENTRYPOINT ["fireroom"]
